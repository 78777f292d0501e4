"""Delivery: hand rendered digests to a mail server (SMTP) or to Slack (incoming webhooks).

Thin, blocking adapters with three outcomes the outbox acts on: a result (sent), a
`TransientDeliveryError` (retry later) or a `PermanentDeliveryError` (park and report).
The senders live in `monitor.deliver.email` and `monitor.deliver.slack`.
"""

from monitor.deliver.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["DeliveryError", "PermanentDeliveryError", "TransientDeliveryError"]
