"""Post a digest to Slack through an incoming webhook: several messages, in order, each once.

slack-sdk's `WebhookClient` does the HTTP exchange, with its retry handlers switched off and
its logger silenced: retrying is the outbox's job (the SDK would re-POST after a dropped
connection, which can post a message twice), and the SDK's debug log prints the webhook URL,
which is a secret — anyone holding it can post to the channel. We only ever show
`mask_webhook(url)`.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from monitor.deliver.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

logger = logging.getLogger(__name__)

# A logger outside the logging tree, so nothing the SDK says reaches the application's handlers.
_SDK_LOGGER = logging.Logger("monitor.deliver.slack.sdk", level=logging.CRITICAL + 1)  # noqa: LOG001
_SDK_LOGGER.addHandler(logging.NullHandler())
_SDK_LOGGER.propagate = False

# What Slack's error bodies mean for the operator (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks/).
_ERROR_HINTS = {
    "invalid_payload": "Slack could not read the message, a bug in the digest's Slack rendering",
    "no_text": "the message had no text, a bug in the digest's Slack rendering",
    "invalid_token": "the webhook's token is no longer valid; create a new webhook",
    "no_service": "the webhook was disabled or removed; create a new one and update the subscription",
    "no_service_id": "the webhook URL is incomplete; copy it again from Slack",
    "no_team": "the webhook URL is incomplete; copy it again from Slack",
    "team_disabled": "the Slack workspace was disabled",
    "channel_not_found": "the webhook's channel was deleted; create a webhook for another channel",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or create a webhook elsewhere",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to that channel; pick another one",
    "user_not_found": "the webhook's direct-message user no longer exists; create a new webhook",
}
_STATUS_HINTS = {
    400: "Slack rejected the message as malformed",
    403: "Slack forbids posting with this webhook; check the app's permissions",
    404: "the webhook no longer exists; create a new one and update the subscription",
    410: "the webhook's channel is gone; create a new webhook",
}


@dataclass(frozen=True)
class SlackResult:
    """How many messages Slack accepted, counted from the `start` given to `send_slack`."""

    sent: int


def mask_webhook(url: str) -> str:
    """Return the webhook URL safe for display: scheme, host and the last 4 characters only.

    ``https://hooks.slack.com/services/T0/B0/XXXXabcd`` → ``https://hooks.slack.com/…/abcd``.
    The path is the secret; a short path is hidden entirely, and any user:password is dropped.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(unparsable webhook URL)"
    if not parts.scheme or not host:
        return "(invalid webhook URL)"
    where = f"[{host}]" if ":" in host else host
    if port is not None:
        where += f":{port}"
    path = parts.path.rstrip("/")
    tail = path[-4:] if len(path) >= 16 else ""  # 4 of 16+ characters gives little away
    return f"{parts.scheme}://{where}/…/{tail}" if tail else f"{parts.scheme}://{where}/…"


