"""Generate RSS and Atom documents for tests and benchmarks (our own synthetic text)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

WORDS = ("ministry delegation talks ceasefire council resolution envoy statement visit capital "
         "negotiations humanitarian corridor security officials agreement sanctions summit region "
         "hostages release border aid convoy parliament vote draft proposal spokesman briefing").split()


@dataclass
class Entry:
    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None
    categories: list[str] = field(default_factory=list)


def rss(entries: list[Entry], *, title: str = "Test feed", link: str = "https://news.example/",
        ttl: int | None = None) -> bytes:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
             f"<title>{escape(title)}</title><link>{escape(link)}</link><description>test</description>"]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for e in entries:
        parts.append("<item>")
        parts.append(f"<title>{escape(e.title)}</title>")
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.summary:
            parts.append(f"<description>{escape(e.summary)}</description>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        parts += [f"<category>{escape(c)}</category>" for c in e.categories]
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def realistic_feed(feed_no: int, n_items: int = 40, *, seed: int = 0,
                   now: datetime | None = None) -> bytes:
    """A feed the size of a real news feed: ~40 items of 60-200 words of HTML summary."""
    rng = random.Random(seed * 100_003 + feed_no)
    now = now or datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    entries = []
    for i in range(n_items):
        paragraphs = "".join(f"<p>{escape(sentence(rng, rng.randint(20, 60)))}.</p>" for _ in range(rng.randint(2, 4)))
        entries.append(Entry(
            title=f"{sentence(rng, 8).capitalize()} ({feed_no}-{i})",
            link=f"https://outlet{feed_no % 50}.example/news/{feed_no}/{i}?utm_source=rss",
            guid=f"urn:outlet{feed_no}:{i}",
            summary=paragraphs,
            published=now - timedelta(minutes=17 * i + feed_no),
            categories=[rng.choice(WORDS), rng.choice(WORDS)]))
    return rss(entries, title=f"Outlet {feed_no}", link=f"https://outlet{feed_no % 50}.example/")
