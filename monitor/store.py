"""Store a feed's normalised entries exactly once.

Deduplication works in layers, because real feeds break every single-key scheme:
1. per feed, by any of the entry's keys — GUID, canonical link, content hash — so feeds with
   missing or unstable GUIDs still dedupe on link or content;
2. across feeds, by canonical URL: the story is stored once and each outlet recorded as a source;
3. tombstones: keys of pruned items, so an entry still in a feed never comes back as new
   (each lasts as long as some feed still serves its entry, see retention.prune).

The hot path uses bulk Core statements (a handful of queries per feed, not per entry): a cold
poll of thousands of entries is bound by parsing, not by the database.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.models import Feed, Item, ItemKey, ItemSource, Tombstone
from monitor.normalise import NormalisedItem

logger = logging.getLogger(__name__)

# How stale a tombstone's `seen_at` may get before a poll that still finds its entry moves
# it on (retention keeps a tombstone far longer than this after it was last seen).
TOMBSTONE_REFRESH = timedelta(days=1)


@dataclass
class StoreOutcome:
    """What storing one poll's entries did."""

    new_item_ids: list[int] = field(default_factory=list)
    updated_item_ids: list[int] = field(default_factory=list)
    duplicates: int = 0       # already stored (this feed or another), unchanged
    pruned: int = 0           # seen before, pruned since (tombstoned): ignored
    hits: int = 0             # recorded by the match step in the same transaction

    @property
    def new(self) -> int:
        return len(self.new_item_ids)

    @property
    def updated(self) -> int:
        return len(self.updated_item_ids)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def identifying_url(canonical: str | None) -> str | None:
    """The canonical URL if it can tell stories apart; a bare home page cannot."""
    if not canonical:
        return None
    parts = urlsplit(canonical)
    if parts.path in ("", "/") and not parts.query:
        return None
    return canonical


def entry_keys(item: NormalisedItem) -> dict[str, str]:
    """The entry's dedup keys by kind (guid, link, hash), each hashed to a fixed length."""
    keys: dict[str, str] = {}
    if item.guid:
        keys["guid"] = sha256_hex("guid:" + item.guid)
    url = identifying_url(item.canonical_url)
    if url:
        keys["link"] = sha256_hex("link:" + url)
    keys["hash"] = sha256_hex("hash:" + item.content_hash)
    return keys


def feed_tombstone(feed_id: int, key_hash: str) -> str:
    return sha256_hex(f"{feed_id}/{key_hash}")


def url_tombstone(canonical_url: str) -> str:
    return sha256_hex("url/" + canonical_url)


@dataclass
class _Stored:
    """The versions of a story seen so far (its text as stored, and entries folded into it)."""

    titles: set[str]
    hashes: set[str]

    @classmethod
    def of(cls, title: str, content_hash: str) -> _Stored:
        return cls({_fold(title)}, {content_hash})

    def add(self, item: NormalisedItem) -> None:
        self.titles.add(_fold(item.title))
        self.hashes.add(item.content_hash)


