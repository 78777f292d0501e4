"""`monitor feeds check URL`: fetch and parse one feed and report what would be stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.config import Settings
from monitor.errors import FeedParseError, FetchError
from monitor.fetch import Fetcher
from monitor.normalise import FeedMeta, NormalisedItem, parse_and_normalise
from monitor.poll import fetch_settings
from monitor.store import entry_keys
from monitor.tables import render_table


@dataclass
class FeedCheckReport:
    url: str
    final_url: str | None = None
    status: int | None = None
    error: str | None = None
    meta: FeedMeta | None = None
    items: list[NormalisedItem] = field(default_factory=list)
    duplicates_in_feed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url, "final_url": self.final_url, "status": self.status, "ok": self.ok,
            "error": self.error, "notes": self.notes,
            "feed": None if self.meta is None else {
                "title": self.meta.title, "link": self.meta.link, "language": self.meta.language,
                "ttl_seconds": self.meta.ttl_seconds, "malformed": self.meta.bozo,
                "malformed_reason": self.meta.bozo_reason, "entries": self.meta.entry_count},
            "items": [{"title": i.title, "url": i.url, "canonical_url": i.canonical_url, "guid": i.guid,
                       "published_at": i.published_at.isoformat() if i.published_at else None,
                       "author": i.author, "language": i.language, "tags": list(i.tags),
                       "summary": i.summary_text[:300]} for i in self.items],
        }

    def render(self) -> str:
        lines = [f"feed:    {self.url}"]
        if self.final_url and self.final_url != self.url:
            lines.append(f"final:   {self.final_url}")
        if self.status is not None:
            lines.append(f"status:  HTTP {self.status}")
        if self.error:
            lines.append(f"error:   {self.error}")
            return "\n".join(lines)
        assert self.meta is not None
        lines += [f"title:   {self.meta.title or '-'}", f"language: {self.meta.language or '-'}",
                  f"entries: {self.meta.entry_count} ({len(self.items)} usable, "
                  f"{self.duplicates_in_feed} repeated inside the feed)"]
        lines += [f"note:    {n}" for n in self.notes]
        lines.append("")
        lines.append(render_table(
            ["PUBLISHED", "TITLE", "LINK"],
            [(i.published_at.strftime("%Y-%m-%d %H:%M") if i.published_at else "(none: first seen)",
              i.title, i.canonical_url or i.url) for i in self.items], max_width=70))
        return "\n".join(lines)


async def check_feed(settings: Settings, url: str) -> FeedCheckReport:
    """Fetch and parse `url` the way a poll would; store nothing."""
    report = FeedCheckReport(url=url)
    try:
        async with Fetcher(fetch_settings(settings)) as fetcher:
            result = await fetcher.fetch(url)
    except FetchError as exc:
        report.error = str(exc)
        return report
    report.final_url, report.status = result.final_url, result.status
    if result.permanent_redirect:
        report.notes.append(f"permanently redirected: add {result.permanent_redirect} instead")
    if result.body is None or not 200 <= result.status < 300:
        report.error = f"HTTP {result.status}: no feed to parse"
        return report
    try:
        report.meta, items = parse_and_normalise(result.body, url=result.final_url, headers=dict(result.headers))
    except FeedParseError as exc:
        report.error = str(exc)
        return report
    seen: set[str] = set()
    for item in items:
        keys = set(entry_keys(item).values())
        if keys & seen:
            report.duplicates_in_feed += 1
            continue
        seen |= keys
        report.items.append(item)
    if report.meta.bozo:
        report.notes.append(f"malformed but usable: {report.meta.bozo_reason}")
    if items and not any(i.published_at for i in items):
        report.notes.append("no entry carries a date: items will be dated when first seen")
    if items and not any(i.guid for i in items):
        report.notes.append("no entry has a GUID: duplicates are detected by link and content")
    return report
