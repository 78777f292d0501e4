"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), recording what it receives.

Usage::

    with SmtpServer() as server:                       # plain, no STARTTLS, no AUTH
        server.handler.refuse["gone@example.org"] = "550 5.1.1 no such user"
        server.handler.data_replies.append("451 4.3.0 try later")   # next DATA only
        ...  # send to 127.0.0.1:server.port
        [received] = server.handler.messages
        received.message["Message-ID"], received.rcpt_tos, received.tls

    cert = make_certificate(tmp_path)                  # self-signed, for 127.0.0.1 and localhost
    SmtpServer(tls_context=cert.server_context())      # offers STARTTLS
    SmtpServer(ssl_context=cert.server_context())      # implicit TLS (port-465 style)
    SmtpServer(authenticator=accept_only("user", "pw"))  # AUTH offered without TLS

`closed_port()` gives a port where nothing listens (connections are refused) and
`silent_port()` one that accepts connections but never says a word (for timeouts). Tests live
without an ``__init__.py``: ``from smtpserver import SmtpServer, ...``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    tls: bool                    # the session was encrypted (STARTTLS or implicit TLS)
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class RecordingHandler:
    """aiosmtpd handler: stores accepted messages; scripted refusals per recipient and per DATA."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}        # recipient -> reply to its RCPT TO
        self.data_replies: deque[str] = deque()  # replies to the next DATA commands, then 250
        self.mail_from: list[str] = []           # every MAIL FROM seen, delivered or not

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        transport = server.transport
        assert isinstance(envelope.content, bytes)
        self.messages.append(Received(
            mail_from=str(envelope.mail_from), rcpt_tos=tuple(envelope.rcpt_tos), raw=envelope.content,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            authenticated=bool(session.authenticated)))
        return "250 Message accepted for delivery"


def accept_only(username: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator (AUTH PLAIN and LOGIN) accepting exactly this one login."""
    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == username.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return authenticator


class _LoopbackController(Controller):
    """aiosmtpd's Controller on an ephemeral port (it wants a fixed one to probe)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """Context manager running an aiosmtpd server on 127.0.0.1 in a thread."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, ssl_context: ssl.SSLContext | None = None,
                 authenticator: Callable[..., AuthResult] | None = None) -> None:
        self.handler = RecordingHandler()
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ready_timeout": 5.0}
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        if authenticator is not None:
            kwargs.update(authenticator=authenticator, auth_require_tls=False)
        self._controller = _LoopbackController(self.handler, hostname="127.0.0.1", port=0,
                                                ssl_context=ssl_context, **kwargs)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, with its key, as PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(directory: Path) -> Certificate:
    """Generate a fresh key and self-signed certificate (valid now, for a day) in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitor test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Certificate(cert_file, key_file)


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound (so nobody else takes it) but refuses connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connections are completed by the kernel but never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