def _same_story(stored: _Stored, item: NormalisedItem) -> bool:
    return item.content_hash in stored.hashes or _fold(item.title) in stored.titles


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def store_entries(session: Session, feed: Feed, items: Sequence[NormalisedItem], *, now: datetime,
                  max_item_age: float, backlog: bool) -> StoreOutcome:
    """Insert the entries not stored yet, record sources and keys, update changed ones.

    `backlog` marks every new item as a first-poll backlog item. Runs inside the caller's
    transaction (the feed's new state is committed together with its items).
    """
    outcome = StoreOutcome()
    if not items:
        return outcome
    keyed = [(item, entry_keys(item)) for item in items]
    all_keys = {k for _, keys in keyed for k in keys.values()}
    urls = {u for item, _ in keyed if (u := identifying_url(item.canonical_url))}

    known = dict(session.execute(
        select(ItemKey.key_hash, ItemKey.item_id)
        .where(ItemKey.feed_id == feed.id, ItemKey.key_hash.in_(all_keys))).all())
    by_url = dict(session.execute(
        select(Item.canonical_url, Item.id).where(Item.canonical_url.in_(urls))).all()) if urls else {}
    # Each key's and URL's tombstone, hashed once: looked up for the batch, then per entry.
    key_stones = {k: feed_tombstone(feed.id, k) for k in all_keys}
    url_stones = {u: url_tombstone(u) for u in urls}
    tomb_candidates = set(key_stones.values()) | set(url_stones.values())
    tombstoned = set(session.scalars(
        select(Tombstone.key_hash).where(Tombstone.key_hash.in_(tomb_candidates))).all())
    existing_ids = set(known.values()) | set(by_url.values())
    existing = {row.id: _Stored.of(row.title, row.content_hash) for row in session.execute(
        select(Item.id, Item.title, Item.content_hash).where(Item.id.in_(existing_ids)))} \
        if existing_ids else {}
    sourced = set(session.scalars(
        select(ItemSource.item_id).where(ItemSource.feed_id == feed.id,
                                         ItemSource.item_id.in_(existing_ids)))) if existing_ids else set()

    new_rows: list[dict] = []
    new_keys: list[set[str]] = []     # keys of each new row, parallel to new_rows
    add_keys: dict[str, int] = {}     # key -> existing item id
    add_sources: dict[int, str | None] = {}
    stale_before = now - timedelta(seconds=max_item_age)
    still_served: set[str] = set()  # tombstones of entries this poll still carries

    # Rows inserted by this batch take part in every lookup under a placeholder id -(index+1),
    # so an entry repeated inside one document is judged exactly like one stored before.
    def remember(item_id: int, keys: Iterable[str]) -> None:
        for k in keys:
            if k in known:
                continue
            known[k] = item_id
            if item_id < 0:
                new_keys[-item_id - 1].add(k)
            else:
                add_keys[k] = item_id

    for item, keys in keyed:
        url = identifying_url(item.canonical_url)
        item_id = _find_same_feed(item, keys, known, existing)
        # The same-feed verdict on a link this feed already uses stands (see _find_same_feed);
        # otherwise a canonical URL stored by another feed is the same story.
        if item_id is None and keys.get("link") not in known:
            if url and url in by_url:
                # Another feed already has the story: one more source, not another item.
                item_id = by_url[url]
                if item_id > 0 and item_id not in sourced:
                    add_sources[item_id] = item.url
                    sourced.add(item_id)
                outcome.duplicates += 1
                existing[item_id].add(item)
                remember(item_id, keys.values())
                continue
        if item_id is not None:
            # Changed text is an update only if this feed never carried this exact text before
            # (its content-hash key): another outlet's version of the story is not an update.
            if item_id > 0 and known.get(keys["hash"]) != item_id:
                _update_item(session, item_id, item, now)
                outcome.updated_item_ids.append(item_id)
            else:
                outcome.duplicates += 1
            existing[item_id].add(item)
            remember(item_id, keys.values())
            continue
        stones = {key_stones[k] for k in keys.values()}
        if url:
            stones.add(url_stones[url])
        if not stones.isdisjoint(tombstoned):
            still_served.update(stones & tombstoned)
            outcome.pruned += 1
            continue
        link_clash = "link" in keys and keys["link"] in known
        published = item.published_at
        new_rows.append({
            "feed_id": feed.id, "guid": item.guid, "url": item.url,
            # A link shared with a different story of this feed identifies nothing.
            "canonical_url": None if link_clash else url,
            "title": item.title, "summary_text": item.summary_text, "summary_html": item.summary_html,
            "content_text": item.content_text, "content_html": item.content_html,
            "author": item.author, "tags": list(item.tags), "language": item.language,
            "published_at": published or now, "published_from_feed": published is not None,
            "first_seen_at": now, "updated_at": None, "content_hash": item.content_hash,
            "is_backlog": backlog, "is_stale": published is not None and published < stale_before,
        })
        placeholder = -len(new_rows)
        new_keys.append(set())
        existing[placeholder] = _Stored.of(item.title, item.content_hash)
        remember(placeholder, (k for kind, k in keys.items() if not (kind == "link" and link_clash)))
        if url and not link_clash:
            by_url[url] = placeholder

    if new_rows:
        ids = list(session.scalars(
            insert(Item).returning(Item.id, sort_by_parameter_order=True), new_rows))
        outcome.new_item_ids = ids
        key_rows = [{"feed_id": feed.id, "key_hash": k, "item_id": item_id}
                    for item_id, ks in zip(ids, new_keys) for k in ks]
        session.execute(insert(ItemKey), key_rows)
        session.execute(insert(ItemSource), [
            {"item_id": item_id, "feed_id": feed.id, "url": row["url"], "first_seen_at": now}
            for item_id, row in zip(ids, new_rows)])
    if add_keys:
        session.execute(insert(ItemKey), [{"feed_id": feed.id, "key_hash": k, "item_id": i}
                                          for k, i in add_keys.items()])
    if add_sources:
        session.execute(insert(ItemSource), [{"item_id": i, "feed_id": feed.id, "url": u, "first_seen_at": now}
                                             for i, u in add_sources.items()])
    if still_served:
        # A tombstone lasts while its entry is still served (see retention.prune); moving it
        # on once a day, not at every poll, keeps a feed's long archive from a write per poll.
        session.execute(update(Tombstone).where(
            Tombstone.key_hash.in_(still_served),
            Tombstone.seen_at < now - TOMBSTONE_REFRESH).values(seen_at=now))
    return outcome


def _find_same_feed(item: NormalisedItem, keys: dict[str, str], known: dict[str, int],
                    existing: dict[int, _Stored]) -> int | None:
    """The stored item this feed entry is, judged by its keys in order of trust."""
    if "guid" in keys and keys["guid"] in known:
        return known[keys["guid"]]
    if "link" in keys and keys["link"] in known:
        item_id = known[keys["link"]]
        row = existing.get(item_id)
        # Same link, new GUID: either the feed regenerates GUIDs (same story) or it gives
        # every entry the same link (different stories). The text tells which.
        if "guid" not in keys or row is None or _same_story(row, item):
            return item_id
    if keys["hash"] in known:
        return known[keys["hash"]]
    return None


def _update_item(session: Session, item_id: int, item: NormalisedItem, now: datetime) -> None:
    values = {"title": item.title, "summary_text": item.summary_text, "summary_html": item.summary_html,
              "content_text": item.content_text, "content_html": item.content_html,
              "content_hash": item.content_hash, "updated_at": now}
    if item.author:
        values["author"] = item.author
    session.execute(update(Item).where(Item.id == item_id).values(**values))


def tombstone_items(session: Session, item_ids: Iterable[int], *, now: datetime) -> int:
    """Write tombstones for every key and canonical URL of these items (before deleting them)."""
    ids = list(item_ids)
    if not ids:
        return 0
    stones = {feed_tombstone(feed_id, key)
              for feed_id, key in session.execute(
                  select(ItemKey.feed_id, ItemKey.key_hash).where(ItemKey.item_id.in_(ids)))}
    stones |= {url_tombstone(url) for url in session.scalars(
        select(Item.canonical_url).where(Item.id.in_(ids), Item.canonical_url.is_not(None)))}
    present = set(session.scalars(select(Tombstone.key_hash).where(Tombstone.key_hash.in_(stones))))
    fresh = [{"key_hash": s, "seen_at": now} for s in stones - present]
    if fresh:
        session.execute(insert(Tombstone), fresh)
    return len(fresh)
