"""Build a digest from one period's hits: stories clustered, grouped by watch, capped, ordered.

Pure: a `DigestRequest` in, a `Digest` out. The caller has already dropped backlog and
over-age hits; everything here is alertable.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.digest.cluster import StoryText, cluster_stories
from monitor.digest.links import safe_link
from monitor.digest.localtime import format_moment, format_period, require_aware, zone
from monitor.digest.model import (
    PRIORITY_ORDER,
    Digest,
    DigestHit,
    DigestRequest,
    HealthLine,
    Story,
    TermSpan,
    WatchSection,
)
from monitor.digest.snippet import body_snippet, highlight_title

logger = logging.getLogger(__name__)

TOP_STORIES = 5            # "a handful"
TOP_MIN_STORIES = 10       # a top section only above this many stories
SUBJECT_LIMIT = 120        # long subjects get cut by mail clients anyway
_RANK = {p: len(PRIORITY_ORDER) - i for i, p in enumerate(PRIORITY_ORDER)}   # critical = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r"\s+")


def build_digest(request: DigestRequest) -> Digest:
    """Return the digest of `request`'s hits.

    Items reporting the same story (same canonical URL or near-duplicate text) are shown
    once per watch, with the other outlets as "also reported by". Watches come highest
    priority first; each shows at most `cap_per_watch` stories, the rest as "+N more" with
    the command to list them. `Digest.hit_ids` lists every hit of the request.

    Raises ConfigError for an unknown time zone, ValueError for naive datetimes or a
    negative cap.
    """
    tz = zone(request.timezone)
    require_aware(request.period_start, "period_start")
    require_aware(request.period_end, "period_end")
    if request.cap_per_watch < 0:
        raise ValueError(f"cap_per_watch must be 0 or more, got {request.cap_per_watch}")
    for hit in request.hits:
        require_aware(hit.published_at, f"published_at of hit {hit.hit_id}")

    hits = _unique_hits(request.hits)
    first_hit: dict[int, DigestHit] = {}
    for hit in hits:
        first_hit.setdefault(hit.item_id, hit)
    story_of = cluster_stories([
        StoryText(item_id=h.item_id, title=h.title, body=h.body,
                  canonical_url=h.canonical_url or h.url, outlet=h.outlet)
        for h in first_hit.values()])

    by_watch: dict[str, list[DigestHit]] = defaultdict(list)
    for hit in hits:
        by_watch[hit.watch_id].append(hit)

    since = _since(request.period_start, request.period_end)
    sections = []
    for watch_id, watch_hits in by_watch.items():
        groups = sorted(_groups(watch_hits, story_of), key=_section_order)
        # Full stories (snippets, links, local times) only for what is shown.
        shown = [_story(g, tz, request.period_end) for g in groups[:request.cap_per_watch]]
        sections.append(WatchSection(
            watch_id=watch_id, watch_title=_one_line(watch_hits[0].watch_title) or watch_id,
            priority=_priority(watch_hits[0].priority), stories=tuple(shown),
            more=len(groups) - len(shown),
            see_all=_more_command(request.more_command, since=since, watch=watch_id,
                                  subscription=request.subscription),
            hit_count=len(watch_hits)))
    sections.sort(key=lambda s: (-_RANK[s.priority], -(len(s.stories) + s.more),
                                 s.watch_title.casefold(), s.watch_id))

    overall = _groups(hits, story_of)
    top: tuple[Story, ...] = ()
    # A digest of a few stories is its own top section; repeating them would only add length.
    if len(overall) > TOP_MIN_STORIES:
        top = tuple(_story(g, tz, request.period_end)
                    for g in sorted(overall, key=_top_order)[:TOP_STORIES])
    counts = {p: 0 for p in PRIORITY_ORDER}
    for group in overall:
        counts[group.priority] += 1

    return Digest(
        subscription=request.subscription,
        period_start=request.period_start, period_end=request.period_end,
        timezone=request.timezone,
        period_text=format_period(request.period_start, request.period_end, tz),
        counts=tuple((p, n) for p, n in counts.items() if n),
        story_count=len(overall), hit_count=len(hits),
        watches_fired=tuple(s.watch_title for s in sections),
        top=top, sections=tuple(sections),
        health=tuple(HealthLine(feed=_one_line(n.feed), problem=_one_line(n.problem),
                                since_text=format_moment(require_aware(n.since, "health since"), tz,
                                                         reference=request.period_end)
                                if n.since else None)
                     for n in request.health),
        hit_ids=tuple(sorted({h.hit_id for h in request.hits})))


def compose_subject(digest: Digest, list_name: str = "monitor", *, limit: int = SUBJECT_LIMIT) -> str:
    """Return "[monitor] 14 new: 3 high — Watch A, Watch B +2 more", at most `limit` characters.

    Watches are named highest priority first while they fit; the rest are counted.
    """
    head = f"[{_one_line(list_name)}] {digest.summary}" if list_name else digest.summary
    titles = list(digest.watches_fired)
    if not titles:
        return _clip(head, limit)
    named: list[str] = []
    for i, title in enumerate(titles):
        rest = len(titles) - i - 1
        tail = f" +{rest} more" if rest else ""
        candidate = f"{head} — {', '.join([*named, title])}{tail}"
        if len(candidate) > limit:
            break
        named.append(title)
    if not named:
        rest = len(titles) - 1
        tail = f" +{rest} more" if rest else ""
        room = limit - len(head) - 3 - len(tail)
        if room < 8:
            return _clip(head, limit)
        return f"{head} — {_clip(titles[0], room)}{tail}"
    rest = len(titles) - len(named)
    return f"{head} — {', '.join(named)}" + (f" +{rest} more" if rest else "")


def _unique_hits(hits: Iterable[DigestHit]) -> list[DigestHit]:
    """One hit per (watch, item): the store guarantees it, but a digest must not repeat a story."""
    seen: set[tuple[str, int]] = set()
    out = []
    for hit in sorted(hits, key=lambda h: h.hit_id):
        key = (hit.watch_id, hit.item_id)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


@dataclass
class _Group:
    """The hits (one watch's, or all watches') of one story, with what ordering needs."""

    story_id: int
    hits: list[DigestHit]
    lead: DigestHit = field(init=False)
    outlets: tuple[str, ...] = field(init=False)
    priority: str = field(init=False)
    watch_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.hits.sort(key=lambda h: (h.published_at, h.item_id))
        self.lead = self.hits[0]
        self.outlets = _outlets(self.lead, self.hits)
        self.priority = max((_priority(h.priority) for h in self.hits), key=_RANK.__getitem__)
        self.watch_count = len({h.watch_id for h in self.hits})


def _groups(hits: Iterable[DigestHit], story_of: dict[int, int]) -> list[_Group]:
    by_story: dict[int, list[DigestHit]] = defaultdict(list)
    for hit in hits:
        by_story[story_of[hit.item_id]].append(hit)
    return [_Group(sid, group) for sid, group in by_story.items()]


def _story(group: _Group, tz: ZoneInfo, reference: datetime) -> Story:
    """The story as shown: the first published item leads, the other outlets listed."""
    hits, lead = group.hits, group.lead
    lead_terms = _merged_terms(h for h in hits if h.item_id == lead.item_id)
    actors: dict[str, None] = {}
    watches: dict[str, None] = {}
    for hit in sorted(hits, key=lambda h: (-_RANK[_priority(h.priority)], h.hit_id)):
        for name in hit.actor_names:
            actors.setdefault(_one_line(name), None)
        watches.setdefault(_one_line(hit.watch_title) or hit.watch_id, None)
    return Story(
        story_id=group.story_id, item_id=lead.item_id,
        title=_one_line(lead.title) or "(untitled)",
        title_segments=highlight_title(lead.title, lead_terms) if lead.title.strip() else (),
        url=safe_link(lead.url) or safe_link(lead.canonical_url),
        outlet=_one_line(lead.outlet) or "unknown outlet",
        also_reported_by=group.outlets,
        published_at=lead.published_at,
        published_text=format_moment(lead.published_at, tz, reference=reference),
        snippet=body_snippet(lead.body, lead_terms),
        actors=tuple(a for a in actors if a),
        priority=group.priority,
        watch_titles=tuple(watches),
        item_ids=tuple(sorted({h.item_id for h in hits})),
        hit_ids=tuple(sorted(h.hit_id for h in hits)))


def _merged_terms(hits: Iterable[DigestHit]) -> tuple[TermSpan, ...]:
    """The terms several watches matched in one item, each span once."""
    seen: dict[tuple[str, int, int], TermSpan] = {}
    for hit in hits:
        for term in hit.terms:
            seen.setdefault((term.field, term.start, term.end), term)
    return tuple(seen.values())


def _outlets(lead: DigestHit, hits: Sequence[DigestHit]) -> tuple[str, ...]:
    """Outlets other than the lead's that carried the story, in the order of `hits`."""
    seen = {_one_line(lead.outlet).casefold()}
    out: list[str] = []
    for hit in hits:
        for name in (hit.outlet, *hit.other_outlets):
            name = _one_line(name)
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                out.append(name)
    return tuple(out)


