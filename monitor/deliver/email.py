"""Send one digest email over SMTP: build the MIME message, then hand it to the mail server.

We use the standard library's `smtplib`, not aiosmtplib: a send is one short, blocking
conversation that the outbox already runs in a worker thread, smtplib's STARTTLS, AUTH and
per-recipient results are exactly what we need, and it adds no dependency. Every failure
becomes a `TransientDeliveryError` (retry later) or a `PermanentDeliveryError` (an operator
has to act); see `send_email` for the rules.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.deliver.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from monitor.errors import ConfigError

logger = logging.getLogger(__name__)

TLS_MODES = ("starttls", "tls", "none")
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LIST_LABEL_JUNK = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server.

    `tls`: "starttls" (the server must offer STARTTLS, or nothing is sent), "tls" (implicit
    TLS, usually port 465) or "none" (plain text, for a trusted local relay). `verify` checks
    the server's certificate and host name; `ca_file` (PEM) replaces the system's trusted CAs,
    for a relay with a private CA. `local_hostname` is the name we give in EHLO (default: this
    machine's FQDN). Raises `ConfigError` on an unknown `tls` or half-given credentials.
    """

    host: str
    port: int = 587
    tls: str = "starttls"
    verify: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in repr, logs or messages
    timeout: float = 30.0
    from_addr: str = "monitor@localhost"
    ca_file: str | None = None
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ConfigError(f"smtp.tls: expected starttls, tls or none, got {self.tls!r}")
        if (self.username is None) != (self.password is None):
            raise ConfigError("smtp: username and password must be given together (or neither)")

    @property
    def peer(self) -> str:
        """The server as "host:port" (IPv6 literals bracketed), for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class EmailContent:
    """A rendered digest email: subject line, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class EmailResult:
    """What the server accepted: `refused` maps each refused recipient to its reply ("550 ...")."""

    accepted: tuple[str, ...]
    refused: dict[str, str]


def make_message_id(key: str, domain: str) -> str:
    """Return a Message-ID, ``<hash-of-key@domain>``, that is the same every time for `key`.

    Deterministic so that a digest re-sent after a crash carries the same id and mail clients
    can fold the duplicate. Raises `ValueError` when `domain` is not a plain ASCII host name.
    """
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"Message-ID domain must be an ASCII host name, got {domain!r}")
    # 128 bits is plenty for uniqueness and keeps the header short enough not to be folded.
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain.lower()}>"


def build_message(content: EmailContent, *, from_addr: str, to: Sequence[str], message_id: str,
                  list_id: str, date: datetime) -> EmailMessage:
    """Return a multipart/alternative message (plain text first, then HTML) ready to send.

    `message_id` is used exactly as given (``<...@...>``). `list_id` may be a full RFC 2919
    value ("Digest <x.monitor>") or a bare label, which is bracketed. A naive `date` means UTC.
    Line breaks in the subject are folded to spaces (titles from feeds carry them). Both
    bodies are UTF-8 in quoted-printable, so they survive servers without 8BITMIME.
    Raises `ValueError` on a malformed Message-ID or a header value with a line break.
    """
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"Message-ID must look like <id@domain>, got {message_id!r}")
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    message = EmailMessage()
    message["Subject"] = " ".join(content.subject.split())
    message["From"] = from_addr
    message["To"] = ", ".join(to) if to else "undisclosed-recipients:;"
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["List-Id"] = _list_id(list_id)
    # Ask autoresponders and Exchange's out-of-office not to answer a machine-sent digest.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(content.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(content.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def _list_id(value: str) -> str:
    if "<" in value:
        return value
    label = _LIST_LABEL_JUNK.sub("-", value.strip().lower()).strip(".-") or "monitor"
    return f"<{label}>"