def send_slack(webhook_url: str, payloads: Sequence[Mapping[str, Any]], *, start: int = 0,
               timeout: float = 15.0) -> SlackResult:
    """POST ``payloads[start:]`` to the webhook in order, one request each; return how many went.

    Any 2xx counts as accepted (Slack answers 200 "ok"). On the first failure, nothing more is
    sent and the raised error's `sent` says how many of ``payloads[start:]`` were accepted, so
    the caller resumes at ``start + sent``. Raises:

    - `TransientDeliveryError` on 429 (with `retry_after` from Retry-After), 408, 5xx, timeouts
      and connection failures. A timeout after the request went out is ambiguous: Slack may
      have posted that one message, and there is no idempotency key to ask it;
    - `PermanentDeliveryError` on other 4xx (400 invalid_payload, 403 action_prohibited,
      404 no_service, 410 channel_is_archived ...), redirects, TLS verification failures and
      malformed webhook URLs.

    Raises `ValueError` before sending anything if `start` is out of range or a payload is not
    a non-empty JSON object. Blocking: run it in a worker thread from async code.
    """
    if not 0 <= start <= len(payloads):
        raise ValueError(f"start={start} is outside 0..{len(payloads)}")
    todo = [dict(payload) for payload in payloads[start:]]
    for index, payload in enumerate(todo, start):
        if not payload:
            raise ValueError(f"Slack payload {index} is empty")
        json.dumps(payload)  # raises TypeError/ValueError now rather than after earlier posts
    peer = f"Slack webhook {mask_webhook(webhook_url)}"
    parts = urlsplit(webhook_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise PermanentDeliveryError(f"{peer} is not an https:// URL; check the subscription's webhook",
                                     peer=peer)
    client = WebhookClient(webhook_url, timeout=timeout,  # type: ignore[arg-type]  # urllib takes float
                           logger=_SDK_LOGGER, retry_handlers=[])
    sent = 0
    for payload in todo:
        progress = f"at message {start + sent + 1} of {len(payloads)}"
        try:
            response = client.send_dict(payload)
        except (SlackRequestError, OSError, http.client.HTTPException) as exc:
            raise _transport_error(exc, webhook_url, peer, sent, progress) from None
        if not 200 <= response.status_code < 300:
            raise _status_error(response, webhook_url, peer, sent, progress)
        if response.body.strip() != "ok":
            logger.warning("%s answered %d %r instead of \"ok\"; counting the message as posted",
                           peer, response.status_code, _scrub(response.body[:100], webhook_url))
        sent += 1
    logger.info("posted %d Slack message(s) to %s", sent, peer)
    return SlackResult(sent=sent)


def _transport_error(exc: Exception, url: str, peer: str, sent: int, progress: str) -> DeliveryError:
    reason: object = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(exc, SlackRequestError):
        return PermanentDeliveryError(f"{peer}: {_scrub(str(exc), url)}; check the subscription's webhook",
                                      peer=peer, sent=sent)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"TLS certificate of {peer} failed verification ({reason.verify_message}) {progress}; "
            "check the system's CA certificates or an intercepting proxy", peer=peer, sent=sent)
    if isinstance(reason, TimeoutError):
        return TransientDeliveryError(f"{peer} timed out {progress}; will retry", peer=peer, sent=sent)
    text = _scrub(str(reason), url) or type(reason).__name__
    return TransientDeliveryError(f"request to {peer} failed ({text}) {progress}; will retry", peer=peer, sent=sent)


def _status_error(response: WebhookResponse, url: str, peer: str, sent: int, progress: str) -> DeliveryError:
    status = response.status_code
    body = _scrub(" ".join(str(response.body or "").split())[:200], url)
    said = f"{status} {body}".strip()
    if status == 429:
        retry_after = _retry_after(response.headers)
        when = f"retry after {retry_after:g}s" if retry_after is not None else "will retry"
        return TransientDeliveryError(f"{peer} is rate limiting us ({said}) {progress}; {when}",
                                      peer=peer, sent=sent, retry_after=retry_after)
    if status >= 500 or status == 408:
        return TransientDeliveryError(f"{peer} answered {said} {progress}; will retry", peer=peer, sent=sent)
    if 300 <= status < 400:
        return PermanentDeliveryError(f"{peer} answered with a redirect ({status}) {progress}; "
                                      "copy the webhook URL again from Slack", peer=peer, sent=sent)
    hint = _ERROR_HINTS.get(body) or _STATUS_HINTS.get(status) or "check the webhook in Slack"
    return PermanentDeliveryError(f"{peer} answered {said} {progress}; {hint}", peer=peer, sent=sent)


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP-date); None if absent or bad."""
    # Success and error responses carry headers of different types; look up case-insensitively.
    value = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _scrub(text: str, url: str) -> str:
    """Replace the webhook URL, or its secret path alone, wherever it appears in `text`."""
    masked = mask_webhook(url)
    text = text.replace(url, masked)
    try:
        path = urlsplit(url).path.rstrip("/")
    except ValueError:
        return text
    return text.replace(path, "/…") if len(path) > 1 else text
