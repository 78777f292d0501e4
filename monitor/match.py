"""The match step: run stored items through the compiled watch rules and record hits.

Runs inside the transaction that stores the items, so an item is never stored without being
matched, nor matched twice: one hit per (watch, item) however often the item is updated.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.models import Feed, Hit, Item
from monitor.rules import Document, Matcher, RuleSet, compile_rules, load_rules
from monitor.rules import Hit as RuleHit
from monitor.rules.loading import rule_files_in
from monitor.rules.model import PRIORITY_RANK

logger = logging.getLogger(__name__)



def item_document(item: Item, source: str | None) -> Document:
    """What the matcher sees of a stored item: title, and summary plus content as the body."""
    body = item.summary_text
    if item.content_text and item.content_text != item.summary_text:
        # Many feeds repeat the summary as the content's first paragraph; matching it twice
        # would only double the spans.
        body = item.content_text if item.content_text.startswith(item.summary_text) \
            else f"{item.summary_text}\n\n{item.content_text}".strip()
    return Document(id=str(item.id), title=item.title, body=body, source=source, url=item.url,
                    lang=item.language)


def hit_terms(hit: RuleHit) -> list[dict[str, object]]:
    return [t._asdict() for t in hit.terms]


def match_stored_items(session: Session, matcher: Matcher, item_ids: Sequence[int], *, now: datetime,
                       by_priority: Counter[str] | None = None) -> int:
    """Match these items and insert their hits (skipping watches that hit them before).

    Returns the number of hits recorded; counts them by priority into `by_priority` if given.
    """
    if not item_ids:
        return 0
    rows = session.execute(
        select(Item, Feed.title, Feed.name).outerjoin(Feed, Feed.id == Item.feed_id).where(Item.id.in_(item_ids)))
    already = {tuple(r) for r in session.execute(
        select(Hit.watch_id, Hit.item_id).where(Hit.item_id.in_(item_ids)))}
    new_hits = []
    for item, feed_title, feed_name in rows:
        for hit in matcher.match(item_document(item, feed_title or feed_name)):
            if (hit.watch, item.id) in already:
                continue
            new_hits.append({
                "watch_id": hit.watch, "item_id": item.id, "priority": hit.priority,
                "priority_rank": PRIORITY_RANK.get(hit.priority, 1), "terms": hit_terms(hit),
                "alertable": not (item.is_backlog or item.is_stale), "created_at": now})
    if new_hits:
        session.execute(insert(Hit), new_hits)
        if by_priority is not None:
            by_priority.update(h["priority"] for h in new_hits)
    return len(new_hits)


class HitRecorder:
    """The storing transaction's hook: matches with whichever rules are current.

    The daemon swaps `rules` and `matcher` when rule files change; each feed's transaction
    reads the matcher once, so a reload never tears one feed's items between two rule sets.
    """

    def __init__(self, loaded: tuple[RuleSet, Matcher] | None) -> None:
        self.rules, self.matcher = loaded if loaded else (None, None)
        self.recorded = 0
        self.by_priority: Counter[str] = Counter()  # since start, for metrics

    def __call__(self, session: Session, item_ids: list[int], now: datetime) -> int:
        matcher = self.matcher
        if matcher is None:
            return 0
        recorded = match_stored_items(session, matcher, item_ids, now=now, by_priority=self.by_priority)
        self.recorded += recorded
        return recorded


def shipped_rules_dir() -> Path:
    """The rule set shipped with monitor: the repo's rules/ in a checkout, the packaged copy in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "rules", package / "_rules"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return package.parent / "rules"


def rule_files_present(paths: Iterable[Path]) -> bool:
    return any(p.is_file() or (p.is_dir() and rule_files_in(p)) for p in paths)


def load_matcher(paths: Sequence[Path]) -> tuple[RuleSet, Matcher] | None:
    """Load and compile the rules; None when there are no rule files at all.

    Raises RuleError (file:line:col) when a rule file is invalid.
    """
    if not rule_files_present(paths):
        logger.warning("no rule files in %s: items are stored but not matched",
                       ", ".join(str(p) for p in paths) or "(no rules.paths)")
        return None
    rules = load_rules(paths)
    return rules, compile_rules(rules)


def rule_files_signature(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every rule file: cheap to compute every tick, changes on any edit."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += rule_files_in(p)
        elif p.exists():
            files.append(p)
    sig = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        sig.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(sig)


class RuleReloader:
    """Reloads the rules into a HitRecorder when their files change.

    An invalid change is logged with its file:line:col reason and the last good rules stay
    in force; the broken files are not retried until they change again.
    """

    def __init__(self, paths: Sequence[Path], recorder: HitRecorder) -> None:
        self.paths = list(paths)
        self.recorder = recorder
        self.signature = rule_files_signature(self.paths)
        self.failures = 0
        self.last_error: str | None = None

    def check(self, *, force: bool = False) -> bool:
        """Reload if the files changed (or `force`); True when new rules took effect."""
        signature = rule_files_signature(self.paths)
        if signature == self.signature and not force:
            return False
        self.signature = signature
        from monitor.errors import RuleError

        try:
            if self.recorder.matcher is not None and not rule_files_present(self.paths):
                # Most likely a deploy or checkout caught half-way: dropping every watch would
                # store the news unmatched, so no digest would ever show it.
                raise RuleError(
                    f"{', '.join(map(str, self.paths))} holds no rule files now; put them back "
                    "(to run without watches, keep a rule file that has none)")
            loaded = load_matcher(self.paths)
        except RuleError as exc:
            self.failures += 1
            self.last_error = str(exc)
            logger.error("rule reload failed, keeping the last good rules: %s", exc)
            return False
        self.last_error = None
        self.recorder.rules, self.recorder.matcher = loaded if loaded else (None, None)
        count = len(loaded[0].watches) if loaded else 0
        logger.info("rules reloaded: %d watches in force", count)
        return True
