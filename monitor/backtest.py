"""`monitor rules backtest`: what the current rules would have matched among stored items.

Reads only: nothing is recorded and nothing is alerted, so operators can try a rule change
against weeks of real items before it goes live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.match import item_document
from monitor.models import Feed, Item
from monitor.rules import Matcher, TermMatch

BATCH = 500


@dataclass(frozen=True)
class BacktestHit:
    item_id: int
    watch: str
    priority: str
    title: str
    url: str | None
    feed: str | None
    published_at: datetime
    terms: tuple[TermMatch, ...]

    def as_dict(self) -> dict[str, object]:
        return {"item_id": self.item_id, "watch": self.watch, "priority": self.priority, "title": self.title,
                "url": self.url, "feed": self.feed, "published_at": self.published_at.isoformat(),
                "terms": list(dict.fromkeys(t.term for t in self.terms))}


def backtest(session: Session, matcher: Matcher, *, since: datetime, watch: str | None = None
             ) -> Iterator[BacktestHit]:
    """Match every item first seen since `since`, newest first, in batches (bounded memory)."""
    query = (select(Item, Feed.title, Feed.name).outerjoin(Feed, Feed.id == Item.feed_id)
             .where(Item.first_seen_at >= since).order_by(Item.published_at.desc(), Item.id.desc()))
    for item, feed_title, feed_name in session.execute(query.execution_options(yield_per=BATCH)):
        for hit in matcher.match(item_document(item, feed_title or feed_name)):
            if watch is None or hit.watch == watch:
                yield BacktestHit(item.id, hit.watch, hit.priority, item.title, item.url, feed_name,
                                  item.published_at, hit.terms)