def send_email(settings: SmtpSettings, message: EmailMessage, recipients: Sequence[str]) -> EmailResult:
    """Send `message` once to `recipients` (the envelope; headers are not consulted).

    Returns an `EmailResult`: a recipient the server refuses is reported in `refused` while the
    others still get the message, once. Raises:

    - `PermanentDeliveryError` when every recipient is refused with a 5xx reply, the login is
      rejected (535), the server does not offer STARTTLS in "starttls" mode (we never fall back
      to plain text), the certificate fails verification, or the server answers 5xx;
    - `TransientDeliveryError` when the server cannot be reached, times out, drops the
      connection or answers 4xx (including every recipient refused, some with 4xx).

    Blocking: run it in a worker thread from async code. Raises `ValueError` on no recipients.
    """
    if not recipients:
        raise ValueError("send_email needs at least one recipient")
    recipients = list(recipients)
    peer = settings.peer
    try:
        refused = _converse(settings, message, recipients)
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise _all_refused(peer, exc.recipients) from None
    except smtplib.SMTPAuthenticationError as exc:
        who = f"user {settings.username!r}" if settings.username else "our login"
        raise _by_code(peer, exc.smtp_code, exc.smtp_error, f"SMTP server {peer} rejected {who}:",
                       "check smtp.username and the password") from None
    except smtplib.SMTPNotSupportedError as exc:
        if settings.username is not None and "AUTH" in str(exc):
            raise PermanentDeliveryError(
                f"SMTP server {peer} does not offer AUTH on this connection; many servers only offer "
                "it after TLS — check smtp.tls, or drop smtp.username for a relay without login",
                peer=peer) from None
        raise PermanentDeliveryError(f"SMTP server {peer}: {str(exc).rstrip('.')}; check smtp settings "
                                     "against what the server supports", peer=peer) from None
    except smtplib.SMTPResponseException as exc:
        raise _by_code(peer, exc.smtp_code, exc.smtp_error, f"SMTP server {peer} answered",
                       "check the server's logs and our smtp settings") from None
    except smtplib.SMTPServerDisconnected as exc:
        # smtplib reports a reply that timed out as a disconnection; say which it was.
        if isinstance(exc.__context__, TimeoutError):
            raise TransientDeliveryError(f"SMTP server {peer} did not answer within {settings.timeout:g}s; "
                                         "will retry", peer=peer) from None
        raise TransientDeliveryError(
            f"SMTP server {peer} closed the connection ({exc or 'no reason given'}); will retry",
            peer=peer) from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentDeliveryError(
            f"TLS certificate of SMTP server {peer} failed verification ({exc.verify_message}); "
            "fix the server's certificate, or set smtp.ca_file to the CA that signed it", peer=peer) from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        raise TransientDeliveryError(f"SMTP server {peer} dropped the TLS connection ({exc}); will retry",
                                     peer=peer) from None
    except ssl.SSLError as exc:
        raise PermanentDeliveryError(
            f"TLS with SMTP server {peer} failed ({exc.reason or exc}); check that smtp.tls matches the "
            "port (\"tls\" for 465, \"starttls\" for 587)", peer=peer) from None
    except smtplib.SMTPException as exc:
        raise PermanentDeliveryError(f"SMTP server {peer}: {exc}; check smtp settings", peer=peer) from None
    except OSError as exc:  # refused, unreachable, DNS, timeouts (TimeoutError is an OSError)
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise TransientDeliveryError(
            f"cannot reach SMTP server {peer} ({reason}); will retry — check that it is running "
            "and smtp.host/smtp.port", peer=peer) from None
    refused_text = {address: _reply(code, text) for address, (code, text) in refused.items()}
    accepted = tuple(address for address in recipients if address not in refused_text)
    for address, why in refused_text.items():
        logger.warning("SMTP server %s refused recipient %s: %s", peer, address, why)
    logger.info("sent email %s to %d recipient(s) via %s", message.get("Message-ID", "?"), len(accepted), peer)
    return EmailResult(accepted=accepted, refused=refused_text)


def _converse(settings: SmtpSettings, message: EmailMessage,
              recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """One SMTP session; returns the refused recipients; smtplib's exceptions pass through."""
    smtp = _connect(settings)
    try:
        refused = smtp.send_message(message, from_addr=settings.from_addr, to_addrs=recipients)
    except BaseException:
        smtp.close()  # no QUIT: after a timeout it would only wait out another one
        raise
    _quit(smtp)
    return refused


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    """Open the session: connect, EHLO, TLS as configured, log in; the caller closes it."""
    smtp: smtplib.SMTP
    if settings.tls == "tls":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, local_hostname=settings.local_hostname,
                                timeout=settings.timeout, context=_tls_context(settings))
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, local_hostname=settings.local_hostname,
                            timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise PermanentDeliveryError(
                    f"SMTP server {settings.peer} does not offer STARTTLS, and smtp.tls = \"starttls\" "
                    "forbids sending in plain text; enable STARTTLS on the server, use tls = \"tls\" "
                    "(port 465), or tls = \"none\" only for a trusted local relay", peer=settings.peer)
            smtp.starttls(context=_tls_context(settings))
            smtp.ehlo()  # the capabilities before TLS no longer count (RFC 3207)
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username, settings.password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except OSError as exc:  # (ssl.SSLError included) else it would pass for "server unreachable"
        raise PermanentDeliveryError(f"cannot load smtp.ca_file {settings.ca_file!r} ({exc}); "
                                     "point it at a readable PEM file", peer=settings.peer) from None
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _quit(smtp: smtplib.SMTP) -> None:
    # QUIT is a courtesy: once the message is accepted, a failing QUIT must not turn the send
    # into an error (the caller would send it again).
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def _by_code(peer: str, code: int, text: bytes | str, what: str, hint: str) -> DeliveryError:
    """4xx (and odd codes such as -1 for a dropped greeting) are worth a retry; 5xx are not."""
    reply = _reply(code, text)
    if 500 <= code < 600:
        return PermanentDeliveryError(f"{what} {reply}; {hint}", peer=peer)
    return TransientDeliveryError(f"{what} {reply}; will retry", peer=peer)


def _all_refused(peer: str, refusals: dict[str, tuple[int, bytes]]) -> DeliveryError:
    replies = "; ".join(f"{address}: {_reply(code, text)}" for address, (code, text) in refusals.items())
    # Any 4xx (greylisting, a full mailbox) may pass later, so retrying is worth it; if every
    # refusal is 5xx, sending again would only be refused again.
    if any(400 <= code < 500 for code, _ in refusals.values()):
        return TransientDeliveryError(f"SMTP server {peer} refused every recipient for now ({replies}); "
                                      "will retry", peer=peer)
    return PermanentDeliveryError(f"SMTP server {peer} refused every recipient ({replies}); "
                                  "check the subscription's email addresses", peer=peer)
