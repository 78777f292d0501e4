"""Digests and the outbox end to end: real SMTP (aiosmtpd) and a real Slack stand-in on 127.0.0.1,
on SQLite and PostgreSQL. Each window is built once, each hit sent once per subscription."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

import pytest
from slackserver import Reply, SlackServer
from smtpserver import SmtpServer, closed_port
from sqlalchemy import func, select

import monitor.outbox as outbox
from monitor.config import Settings, settings_from_dict
from monitor.database import Database
from monitor.models import Delivery, Digest, DigestHit, Feed, Hit, Item, SubscriptionState
from monitor.outbox import build_due_digests, send_due_deliveries

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def make_settings(database_url: str, *, smtp_port: int = 1, cadence: str = "hourly", slack_env: str | None = None,
                  email: bool = True, **sub: object) -> Settings:
    subscription: dict[str, object] = {"name": "analysts", "cadence": cadence, "timezone": "Europe/Berlin", **sub}
    if email:
        subscription["email"] = ["analyst@example.org", "desk@example.org"]
    if slack_env:
        subscription["slack_webhook_env"] = slack_env
    return settings_from_dict({"database": {"url": database_url},
                               "smtp": {"host": "127.0.0.1", "port": smtp_port, "tls": "none",
                                        "from": "monitor@alerts.example", "timeout": "3s"},
                               "subscriptions": [subscription]})


def add_hits(db: Database, n: int, *, at: datetime, alertable: bool = True, watch: str = "contacts",
             priority: str = "high", prefix: str = "story") -> list[int]:
    with db.session() as session:
        feed = session.scalar(select(Feed).where(Feed.name == "wire"))
        if feed is None:
            feed = Feed(url="https://wire.example/rss", name="wire", title="Harbour Wire", tags=[], origin="cli",
                        enabled=True, interval=1800, next_poll_at=at, created_at=at, consecutive_failures=0)
            session.add(feed)
            session.flush()
        ids = []
        for i in range(n):
            title = f"Hamas delegation in Moscow, {prefix} {i}"
            item = Item(feed_id=feed.id, guid=f"{prefix}-{i}", url=f"https://wire.example/{prefix}/{i}",
                        canonical_url=f"https://wire.example/{prefix}/{i}", title=title,
                        summary_text="Talks with the deputy foreign minister.", summary_html="", content_text="",
                        content_html="", tags=[], language="en", published_at=at, published_from_feed=True,
                        first_seen_at=at, content_hash=f"{prefix}{i}", is_backlog=not alertable, is_stale=False)
            session.add(item)
            session.flush()
            hit = Hit(watch_id=watch, item_id=item.id, priority=priority, priority_rank=2, alertable=alertable,
                      created_at=at, terms=[{"text": "Hamas", "term": "Hamas", "actor": "hamas", "field": "title",
                                             "start": 0, "end": 5}])
            session.add(hit)
            session.flush()
            ids.append(hit.id)
        return ids


def start_subscription(db: Database, at: datetime) -> None:
    with db.session() as session:
        session.add(SubscriptionState(subscription="analysts", first_start=at, last_window_end=None))


def send(db: Database, settings: Settings, now: datetime) -> dict[str, int]:
    return asyncio.run(send_due_deliveries(db, settings, owner="test", now=now))


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_each_window_is_built_once_and_emailed_with_both_parts(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    add_hits(db, 3, at=T0 + timedelta(minutes=10))
    add_hits(db, 2, at=T0 + timedelta(minutes=20), alertable=False, prefix="backlog")
    with SmtpServer() as smtp:
        settings = make_settings(database_url, smtp_port=smtp.port)
        assert build_due_digests(db, settings, None, now=T0 + timedelta(minutes=30)) == []  # not due yet
        built = build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        assert len(built) == 1
        assert build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=2)) == []
        assert send(db, settings, T0 + timedelta(hours=1, minutes=2)) == {"sent": 1, "retry": 0, "failed": 0}
        assert send(db, settings, T0 + timedelta(hours=1, minutes=3))["sent"] == 0
        [received] = smtp.handler.messages
    message = received.message
    assert sorted(received.rcpt_tos) == ["analyst@example.org", "desk@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    for header in ("Subject", "Date", "Message-ID", "List-Id", "Auto-Submitted"):
        assert message[header], header
    assert "3 new" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "story 0" in text and "backlog" not in text
    with db.session() as session:
        delivery = session.scalar(select(Delivery))
        assert delivery.status == "sent" and delivery.message_id == message["Message-ID"]
        assert session.scalar(select(func.count()).select_from(DigestHit)) == 3


def test_empty_window_sends_nothing(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    settings = make_settings(database_url)
    assert build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1)) == []
    assert count(db, Digest) == 0 and count(db, Delivery) == 0
    with db.session() as session:  # but the window is used up
        assert session.get(SubscriptionState, "analysts").last_window_end is not None


def test_catch_up_after_downtime_is_one_digest(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    for day in range(3):
        add_hits(db, 1, at=T0 + timedelta(days=day, hours=1), prefix=f"day{day}")
    settings = make_settings(database_url, cadence="daily 08:00")
    built = build_due_digests(db, settings, None, now=T0 + timedelta(days=3, hours=2))
    assert len(built) == 1
    with db.session() as session:
        assert session.scalar(select(Digest.hit_count)) == 3


def test_a_hit_is_never_in_two_digests_of_a_subscription(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    first = set(add_hits(db, 2, at=T0 + timedelta(minutes=5), prefix="a"))
    settings = make_settings(database_url)
    build_due_digests(db, settings, None, now=T0 + timedelta(minutes=30), force=True)
    second = set(add_hits(db, 2, at=T0 + timedelta(minutes=40), prefix="b"))
    build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
    with db.session() as session:
        rows = session.execute(select(DigestHit.digest_id, DigestHit.hit_id).order_by(DigestHit.digest_id)).all()
    by_digest: dict[int, set[int]] = {}
    for digest_id, hit_id in rows:
        by_digest.setdefault(digest_id, set()).add(hit_id)
    assert sorted(by_digest.values(), key=min) == [first, second]


def test_two_schedulers_firing_at_once_build_one_digest(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    add_hits(db, 3, at=T0 + timedelta(minutes=5))
    settings = make_settings(database_url)
    results: list[list] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        other = Database(database_url)
        barrier.wait()
        results.append(build_due_digests(other, settings, None, now=T0 + timedelta(hours=1, minutes=1)))
        other.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(len(r) for r in results) == [0, 1]
    assert count(db, Digest) == 1 and count(db, DigestHit) == 3 and count(db, Delivery) == 1


def test_crash_after_building_before_sending_sends_once_on_restart(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    add_hits(db, 1, at=T0 + timedelta(minutes=5))
    with SmtpServer() as smtp:
        settings = make_settings(database_url, smtp_port=smtp.port)
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        # ... the process dies here; a restarted daemon finds the queued delivery:
        assert send(db, settings, T0 + timedelta(hours=2))["sent"] == 1
        assert send(db, settings, T0 + timedelta(hours=3))["sent"] == 0
        assert len(smtp.handler.messages) == 1


def test_crash_after_the_server_accepted_resends_with_the_same_message_id(db: Database, database_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    start_subscription(db, T0)
    add_hits(db, 1, at=T0 + timedelta(minutes=5))
    with SmtpServer() as smtp:
        settings = make_settings(database_url, smtp_port=smtp.port)
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        original = outbox._record

        def die_before_marking(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise SystemExit("killed after the server accepted")

        monkeypatch.setattr(outbox, "_record", die_before_marking)
        with pytest.raises(SystemExit):
            send(db, settings, T0 + timedelta(hours=1, minutes=2))
        monkeypatch.setattr(outbox, "_record", original)
        # The claim still holds: nobody resends while the first sender might be alive ...
        assert send(db, settings, T0 + timedelta(hours=1, minutes=3))["sent"] == 0
        # ... and once it has expired, the delivery goes again with the same Message-ID.
        assert send(db, settings, T0 + timedelta(hours=1, minutes=3) + timedelta(seconds=outbox.CLAIM_SECONDS))["sent"] == 1
        first, second = smtp.handler.messages
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_dead_smtp_server_retries_with_backoff_and_loses_nothing(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    add_hits(db, 2, at=T0 + timedelta(minutes=5))
    with closed_port() as port:
        settings = make_settings(database_url, smtp_port=port)
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        now = T0 + timedelta(hours=1, minutes=2)
        assert send(db, settings, now)["retry"] == 1
        with db.session() as session:
            delivery = session.scalar(select(Delivery))
            first_wait = delivery.next_attempt_at - now
            assert delivery.status == "pending" and delivery.attempts == 1 and "127.0.0.1" in delivery.last_error
        assert send(db, settings, now + timedelta(seconds=1))["retry"] == 0  # not due yet
        assert send(db, settings, now + first_wait)["retry"] == 1
        with db.session() as session:
            second_wait = session.scalar(select(Delivery)).next_attempt_at - (now + first_wait)
        assert second_wait > first_wait * 1.3
    with SmtpServer() as smtp:
        settings = make_settings(database_url, smtp_port=smtp.port)
        assert send(db, settings, now + timedelta(days=1))["sent"] == 1
        assert len(smtp.handler.messages) == 1


def test_one_refused_recipient_does_not_resend_to_the_others(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    add_hits(db, 1, at=T0 + timedelta(minutes=5))
    with SmtpServer() as smtp:
        smtp.handler.refuse["desk@example.org"] = "550 5.1.1 no such user"
        settings = make_settings(database_url, smtp_port=smtp.port)
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        assert send(db, settings, T0 + timedelta(hours=2))["sent"] == 1
        assert send(db, settings, T0 + timedelta(days=2))["sent"] == 0
        assert [list(m.rcpt_tos) for m in smtp.handler.messages] == [["analyst@example.org"]]
    with db.session() as session:
        assert "desk@example.org" in session.scalar(select(Delivery.last_error))


def test_slack_429_waits_for_retry_after_and_sends_each_message_once(db: Database, database_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    start_subscription(db, T0)
    add_hits(db, 2, at=T0 + timedelta(minutes=5))
    with SlackServer() as slack:
        monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.url)
        settings = make_settings(database_url, email=False, slack_env="TEST_SLACK_WEBHOOK")
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        slack.script(Reply(429, "rate_limited", {"Retry-After": "1800"}))
        now = T0 + timedelta(hours=1, minutes=2)
        assert send(db, settings, now)["retry"] == 1
        with db.session() as session:
            assert session.scalar(select(Delivery.next_attempt_at)) >= now + timedelta(seconds=1800)
        assert send(db, settings, now + timedelta(seconds=1700))["sent"] == 0
        assert send(db, settings, now + timedelta(seconds=1900))["sent"] == 1
        posts = [p for p in slack.requests if p.status == 200]
        assert len(posts) >= 1 and all(p.body.get("unfurl_links") is False for p in posts)
        texts = [p.body["text"] for p in posts]
        assert len(texts) == len(set(texts))


def test_slack_404_parks_the_delivery_as_failed(db: Database, database_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    start_subscription(db, T0)
    add_hits(db, 1, at=T0 + timedelta(minutes=5))
    with SlackServer() as slack:
        monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.url)
        settings = make_settings(database_url, email=False, slack_env="TEST_SLACK_WEBHOOK")
        build_due_digests(db, settings, None, now=T0 + timedelta(hours=1, minutes=1))
        slack.script(Reply(404, "no_service"))
        assert send(db, settings, T0 + timedelta(hours=2))["failed"] == 1
        assert send(db, settings, T0 + timedelta(days=2)) == {"sent": 0, "retry": 0, "failed": 0}
    with db.session() as session:
        delivery = session.scalar(select(Delivery))
        assert delivery.status == "failed" and "no_service" in delivery.last_error
        assert slack.url not in delivery.last_error and "s3cret" not in delivery.target


def test_immediate_cadence_sends_a_steady_stream_after_a_bounded_wait(db: Database, database_url: str) -> None:
    start_subscription(db, T0)
    settings = make_settings(database_url, cadence="immediate", debounce="1m")
    built = []
    # A hit every 30 s never leaves a quiet minute, yet the first ones go out within 5 minutes.
    for step in range(12):
        now = T0 + timedelta(seconds=30 * step)
        add_hits(db, 1, at=now, prefix=f"s{step}")
        built += build_due_digests(db, settings, None, now=now + timedelta(seconds=1))
    assert len(built) == 1
    with db.session() as session:
        assert session.scalar(select(Digest.window_start)) == T0


def test_filter_problems_names_unknown_watches_and_tags_of_each_subscription() -> None:
    from pathlib import Path

    from monitor.config import Subscription
    from monitor.outbox import filter_problems
    from monitor.rules import load_rules

    rules = load_rules([Path(__file__).resolve().parents[1] / "rules"])
    watch = rules.watches[0]
    subs = [Subscription(name="desk", watches=(watch.id, watch.id[:-1] + "x"), tags=("no-such-tag",)),
            Subscription(name="fine", watches=(watch.id,), tags=tuple(watch.tags[:1])),
            Subscription(name="all")]
    assert filter_problems(subs, rules) == [
        f"subscription 'desk': no watch {watch.id[:-1] + 'x'!r} in the rules (did you mean {watch.id!r}?)",
        "subscription 'desk': no watch carries the tag 'no-such-tag'"]
    assert filter_problems(subs, None) == []  # no rules loaded: nothing to compare with
