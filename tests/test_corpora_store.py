"""Every corpus file goes all the way through parse → normalise → store on each backend."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from test_corpora import FEEDPARSER_TESTS, REAL_FEEDS, feedparser_cases, require, run

from monitor.config import Settings
from monitor.database import Database
from monitor.errors import FeedParseError
from monitor.models import Feed, Item, ItemSource
from monitor.normalise import parse_and_normalise
from monitor.store import store_entries

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)

pytestmark = pytest.mark.corpus


def _feed(session, n: int, url: str) -> Feed:  # type: ignore[no-untyped-def]
    feed = Feed(url=url, name=f"corpus-{n}", tags=[], origin="cli", enabled=True, interval=1800,
                next_poll_at=NOW, created_at=NOW, consecutive_failures=0)
    session.add(feed)
    session.flush()
    return feed


def test_every_corpus_file_is_stored_without_error(db: Database, settings: Settings) -> None:
    require(FEEDPARSER_TESTS)
    require(REAL_FEEDS)
    parsed = []
    for case in feedparser_cases():
        try:
            parsed.append((case.url, run(case)[1]))
        except FeedParseError:
            continue
    for path in sorted(REAL_FEEDS.iterdir()):
        if path.suffix in {".xml", ".rss", ".atom", ".rdf"}:
            parsed.append((f"http://127.0.0.1:8097/real/{path.name}",
                           parse_and_normalise(path.read_bytes(), url=f"http://127.0.0.1:8097/{path.name}")[1]))
    entries = sum(len(items) for _, items in parsed)
    new = 0
    # One transaction per feed, as a poll does; the same store twice must add nothing.
    for rounds in range(2):
        with db.session() as session:
            for n, (url, items) in enumerate(parsed):
                feed = _feed(session, n, url) if rounds == 0 else session.scalar(select(Feed).where(Feed.url == url))
                outcome = store_entries(session, feed, items, now=NOW, max_item_age=7 * 86400, backlog=True)
                new += outcome.new
                if rounds == 1:
                    assert outcome.new == 0, url
    with db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Item))
        sources = session.scalar(select(func.count()).select_from(ItemSource))
    assert stored == new and 0 < stored <= entries
    assert sources >= stored
    assert len(parsed) > 2000
