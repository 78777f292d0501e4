"""Email delivery against a real SMTP server on 127.0.0.1 (aiosmtpd): MIME, TLS, AUTH, outcomes."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from smtpserver import (
    Certificate,
    SmtpServer,
    accept_only,
    closed_port,
    make_certificate,
    silent_port,
)

from monitor.deliver import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from monitor.deliver.email import (
    EmailContent,
    EmailResult,
    SmtpSettings,
    build_message,
    make_message_id,
    send_email,
)
from monitor.errors import ConfigError

pytestmark = [pytest.mark.network, pytest.mark.timeout(30)]

PASSWORD = "Hunter2-Sw0rdfish"
WHEN = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
CONTENT = EmailContent(subject="Digest: 3 new hits — Ørsted\nwind farm",
                       text="Three new hits.\nØrsted wins a tender — see https://example.org/a\n",
                       html="<h1>Three new hits</h1><p>Ørsted wins a tender</p>\n")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def settings(port: int, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "tls": "none", "timeout": 5.0,
                                 "from_addr": "monitor@example.org", "local_hostname": "monitor.test"}
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def digest_message(to: list[str], key: str = "ops/2024-03-05T08:00") -> EmailMessage:
    return build_message(CONTENT, from_addr="Monitor <monitor@example.org>", to=to,
                         message_id=make_message_id(key, "example.org"),
                         list_id="Ops digest <ops.monitor.example.org>", date=WHEN)


def test_digest_arrives_with_text_and_html_parts_and_the_headers(plain_server: SmtpServer) -> None:
    to = ["analyst@example.org", "editor@example.org"]
    message = digest_message(to)
    result = send_email(settings(plain_server.port), message, to)
    assert result == EmailResult(accepted=tuple(to), refused={})
    [received] = plain_server.handler.messages
    assert received.mail_from == "monitor@example.org"
    assert received.rcpt_tos == tuple(to)
    got = received.message
    assert got.get_content_type() == "multipart/alternative"
    plain, html = got.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    # Line ends travel as CRLF on the wire.
    assert plain.get_content().replace("\r\n", "\n") == CONTENT.text
    assert html.get_content().replace("\r\n", "\n") == CONTENT.html
    assert got["Subject"] == "Digest: 3 new hits — Ørsted wind farm"
    assert got["From"] == "Monitor <monitor@example.org>"
    assert got["To"] == "analyst@example.org, editor@example.org"
    assert parsedate_to_datetime(got["Date"]) == WHEN
    assert got["Message-ID"].strip() == message["Message-ID"] == make_message_id("ops/2024-03-05T08:00",
                                                                               "example.org")
    assert got["List-Id"] == "Ops digest <ops.monitor.example.org>"
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["X-Auto-Response-Suppress"] == "All"
    assert received.raw.isascii()  # survives servers without 8BITMIME


def test_a_resend_carries_the_same_message_id(plain_server: SmtpServer) -> None:
    for _ in range(2):  # as the outbox does after a crash: rebuild from the stored id, send again
        send_email(settings(plain_server.port), digest_message(["a@example.org"]), ["a@example.org"])
    first, second = (m.message["Message-ID"] for m in plain_server.handler.messages)
    assert first == second


def test_message_id_is_deterministic_per_key() -> None:
    assert make_message_id("ops/1", "example.org") == make_message_id("ops/1", "example.org")
    assert make_message_id("ops/1", "example.org") != make_message_id("ops/2", "example.org")
    assert make_message_id("ops/1", "Example.ORG").endswith("@example.org>")
    with pytest.raises(ValueError):
        make_message_id("ops/1", "bad domain>")


def test_build_message_brackets_a_bare_list_id_and_reads_naive_dates_as_utc() -> None:
    message = build_message(CONTENT, from_addr="m@example.org", to=[], message_id="<x@example.org>",
                            list_id="Ops Team.monitor", date=WHEN.replace(tzinfo=None))
    assert message["List-Id"] == "<ops-team.monitor>"
    assert parsedate_to_datetime(message["Date"]) == WHEN
    with pytest.raises(ValueError):
        build_message(CONTENT, from_addr="m@example.org", to=["a@example.org"], message_id="",
                      list_id="ops", date=WHEN)


def test_unreachable_server_is_transient() -> None:
    with closed_port() as port, pytest.raises(TransientDeliveryError) as caught:
        send_email(settings(port), digest_message(["a@example.org"]), ["a@example.org"])
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_server_that_never_answers_times_out_as_transient() -> None:
    began = time.monotonic()
    with silent_port() as port, pytest.raises(TransientDeliveryError, match="did not answer"):
        send_email(settings(port, timeout=0.3), digest_message(["a@example.org"]), ["a@example.org"])
    assert time.monotonic() - began < 3


def test_451_is_transient_and_the_next_attempt_delivers(plain_server: SmtpServer) -> None:
    plain_server.handler.data_replies.append("451 4.3.0 try later")
    with pytest.raises(TransientDeliveryError, match="451 4.3.0 try later"):
        send_email(settings(plain_server.port), digest_message(["a@example.org"]), ["a@example.org"])
    assert plain_server.handler.messages == []
    send_email(settings(plain_server.port), digest_message(["a@example.org"]), ["a@example.org"])
    assert len(plain_server.handler.messages) == 1


def test_554_on_data_is_permanent(plain_server: SmtpServer) -> None:
    plain_server.handler.data_replies.append("554 5.6.0 message rejected")
    with pytest.raises(PermanentDeliveryError, match="554"):
        send_email(settings(plain_server.port), digest_message(["a@example.org"]), ["a@example.org"])


def test_one_refused_recipient_does_not_stop_the_others(plain_server: SmtpServer) -> None:
    plain_server.handler.refuse["gone@example.org"] = "550 5.1.1 no such user"
    to = ["a@example.org", "gone@example.org", "b@example.org"]
    result = send_email(settings(plain_server.port), digest_message(to), to)
    assert result.accepted == ("a@example.org", "b@example.org")
    assert result.refused == {"gone@example.org": "550 5.1.1 no such user"}
    [received] = plain_server.handler.messages
    assert received.rcpt_tos == ("a@example.org", "b@example.org")


def test_every_recipient_refused_is_permanent(plain_server: SmtpServer) -> None:
    plain_server.handler.refuse.update({"x@example.org": "550 5.1.1 no such user",
                                        "y@example.org": "553 5.1.3 bad address"})
    with pytest.raises(PermanentDeliveryError) as caught:
        send_email(settings(plain_server.port), digest_message(["x@example.org"]),
                   ["x@example.org", "y@example.org"])
    assert "x@example.org: 550 5.1.1 no such user" in str(caught.value)
    assert plain_server.handler.messages == []


def test_every_recipient_deferred_is_transient(plain_server: SmtpServer) -> None:
    plain_server.handler.refuse["x@example.org"] = "451 4.7.1 greylisted, come back later"
    with pytest.raises(TransientDeliveryError, match="greylisted"):
        send_email(settings(plain_server.port), digest_message(["x@example.org"]), ["x@example.org"])


def test_rejected_login_is_permanent_and_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(authenticator=accept_only("monitor", "the-right-one")) as server:
        config = settings(server.port, username="monitor", password=PASSWORD)
        with pytest.raises(PermanentDeliveryError) as caught:
            send_email(config, digest_message(["a@example.org"]), ["a@example.org"])
        assert server.handler.messages == []
    error = caught.value
    assert "535" in str(error) and "'monitor'" in str(error)
    assert PASSWORD not in "".join(traceback.format_exception(error))
    assert PASSWORD not in repr(config)
    assert PASSWORD not in caplog.text


def test_accepted_login_delivers() -> None:
    with SmtpServer(authenticator=accept_only("monitor", PASSWORD)) as server:
        send_email(settings(server.port, username="monitor", password=PASSWORD),
                   digest_message(["a@example.org"]), ["a@example.org"])
        [received] = server.handler.messages
    assert received.authenticated


def test_starttls_required_but_not_offered_is_permanent_and_sends_nothing(plain_server: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS"):
        send_email(settings(plain_server.port, tls="starttls"), digest_message(["a@example.org"]),
                   ["a@example.org"])
    assert plain_server.handler.mail_from == []  # not even MAIL FROM in plain text


def test_starttls_with_an_untrusted_certificate_fails_verification(certificate: Certificate) -> None:
    with SmtpServer(tls_context=certificate.server_context()) as server:
        with pytest.raises(PermanentDeliveryError, match="failed verification") as caught:
            send_email(settings(server.port, tls="starttls"), digest_message(["a@example.org"]), ["a@example.org"])
        assert server.handler.mail_from == []
    assert "ca_file" in str(caught.value)


def test_starttls_with_the_ca_file_delivers_encrypted(certificate: Certificate) -> None:
    with SmtpServer(tls_context=certificate.server_context()) as server:
        send_email(settings(server.port, tls="starttls", ca_file=str(certificate.cert_file)),
                   digest_message(["a@example.org"]), ["a@example.org"])
        [received] = server.handler.messages
    assert received.tls


def test_verify_false_accepts_a_self_signed_certificate(certificate: Certificate) -> None:
    with SmtpServer(tls_context=certificate.server_context()) as server:
        send_email(settings(server.port, tls="starttls", verify=False), digest_message(["a@example.org"]),
                   ["a@example.org"])
        [received] = server.handler.messages
    assert received.tls


def test_implicit_tls_delivers(certificate: Certificate) -> None:
    with SmtpServer(ssl_context=certificate.server_context()) as server:
        with pytest.raises(PermanentDeliveryError, match="failed verification"):
            send_email(settings(server.port, tls="tls"), digest_message(["a@example.org"]), ["a@example.org"])
        send_email(settings(server.port, tls="tls", ca_file=str(certificate.cert_file)),
                   digest_message(["a@example.org"]), ["a@example.org"])
        [received] = server.handler.messages
    assert received.tls


def test_implicit_tls_against_a_plain_server_is_permanent(plain_server: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="smtp.tls matches the port"):
        send_email(settings(plain_server.port, tls="tls"), digest_message(["a@example.org"]), ["a@example.org"])


def test_unreadable_ca_file_is_permanent(plain_server: SmtpServer, tmp_path: Path) -> None:
    with pytest.raises(PermanentDeliveryError, match="ca_file"):
        send_email(settings(plain_server.port, tls="tls", ca_file=str(tmp_path / "missing.pem")),
                   digest_message(["a@example.org"]), ["a@example.org"])


def test_settings_reject_unknown_tls_modes_and_half_credentials() -> None:
    with pytest.raises(ConfigError, match="starttls, tls or none"):
        SmtpSettings(host="mail.example.org", tls="ssl")
    with pytest.raises(ConfigError, match="together"):
        SmtpSettings(host="mail.example.org", username="monitor")
    assert SmtpSettings(host="::1", port=25).peer == "[::1]:25"


def test_no_recipients_is_a_programming_error(plain_server: SmtpServer) -> None:
    with pytest.raises(ValueError):
        send_email(settings(plain_server.port), digest_message([]), [])
    assert isinstance(PermanentDeliveryError("x"), DeliveryError)


def test_credentials_for_a_server_without_auth_are_permanent(plain_server: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="does not offer AUTH"):
        send_email(settings(plain_server.port, username="monitor", password=PASSWORD),
                   digest_message(["a@example.org"]), ["a@example.org"])
    assert plain_server.handler.mail_from == []