def _section_order(group: _Group) -> tuple[int, float, int]:
    # Most widely reported first (that is what a cap should keep), then newest.
    return (-len(group.outlets), -group.lead.published_at.timestamp(), group.story_id)


def _top_order(group: _Group) -> tuple[int, int, int, float, int]:
    # Highest priority, then most widely reported (outlets, then watches), then newest.
    return (-_RANK[group.priority], -len(group.outlets), -group.watch_count,
            -group.lead.published_at.timestamp(), group.story_id)


def _priority(value: str) -> str:
    if value in _RANK:
        return value
    logger.warning("unknown priority %r in a hit; shown as normal", value)
    return "normal"


def _since(start: datetime, end: datetime) -> str:
    """The period as a --since duration, rounded up to whole hours ("6h", "1d", "36h")."""
    hours = max(1, math.ceil((end - start).total_seconds() / 3600))
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


class _KeepUnknown(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _more_command(template: str, **values: str) -> str:
    """Fill {since}, {watch} and {subscription} in the caller's command; other braces stay."""
    try:
        return string.Formatter().vformat(template, (), _KeepUnknown(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        logger.warning("more_command %r is not a valid format string; used as is", template)
        return template


@functools.lru_cache(maxsize=4096)
def _one_line(text: str) -> str:
    """Feed text on one line: control characters and whitespace runs become one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(0, limit - 1)].rstrip() + "…"
