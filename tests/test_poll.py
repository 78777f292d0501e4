"""Polling end to end on a real loopback server: fetch → parse → normalise → store, per backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from feedgen import Entry, rss
from feedserver import Feed, FeedServer, Hang, Redirect, Status, http_date
from sqlalchemy import func, select, update

from monitor.poll import poll_once
from monitor.config import Settings
from monitor.database import Database
from monitor.models import Feed as FeedRow
from monitor.models import Item, ItemSource, Tombstone
from monitor.poll import PollSummary, utcnow
from monitor.registry import add_feed
from monitor.retention import prune
from monitor.store import tombstone_items

NOW = datetime.now(timezone.utc)


def entries(n: int, *, prefix: str = "story", start: int = 0) -> list[Entry]:
    return [Entry(title=f"{prefix} number {i}", link=f"https://news.example/{prefix}/{i}",
                  guid=f"{prefix}-{i}", summary=f"<p>Text of {prefix} {i}.</p>",
                  published=NOW - timedelta(hours=i)) for i in range(start, start + n)]


def add(db: Database, settings: Settings, url: str, name: str | None = None) -> int:
    with db.session() as session:
        return add_feed(session, settings, url, now=utcnow(), name=name, spread=0).id


def poll(db: Database, settings: Settings, *names: str) -> PollSummary:
    return asyncio.run(poll_once(db, settings, names=names, due_only=False))


def feed_row(db: Database, feed_id: int) -> FeedRow:
    with db.session() as session:
        row = session.get(FeedRow, feed_id)
        assert row is not None
        return row


def count_items(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def test_first_poll_stores_every_entry_once_marked_as_backlog(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/a.xml", Feed(rss(entries(5))))
    feed_id = add(db, settings, feed_server.url("/a.xml"))
    summary = poll(db, settings)
    assert (summary.fetched, summary.items_new, summary.errors) == (1, 5, 0)
    with db.session() as session:
        items = list(session.scalars(select(Item).order_by(Item.published_at.desc())))
        assert [i.title for i in items] == [f"story number {i}" for i in range(5)]
        assert all(i.is_backlog for i in items)
        assert items[0].summary_text == "Text of story 0." and "<p>" in items[0].summary_html
        assert items[0].published_at.tzinfo is not None
    row = feed_row(db, feed_id)
    assert row.status == "ok" and row.first_success_at is not None and row.next_poll_at > utcnow()


def test_entries_after_the_first_poll_are_new_not_backlog(db, settings, feed_server: FeedServer) -> None:
    route = feed_server.add("/a.xml", Feed(rss(entries(3)), etag='"v1"'))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    route.update(rss(entries(1, prefix="fresh") + entries(3)), etag='"v2"')
    summary = poll(db, settings)
    assert (summary.items_new, summary.items_duplicate) == (1, 3)
    with db.session() as session:
        fresh = session.scalar(select(Item).where(Item.guid == "fresh-0"))
        assert fresh is not None and not fresh.is_backlog


def test_not_modified_feed_costs_no_parsing_and_keeps_validators(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/a.xml", Feed(rss(entries(3)), etag='"v1"', last_modified=http_date(NOW)))
    feed_id = add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    summary = poll(db, settings)
    assert (summary.not_modified, summary.fetched, summary.items_new) == (1, 0, 0)
    last = feed_server.requests_to("/a.xml")[-1]
    assert last.headers["if-none-match"] == '"v1"'
    assert last.headers["if-modified-since"] == http_date(NOW)
    row = feed_row(db, feed_id)
    assert row.etag == '"v1"' and row.last_modified == http_date(NOW) and row.last_status == 304


def test_unchanged_feed_is_not_parsed_again(db, settings, feed_server: FeedServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    feed_server.add("/a.xml", Feed(rss(entries(3))))  # no validators at all
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    import monitor.poll as poll_module

    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("an identical body was parsed again")

    monkeypatch.setattr(poll_module, "parse_and_normalise", fail)
    summary = poll(db, settings)
    assert (summary.unchanged, summary.errors, summary.items_new) == (1, 0, 0)


def test_same_story_in_two_feeds_is_one_item_with_two_sources(db, settings, feed_server: FeedServer) -> None:
    story = Entry(title="Envoy meets delegation", link="https://wire.example/story/1?utm_source=a",
                  guid="a-1", published=NOW)
    copy = Entry(title="Envoy meets delegation", link="https://WIRE.example/story/1?utm_medium=b#top",
                 guid="b-77", published=NOW)
    feed_server.add("/a.xml", Feed(rss([story])))
    feed_server.add("/b.xml", Feed(rss([copy])))
    a, b = add(db, settings, feed_server.url("/a.xml")), add(db, settings, feed_server.url("/b.xml"))
    poll(db, settings)
    with db.session() as session:
        items = list(session.scalars(select(Item)))
        assert len(items) == 1 and items[0].canonical_url == "https://wire.example/story/1"
        sources = set(session.scalars(select(ItemSource.feed_id).where(ItemSource.item_id == items[0].id)))
        assert sources == {a, b}


def test_updated_entry_updates_the_item_instead_of_adding_one(db, settings, feed_server: FeedServer) -> None:
    route = feed_server.add("/a.xml", Feed(rss(entries(2))))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    changed = entries(2)
    changed[0].title = "story number 0 (updated with casualty figures)"
    route.update(rss(changed))
    summary = poll(db, settings)
    assert (summary.items_new, summary.items_updated) == (0, 1)
    with db.session() as session:
        item = session.scalar(select(Item).where(Item.guid == "story-0"))
        assert item is not None and item.title.endswith("(updated with casualty figures)")
        assert item.updated_at is not None
    assert count_items(db) == 2


def test_feed_that_changes_guids_on_every_fetch_does_not_duplicate(db, settings, feed_server: FeedServer) -> None:
    first = entries(3)
    route = feed_server.add("/a.xml", Feed(rss(first)))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    for e in first:
        e.guid = f"{e.guid}-{datetime.now().timestamp()}"
    route.update(rss(first))
    summary = poll(db, settings)
    assert (summary.items_new, summary.items_duplicate) == (0, 3)
    assert count_items(db) == 3


def test_entries_without_guid_or_link_dedupe_on_content(db, settings, feed_server: FeedServer) -> None:
    bare = [Entry(title=f"Bulletin {i}", summary=f"Bulletin text {i}") for i in range(3)]
    route = feed_server.add("/a.xml", Feed(rss(bare)))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    route.update(rss(bare + [Entry(title="Bulletin 9", summary="Bulletin text 9")]))
    summary = poll(db, settings)
    assert (summary.items_new, summary.items_duplicate) == (1, 3)


def test_entries_sharing_one_home_page_link_stay_distinct(db, settings, feed_server: FeedServer) -> None:
    same_link = [Entry(title=f"Headline {i}", link="https://news.example/", guid=f"g{i}") for i in range(3)]
    feed_server.add("/a.xml", Feed(rss(same_link)))
    add(db, settings, feed_server.url("/a.xml"))
    assert poll(db, settings).items_new == 3


def test_pruned_entry_reappearing_does_not_come_back_as_new(db, settings, feed_server: FeedServer) -> None:
    route = feed_server.add("/a.xml", Feed(rss(entries(3))))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    with db.session() as session:
        old = session.scalar(select(Item).where(Item.guid == "story-2"))
        assert old is not None
        tombstone_items(session, [old.id], now=utcnow())
        session.delete(old)
    route.update(rss(entries(3) + entries(1, prefix="later")))
    summary = poll(db, settings)
    assert summary.items_new == 1
    with db.session() as session:
        assert session.scalar(select(Item).where(Item.guid == "story-2")) is None


def tombstone_ages(db: Database) -> list[timedelta]:
    now = utcnow()
    with db.session() as session:
        return sorted(now - seen for seen in session.scalars(select(Tombstone.seen_at)))


def test_tombstone_lasts_while_a_feed_still_serves_its_entry(db, settings, feed_server: FeedServer) -> None:
    # Undated entries: one that came back as new would never be too old to alert again.
    undated = [replace(e, published=None) for e in entries(2)]
    route = feed_server.add("/a.xml", Feed(rss(undated)))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    long_ago = utcnow() - timedelta(days=400)
    with db.session() as session:
        items = list(session.scalars(select(Item)))
        tombstone_items(session, [i.id for i in items], now=long_ago)
        for item in items:
            session.delete(item)
    route.update(rss(undated[:1]))  # story-0 is still served, story-1 has left the feed
    summary = poll(db, settings)
    assert summary.items_new == 0
    refreshed, gone = tombstone_ages(db)[0], tombstone_ages(db)[-1]
    assert refreshed < timedelta(minutes=5) and gone > timedelta(days=399)
    with db.session() as session:
        result = prune(session, settings, older_than=30 * 86400, now=utcnow())
    # story-0's tombstones stay however short the retention; story-1's have expired
    assert result.old_tombstones > 0
    assert all(age < timedelta(minutes=5) for age in tombstone_ages(db))
    route.update(rss(undated))
    assert poll(db, settings).items_new == 1  # story-1, gone for 400 days, is new again
    assert count_items(db) == 1


def test_a_short_retention_does_not_expire_recent_tombstones(db, settings, feed_server: FeedServer) -> None:
    route = feed_server.add("/a.xml", Feed(rss([replace(e, published=None) for e in entries(2)])))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    later = utcnow() + timedelta(days=2)
    with db.session() as session:
        session.execute(update(Item).values(first_seen_at=utcnow() - timedelta(days=1)))
    with db.session() as session:
        assert prune(session, settings, older_than=0, now=utcnow()).items == 2
    route.update(rss([]))  # out of the feed for a while: nothing moves the tombstones on
    poll(db, settings)
    with db.session() as session:
        assert prune(session, settings, older_than=86400, now=later).old_tombstones == 0
    route.update(rss([replace(e, published=None) for e in entries(2)]))
    assert poll(db, settings).items_new == 0


def test_item_older_than_max_age_is_stored_but_marked_stale(database_url, feed_server: FeedServer) -> None:
    from conftest import make_settings

    settings = make_settings(database_url, max_item_age="2d")
    db = Database(database_url)
    old = [Entry(title="Archive piece", link="https://news.example/old", guid="old",
                 published=NOW - timedelta(days=30)),
           Entry(title="Today piece", link="https://news.example/new", guid="new", published=NOW)]
    feed_server.add("/a.xml", Feed(rss(old)))
    add(db, settings, feed_server.url("/a.xml"))
    poll(db, settings)
    with db.session() as session:
        flags = dict(session.execute(select(Item.guid, Item.is_stale)).all())
    assert flags == {"old": True, "new": False}
    db.dispose()


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_updates_the_stored_feed_url(db, settings, feed_server: FeedServer, status: int) -> None:
    feed_server.add("/new.xml", Feed(rss(entries(1))))
    feed_server.add("/old.xml", Redirect("/new.xml", status=status))
    feed_id = add(db, settings, feed_server.url("/old.xml"))
    poll(db, settings)
    assert feed_row(db, feed_id).url == feed_server.url("/new.xml")


def test_temporary_redirect_keeps_the_feed_url(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/new.xml", Feed(rss(entries(1))))
    feed_server.add("/old.xml", Redirect("/new.xml", status=302))
    feed_id = add(db, settings, feed_server.url("/old.xml"))
    assert poll(db, settings).items_new == 1
    assert feed_row(db, feed_id).url == feed_server.url("/old.xml")


def test_gone_feed_is_disabled_with_a_visible_reason(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/gone.xml", Status(410))
    feed_id = add(db, settings, feed_server.url("/gone.xml"))
    poll(db, settings)
    row = feed_row(db, feed_id)
    assert not row.enabled and row.status == "disabled" and "410" in (row.disabled_reason or "")
    assert poll(db, settings).feeds == 0  # disabled feeds are not polled


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(db, settings, feed_server: FeedServer, status: int) -> None:
    feed_server.add("/busy.xml", Status(status, headers={"Retry-After": "7200"}))
    feed_id = add(db, settings, feed_server.url("/busy.xml"))
    before = utcnow()
    poll(db, settings)
    row = feed_row(db, feed_id)
    assert row.next_poll_at >= before + timedelta(seconds=7200)
    assert row.retry_after_until is not None and row.status == "failing"


def test_retry_after_http_date_is_capped_at_a_day(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/busy.xml", Status(429, headers={"Retry-After": http_date(NOW + timedelta(days=9))}))
    feed_id = add(db, settings, feed_server.url("/busy.xml"))
    poll(db, settings)
    wait = feed_row(db, feed_id).next_poll_at - utcnow()
    assert timedelta(hours=23) < wait <= timedelta(hours=24)


def test_server_errors_back_off_exponentially_and_stay_visible(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/broken.xml", Status(500))
    feed_id = add(db, settings, feed_server.url("/broken.xml"))
    waits = []
    for _ in range(3):
        poll(db, settings)
        row = feed_row(db, feed_id)
        waits.append((row.next_poll_at - row.last_polled_at).total_seconds())
    assert waits[1] > waits[0] * 1.5 and waits[2] > waits[1] * 1.5
    assert row.consecutive_failures == 3 and row.last_error.startswith("HTTP 500") and row.enabled


def test_backoff_never_stops_probing_a_dead_feed(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/broken.xml", Status(500))
    feed_id = add(db, settings, feed_server.url("/broken.xml"))
    with db.session() as session:
        session.get(FeedRow, feed_id).consecutive_failures = 40
    poll(db, settings)
    row = feed_row(db, feed_id)
    assert row.enabled and row.next_poll_at - row.last_polled_at <= timedelta(hours=24)


def test_hanging_feed_times_out_and_the_others_are_stored(database_url, feed_server: FeedServer) -> None:
    from conftest import make_settings

    base = make_settings(database_url)
    settings = replace(base, http=replace(base.http, timeout=1.0, connect_timeout=1.0))
    db = Database(database_url)
    feed_server.add("/hang.xml", Hang())
    feed_server.add("/ok.xml", Feed(rss(entries(2))))
    hang = add(db, settings, feed_server.url("/hang.xml"))
    add(db, settings, feed_server.url("/ok.xml"))
    summary = poll(db, settings)
    assert (summary.errors, summary.items_new) == (1, 2)
    assert "no complete response within 1 s" in (feed_row(db, hang).last_error or "")
    db.dispose()


def test_malformed_feed_records_a_clear_error_and_the_poll_goes_on(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/page.xml", Feed(b"<html><body><h1>Service unavailable</h1><p>try later", content_type="text/html"))
    feed_server.add("/ok.xml", Feed(rss(entries(2))))
    bad = add(db, settings, feed_server.url("/page.xml"))
    add(db, settings, feed_server.url("/ok.xml"))
    summary = poll(db, settings)
    assert (summary.errors, summary.items_new) == (1, 2)
    row = feed_row(db, bad)
    assert row.status == "failing" and "not a feed" in (row.last_error or "")


def test_bozo_feed_with_usable_entries_is_accepted(db, settings, feed_server: FeedServer) -> None:
    body = rss(entries(2)).replace(b"Text of story 0.", b"Text &nbsp; of story 0 &undefinedentity;")
    feed_server.add("/bozo.xml", Feed(body))
    feed_id = add(db, settings, feed_server.url("/bozo.xml"))
    summary = poll(db, settings)
    assert (summary.errors, summary.items_new) == (0, 2)
    row = feed_row(db, feed_id)
    assert row.status == "ok" and (row.last_error or "").startswith("malformed but usable")


def test_feed_ttl_sets_a_minimum_interval(database_url, feed_server: FeedServer) -> None:
    from conftest import make_settings

    settings = make_settings(database_url, min_interval="1m", default_interval="5m")
    db = Database(database_url)
    feed_server.add("/slow.xml", Feed(rss(entries(30), ttl=180)))  # <ttl> in minutes: 3 hours
    feed_id = add(db, settings, feed_server.url("/slow.xml"))
    poll(db, settings)  # 30 of 30 new would shorten the interval, but the feed asks for 3 h
    row = feed_row(db, feed_id)
    assert row.ttl == 3 * 3600 and row.interval >= 3 * 3600
    db.dispose()


def test_interval_shortens_when_most_items_are_new_and_lengthens_when_seen(db, settings,
                                                                           feed_server: FeedServer) -> None:
    route = feed_server.add("/a.xml", Feed(rss(entries(10))))
    feed_id = add(db, settings, feed_server.url("/a.xml"))
    start = feed_row(db, feed_id).interval
    poll(db, settings)
    shorter = feed_row(db, feed_id).interval
    assert shorter < start
    route.update(rss(entries(10)) + b" ")  # same entries, new bytes: parsed, nothing new
    poll(db, settings)
    assert feed_row(db, feed_id).interval > shorter


def test_only_due_feeds_are_polled(db, settings, feed_server: FeedServer) -> None:
    feed_server.add("/a.xml", Feed(rss(entries(1))))
    add(db, settings, feed_server.url("/a.xml"))
    first = asyncio.run(poll_once(db, settings))
    second = asyncio.run(poll_once(db, settings))
    assert (first.feeds, second.feeds) == (1, 0)
