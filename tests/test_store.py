"""Deduplication inside one document and against stored items, at the store level."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import func, select

from monitor.database import Database
from monitor.models import Feed, Item, ItemKey
from monitor.normalise import NormalisedItem, content_hash
from monitor.store import store_entries

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def item(guid: str | None, title: str, link: str | None = None, summary: str = "") -> NormalisedItem:
    return NormalisedItem(guid=guid, url=link, canonical_url=link, title=title, summary_text=summary,
                          summary_html=summary, content_text="", content_html="", author=None, tags=(),
                          language="en", published_at=NOW, updated_at=None,
                          content_hash=content_hash(title, summary, ""))


def feed(db: Database, name: str = "f") -> Feed:
    with db.session() as session:
        row = Feed(url=f"https://{name}.example/rss", name=name, tags=[], origin="cli", enabled=True,
                   interval=1800, next_poll_at=NOW, created_at=NOW, consecutive_failures=0)
        session.add(row)
    return row


def store(db: Database, f: Feed, items: list[NormalisedItem]):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return store_entries(session, session.merge(f), items, now=NOW, max_item_age=1e9, backlog=False)


def count(db: Database, model=Item) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_repeated_entry_inside_one_document_is_stored_once(db: Database) -> None:
    f = feed(db)
    a = item("1", "Talks in Moscow", "https://n.example/a")
    outcome = store(db, f, [a, a, replace(a, guid="1-bis")])
    assert (outcome.new, outcome.duplicates) == (1, 2) and count(db) == 1


def test_different_stories_sharing_one_link_in_one_document_stay_apart(db: Database) -> None:
    f = feed(db)
    outcome = store(db, f, [item("1", "Morning briefing", "https://n.example/live"),
                            item("2", "Evening briefing", "https://n.example/live")])
    assert outcome.new == 2 and count(db) == 2
    with db.session() as session:
        urls = set(session.scalars(select(Item.canonical_url)))
    assert urls == {"https://n.example/live", None}  # the second link identifies nothing


def test_new_entry_with_the_text_of_an_updated_one_keeps_keys_unique(db: Database) -> None:
    f = feed(db)
    store(db, f, [item("1", "Old title", "https://n.example/1")])
    # Entry 2 is new; entry 1 is updated to the very same text: both carry one content hash.
    outcome = store(db, f, [item("2", "Same text", "https://n.example/2"),
                            item("1", "Same text", "https://n.example/1")])
    assert (outcome.new, outcome.updated) == (1, 1)
    with db.session() as session:
        keys = session.scalar(select(func.count()).select_from(ItemKey))
        distinct = session.scalar(select(func.count(func.distinct(ItemKey.key_hash))))
    assert keys == distinct


def test_story_from_another_feed_becomes_a_source_not_an_item(db: Database) -> None:
    a, b = feed(db, "a"), feed(db, "b")
    store(db, a, [item("a1", "Envoy visit", "https://wire.example/story")])
    outcome = store(db, b, [item("b1", "Envoy visit (update)", "https://wire.example/story"),
                            item("b2", "Envoy visit (update)", "https://wire.example/story")])
    assert (outcome.new, outcome.duplicates) == (0, 2) and count(db) == 1


def test_two_outlets_versions_of_one_story_do_not_update_each_other(db: Database) -> None:
    a, b = feed(db, "a"), feed(db, "b")
    a_version = item("a1", "Envoy visits Moscow", "https://wire.example/story", "Short wire text.")
    b_version = item("b1", "Envoy in Moscow for talks", "https://wire.example/story", "Longer rewrite.")
    for _ in range(3):  # polls alternate between the outlets; neither version counts as an update
        assert store(db, a, [a_version]).updated == 0
        assert store(db, b, [b_version]).updated == 0
    with db.session() as session:
        assert session.scalar(select(Item.title)) == "Envoy visits Moscow"
    # A real change in one outlet's text is an update.
    assert store(db, b, [replace(b_version, title="Envoy in Moscow for talks (corrected)",
                                 content_hash="changed")]).updated == 1
