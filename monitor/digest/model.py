"""The digest's data: what the caller hands in (hits of one period) and what renderers get out.

Inputs (`DigestRequest` and the hits in it) are filled by the database side; outputs (`Digest`
and its stories) are built by `build_digest` and read by the email and Slack renderers. All
are frozen dataclasses: no I/O, no database objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from monitor.rules.model import PRIORITIES, PRIORITY_RANK

# Highest first: the order sections, counts and the subject use.
PRIORITY_ORDER = tuple(reversed(PRIORITIES))  # most urgent first
# How many stories a watch keeps, relative to the others, when a digest must be shortened.
# Share of the space a priority keeps when a digest must shrink: critical 4, high 3, normal 2, low 1.
_WEIGHT = {name: rank + 1 for name, rank in PRIORITY_RANK.items()}


@dataclass(frozen=True)
class TermSpan:
    """One matched term, with offsets in the item's original field text."""

    text: str            # the text as it appears in the field
    term: str            # the alias / term as written in the rule
    actor: str | None    # actor id when the term came from @actor
    field: str           # "title" | "body"
    start: int
    end: int
    theme: str | None = None


@dataclass(frozen=True)
class DigestHit:
    """One hit: one (watch, item) pair, with what the digest shows of the item."""

    hit_id: int
    watch_id: str
    watch_title: str
    priority: str                        # low | normal | high | critical
    item_id: int
    title: str
    body: str                            # summary/content plain text
    url: str | None
    canonical_url: str | None
    outlet: str                          # the item's first outlet (feed title or name)
    other_outlets: tuple[str, ...]       # outlets that carried the same canonical URL
    published_at: datetime               # aware UTC
    terms: tuple[TermSpan, ...]
    actor_names: tuple[str, ...]         # display names of matched actors


@dataclass(frozen=True)
class HealthNote:
    """A feed problem worth a line in the digest (computed by the caller)."""

    feed: str
    problem: str
    since: datetime | None


@dataclass(frozen=True)
class DigestRequest:
    """Everything one digest covers: a subscription's alertable hits of one period."""

    subscription: str
    period_start: datetime               # aware UTC
    period_end: datetime                 # aware UTC
    timezone: str                        # IANA name, e.g. "Europe/Berlin"
    hits: tuple[DigestHit, ...]
    health: tuple[HealthNote, ...] = ()
    cap_per_watch: int = 10
    more_command: str = "monitor rules backtest --since {since} --watch {watch}"


@dataclass(frozen=True)
class Segment:
    """A run of display text; `highlight` marks a matched name or term."""

    text: str
    highlight: bool = False


@dataclass(frozen=True)
class Story:
    """One story: the items (across outlets) that report it, shown once.

    `url` is an http(s) link safe to put in an href or a Slack link (None when the item had
    none, or a scheme other than http/https). `title` and the segments are feed text,
    NOT escaped: each renderer escapes for its own format.
    """

    story_id: int                        # the cluster's id, the same in every section
    item_id: int                         # the item shown (the first published)
    title: str
    title_segments: tuple[Segment, ...]
    url: str | None
    outlet: str
    also_reported_by: tuple[str, ...]
    published_at: datetime               # UTC
    published_text: str                  # in the subscriber's time zone
    snippet: tuple[Segment, ...]
    actors: tuple[str, ...]
    priority: str                        # the highest priority among its hits here
    watch_titles: tuple[str, ...]        # watches it matched (all of them, in the top section)
    item_ids: tuple[int, ...]
    hit_ids: tuple[int, ...]

    @property
    def outlet_count(self) -> int:
        """How many outlets carried the story (the lead outlet included)."""
        return 1 + len(self.also_reported_by)


@dataclass(frozen=True)
class WatchSection:
    """One watch's stories, capped; `more` counts the stories left out."""

    watch_id: str
    watch_title: str
    priority: str
    stories: tuple[Story, ...]
    more: int
    see_all: str                         # the command that lists them all
    hit_count: int


@dataclass(frozen=True)
class HealthLine:
    """A feed-health note ready to print."""

    feed: str
    problem: str
    since_text: str | None


@dataclass(frozen=True)
class Digest:
    """A built digest: what every renderer shows, in order.

    `hit_ids` are ALL the hits the digest covers, those behind "+N more" included, so the
    caller can mark them delivered. `counts` are stories per priority (each story counted once,
    at its highest priority), highest priority first, zero counts left out.
    """

    subscription: str
    period_start: datetime
    period_end: datetime
    timezone: str
    period_text: str
    counts: tuple[tuple[str, int], ...]
    story_count: int
    hit_count: int
    watches_fired: tuple[str, ...]       # watch titles, highest priority first
    top: tuple[Story, ...]
    sections: tuple[WatchSection, ...]
    health: tuple[HealthLine, ...]
    hit_ids: tuple[int, ...]
    sections_left_out: int = 0           # whole watches dropped to fit a size limit
    notes: tuple[str, ...] = ()           # e.g. that it was shortened to fit

    @property
    def subject(self) -> str:
        """The subject line with the default list name, e.g. "[monitor] 14 new: 3 high — …"."""
        from monitor.digest.build import compose_subject  # build imports this module

        return compose_subject(self)

    @property
    def summary(self) -> str:
        """"14 new: 1 critical, 3 high" — the count part of the subject."""
        if not self.story_count:
            return "no new stories"
        urgent = [f"{n} {p}" for p, n in self.counts if p in ("critical", "high")]
        return f"{self.story_count} new" + (": " + ", ".join(urgent) if urgent else "")

    def capped(self, per_watch: int, *, top: int | None = None,
               sections: int | None = None) -> Digest:
        """Return this digest with at most `per_watch` stories per watch (the rest as "+N more").

        `top` limits the top section, `sections` the number of watches shown (the rest are
        counted in `sections_left_out`). Hit ids are unchanged: the digest still covers them.
        """
        return self._keep([min(per_watch, len(s.stories)) for s in self.sections],
                          top=top, sections=sections)

    def with_story_budget(self, budget: int) -> Digest:
        """Return this digest showing `budget` watch-section stories in all, shared by priority.

        Stories are handed out in turns weighted by priority, each watch's best first: for
        every story a low watch keeps, a normal one keeps 2, a high one 3 and a critical one
        4, so a long digest trims the quiet watches hardest. The rest become "+N more".
        """
        slots = sorted(((j + 1) / _WEIGHT.get(s.priority, 2), i, j)
                       for i, s in enumerate(self.sections) for j in range(len(s.stories)))
        keep = [0] * len(self.sections)
        for _, i, _j in slots[:max(0, budget)]:
            keep[i] += 1
        return self._keep(keep)

    def _keep(self, keep: list[int], *, top: int | None = None,
              sections: int | None = None) -> Digest:
        kept = [replace(s, stories=s.stories[:n], more=s.more + len(s.stories) - n)
                for s, n in zip(self.sections, keep)]
        left_out = self.sections_left_out
        if sections is not None and len(kept) > sections:
            left_out += len(kept) - sections
            kept = kept[:sections]
        return replace(self, sections=tuple(kept), sections_left_out=left_out,
                       top=self.top if top is None else self.top[:top])

    @property
    def stories_shown(self) -> int:
        """Stories shown in the watch sections (a story in two watches counts twice)."""
        return sum(len(s.stories) for s in self.sections)


@dataclass(frozen=True)
class RenderedEmail:
    """An email's parts: the subject, the plain-text body and the HTML body."""

    subject: str
    text: str
    html: str
