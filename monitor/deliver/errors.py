"""What a delivery attempt can end in, besides success: retry later, or give up and report.

The outbox decides by class alone: `TransientDeliveryError` means back off and try again (at
the earliest after `retry_after` when the peer said so); `PermanentDeliveryError` means park
the delivery as failed, because trying again cannot help until an operator changes something.
Messages name the peer but never carry a password or a webhook's secret path.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class DeliveryError(MonitorError):
    """A message could not be handed to the mail server or Slack.

    `peer` is a display name safe to log ("smtp.example.org:587", or a masked webhook URL).
    `sent` counts the messages of a multi-message delivery (Slack) that the peer accepted
    before this failure, counted from the `start` the sender was given: the caller resumes at
    ``start + sent`` so nothing already accepted is sent twice.
    """

    def __init__(self, message: str, *, peer: str | None = None, sent: int = 0) -> None:
        super().__init__(message)
        self.peer = peer
        self.sent = sent


class TransientDeliveryError(DeliveryError):
    """Worth retrying later with backoff: the peer is down, slow, busy or said "try later"."""

    retry_after: float | None = None  # seconds, when the peer said (Slack's 429 Retry-After)

    def __init__(self, message: str, *, peer: str | None = None, sent: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(message, peer=peer, sent=sent)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: bad credentials, a removed webhook, a rejected message, TLS trouble."""
