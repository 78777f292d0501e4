"""Slack delivery against a loopback stand-in: order, resume points, retry policy, secrecy."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from slackserver import WEBHOOK_PATH, Reply, SlackServer
from smtpserver import closed_port

from monitor.deliver import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from monitor.deliver.slack import SlackResult, mask_webhook, send_slack

pytestmark = [pytest.mark.network, pytest.mark.timeout(30)]

PAYLOADS = [{"text": f"digest part {n}", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                "text": f"*{n}*"}}]}
            for n in (1, 2, 3)]
SECRET = WEBHOOK_PATH.rsplit("/", 1)[-1]


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def test_payloads_are_posted_in_order_as_json(slack: SlackServer) -> None:
    assert send_slack(slack.url, PAYLOADS) == SlackResult(sent=3)
    assert slack.posted == PAYLOADS
    assert all(r.headers["content-type"].startswith("application/json") for r in slack.requests)


def test_start_skips_messages_already_accepted(slack: SlackServer) -> None:
    assert send_slack(slack.url, PAYLOADS, start=2) == SlackResult(sent=1)
    assert slack.posted == PAYLOADS[2:]
    assert send_slack(slack.url, PAYLOADS, start=3) == SlackResult(sent=0)
    assert slack.posted == PAYLOADS[2:]


def test_slack_429_is_transient_with_retry_after_and_nothing_is_sent_twice(slack: SlackServer) -> None:
    slack.script(Reply(), Reply(429, "rate_limited", {"Retry-After": "7"}))
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS)
    assert caught.value.retry_after == 7
    assert caught.value.sent == 1
    assert len(slack.requests) == 2  # the SDK did not retry the 429 on its own
    resumed = send_slack(slack.url, PAYLOADS, start=0 + caught.value.sent)
    assert resumed.sent == 2
    assert slack.posted == PAYLOADS


def test_retry_after_as_an_http_date_is_converted_to_seconds(slack: SlackServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    slack.script(Reply(429, "rate_limited", {"Retry-After": later}))
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS[:1])
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_429_without_retry_after_leaves_the_wait_to_the_caller(slack: SlackServer) -> None:
    slack.script(Reply(429, "rate_limited"))
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS[:1])
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient_and_not_retried_by_the_sdk(slack: SlackServer, status: int) -> None:
    slack.script(Reply(status, "internal_error"))
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS)
    assert caught.value.sent == 0
    assert str(status) in str(caught.value)
    assert len(slack.requests) == 1
    assert slack.posted == []


@pytest.mark.parametrize(("status", "body", "hint"), [
    (400, "invalid_payload", "rendering"),
    (403, "action_prohibited", "admin"),
    (404, "no_service", "create a new one"),
    (410, "channel_is_archived", "archived"),
])
def test_rejections_are_permanent_and_say_what_to_do(slack: SlackServer, status: int, body: str,
                                                     hint: str) -> None:
    slack.script(Reply(status, body))
    with pytest.raises(PermanentDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS)
    message = str(caught.value)
    assert f"{status} {body}" in message
    assert hint in message
    assert caught.value.sent == 0
    assert len(slack.requests) == 1


def test_failure_in_the_middle_resumes_with_only_the_rest(slack: SlackServer) -> None:
    slack.script(Reply(), Reply(500, "internal_error"))
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS)
    assert caught.value.sent == 1
    assert "at message 2 of 3" in str(caught.value)
    assert send_slack(slack.url, PAYLOADS, start=caught.value.sent) == SlackResult(sent=2)
    assert slack.posted == PAYLOADS
    assert [r.body for r in slack.requests] == [PAYLOADS[0], PAYLOADS[1], PAYLOADS[1], PAYLOADS[2]]


def test_a_permanent_failure_after_a_resume_counts_from_start(slack: SlackServer) -> None:
    slack.script(Reply(), Reply(404, "no_service"))
    with pytest.raises(PermanentDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS, start=1)
    assert caught.value.sent == 1
    assert slack.posted == PAYLOADS[1:2]


def test_slow_webhook_times_out_as_transient(slack: SlackServer) -> None:
    slack.script(Reply(delay=5.0))
    began = time.monotonic()
    with pytest.raises(TransientDeliveryError) as caught:
        send_slack(slack.url, PAYLOADS, timeout=0.3)
    assert time.monotonic() - began < 3
    assert "timed out" in str(caught.value)
    assert caught.value.sent == 0


def test_dropped_connection_is_transient_and_not_resent_by_the_sdk(slack: SlackServer) -> None:
    slack.script(Reply(drop=True))
    with pytest.raises(TransientDeliveryError):
        send_slack(slack.url, PAYLOADS)
    # slack-sdk's default handlers would POST again here; that can post a message twice.
    assert len(slack.requests) == 1


def test_unreachable_webhook_is_transient() -> None:
    with closed_port() as port, pytest.raises(TransientDeliveryError) as caught:
        send_slack(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", PAYLOADS, timeout=2)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.sent == 0


def test_webhook_url_never_appears_in_errors_or_logs(slack: SlackServer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # also what slack-sdk would log, were it not silenced
    slack.script(Reply(), Reply(500, f"echo {slack.url} {WEBHOOK_PATH}"),
                 Reply(404, "no_service"), Reply(drop=True), Reply(429, "rate_limited", {"Retry-After": "1"}))
    errors: list[DeliveryError] = []
    for _ in range(4):
        with pytest.raises(DeliveryError) as caught:
            send_slack(slack.url, PAYLOADS)
        errors.append(caught.value)
    with closed_port() as port:
        with pytest.raises(DeliveryError) as caught:
            send_slack(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", PAYLOADS, timeout=2)
        errors.append(caught.value)
    with pytest.raises(DeliveryError) as caught:
        send_slack(f"ftp://127.0.0.1{WEBHOOK_PATH}", PAYLOADS)
    errors.append(caught.value)
    assert send_slack(slack.url, PAYLOADS[:1]).sent == 1  # a success logs too
    for error in errors:
        assert SECRET not in "".join(traceback.format_exception(error)) and SECRET not in repr(error)
        assert "/…/Wxyz" in str(error)
    assert caplog.records, "expected log lines to check"
    assert SECRET not in caplog.text


def test_mask_webhook_shows_only_the_host_and_the_last_four_characters() -> None:
    url = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXabcd"
    assert mask_webhook(url) == "https://hooks.slack.com/…/abcd"
    assert mask_webhook("https://user:pass@example.org/hook/0123456789abcdef") == "https://example.org/…/cdef"
    assert mask_webhook("https://example.org/short") == "https://example.org/…"
    assert mask_webhook("not a url") == "(invalid webhook URL)"


def test_malformed_payload_is_refused_before_anything_is_sent(slack: SlackServer) -> None:
    with pytest.raises(ValueError):
        send_slack(slack.url, [PAYLOADS[0], {}])
    with pytest.raises(TypeError):
        send_slack(slack.url, [PAYLOADS[0], {"text": object()}])
    with pytest.raises(ValueError):
        send_slack(slack.url, PAYLOADS, start=4)
    assert slack.requests == []


def test_webhook_that_is_not_http_is_permanent() -> None:
    with pytest.raises(PermanentDeliveryError, match="not an https:// URL"):
        send_slack("hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXX", PAYLOADS)
