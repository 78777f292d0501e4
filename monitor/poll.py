"""One polling pass: claim due feeds, fetch them politely, parse off the event loop, store.

Each feed's outcome (its items and its new schedule, validators and health) is committed in
one transaction, so a crash mid-poll loses nothing already committed and the next poll neither
re-adds nor skips anything. Feeds are claimed with a lease, so several workers sharing one
PostgreSQL never poll the same feed at once, and a crashed worker's feeds come back when the
lease expires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from typing import Callable, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.database import Database
from monitor.errors import FeedParseError, FetchError
from monitor.fetch import Fetcher, FetchResult, FetchSettings, Validators
from monitor.models import Feed
from monitor.normalise import FeedMeta, NormalisedItem, parse_and_normalise
from monitor.schedule import IntervalBounds, adapt_interval, error_backoff, jittered, retry_after_delay
from monitor.store import StoreOutcome, store_entries

logger = logging.getLogger(__name__)

ERROR_TEXT_LIMIT = 500


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class FeedTask:
    """What polling needs to know about a feed, read when it was claimed."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None

    @classmethod
    def of(cls, feed: Feed) -> FeedTask:
        return cls(feed.id, feed.name, feed.url, feed.etag, feed.last_modified, feed.body_hash)


@dataclass
class PollSummary:
    feeds: int = 0
    fetched: int = 0          # 200 with a new body, parsed
    not_modified: int = 0     # 304
    unchanged: int = 0        # 200 with the same body as last time: not parsed
    errors: int = 0
    gone: int = 0             # 410: disabled (also counted in errors)
    items_new: int = 0
    items_duplicate: int = 0
    items_updated: int = 0
    hits: int = 0
    seconds: float = 0.0
    new_item_ids: list[int] = field(default_factory=list)
    fetch_seconds: list[float] = field(default_factory=list)  # network time of each answered fetch

    def as_dict(self) -> dict[str, float | int]:
        data = asdict(self)
        data.pop("new_item_ids")
        data.pop("fetch_seconds")
        data["seconds"] = round(self.seconds, 3)
        return data


def fetch_settings(settings: Settings) -> FetchSettings:
    h = settings.http
    return FetchSettings(user_agent=h.user_agent, connect_timeout=h.connect_timeout, total_timeout=h.timeout,
                         max_bytes=h.max_response_bytes, max_connections=h.max_connections,
                         per_host=h.per_host, host_min_gap=h.host_min_gap)


def claim_feeds(db: Database, settings: Settings, *, owner: str, now: datetime, due_only: bool = True,
                names: Sequence[str] = (), limit: int | None = None) -> list[FeedTask]:
    """Lease feeds to this worker: the due ones (or the named ones, or all with due_only=False).

    Rows locked by another worker are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite
    has one writer at a time anyway) and so are feeds under a live lease.
    """
    lease_until = now + timedelta(seconds=settings.polling.lease)
    with db.session() as session:
        query = (select(Feed).where(Feed.enabled.is_(True))
                 .where(or_(Feed.lease_until.is_(None), Feed.lease_until < now))
                 .order_by(Feed.next_poll_at, Feed.id)
                 .with_for_update(skip_locked=True))
        if names:
            query = query.where(or_(Feed.name.in_(names), Feed.url.in_(names)))
        elif due_only:
            query = query.where(Feed.next_poll_at <= now)
        if limit:
            query = query.limit(limit)
        feeds = list(session.scalars(query))
        for feed in feeds:
            feed.lease_owner, feed.lease_until = owner, lease_until
        return [FeedTask.of(f) for f in feeds]


def parse_pool(workers: int) -> ProcessPoolExecutor | None:
    """Processes for parsing (CPU-bound), or None to parse in a thread when one would do."""
    if workers <= 1:
        return None
    # forkserver: children never inherit the event loop's threads and sockets.
    return ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))


def release_leases(db: Database, owner: str) -> None:
    """Give back every lease this worker holds (clean shutdown)."""
    with db.session() as session:
        session.execute(update(Feed).where(Feed.lease_owner == owner)
                        .values(lease_owner=None, lease_until=None))


class Poller:
    """Polls claimed feeds with one shared Fetcher; writes go through one thread at a time."""

    def __init__(self, db: Database, settings: Settings, *, executor: Executor | None = None,
                 owner: str | None = None, rng: random.Random | None = None,
                 on_feed_done: Callable[[FeedTask], None] | None = None,
                 on_items_stored: Callable[[Session, list[int], datetime], int | None] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.executor = executor
        self.owner = owner or worker_identity()
        self.rng = rng or random.Random()
        self.on_feed_done = on_feed_done
        # Called inside the storing transaction with the new and updated item ids: the match
        # step hooks in here, so no item is ever stored without being matched.
        self.on_items_stored = on_items_stored
        self._write_lock = asyncio.Lock()

    async def poll(self, tasks: Sequence[FeedTask], fetcher: Fetcher | None = None) -> PollSummary:
        summary = PollSummary(feeds=len(tasks))
        started = time.monotonic()
        if fetcher is None:
            async with Fetcher(fetch_settings(self.settings)) as own:
                await asyncio.gather(*(self._poll_one(t, own, summary) for t in tasks))
        else:
            await asyncio.gather(*(self._poll_one(t, fetcher, summary) for t in tasks))
        summary.seconds = time.monotonic() - started
        return summary

    async def _poll_one(self, task: FeedTask, fetcher: Fetcher, summary: PollSummary) -> None:
        try:
            await self._poll_feed(task, fetcher, summary)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must cost one feed's poll, never the whole pass
            logger.exception("feed %s: unexpected error while polling", task.name)
            summary.errors += 1
            await self._write(self._record_failure, task, f"internal error: {exc!r}", None)
        finally:
            if self.on_feed_done:
                self.on_feed_done(task)

    async def _poll_feed(self, task: FeedTask, fetcher: Fetcher, summary: PollSummary) -> None:
        try:
            result = await fetcher.fetch(task.url, Validators(task.etag, task.last_modified))
        except FetchError as exc:
            logger.warning("feed %s: %s", task.name, exc)
            summary.errors += 1
            await self._write(self._record_failure, task, str(exc), None)
            return
        summary.fetch_seconds.append(result.elapsed)
        status = result.status
        if status == 304:
            summary.not_modified += 1
            await self._write(self._record_success, task, result, None, None)
        elif 200 <= status < 300:
            if result.body_sha256 and result.body_sha256 == task.body_hash:
                summary.unchanged += 1
                await self._write(self._record_success, task, result, None, None)
                return
            try:
                meta, items = await self._parse(result)
            except FeedParseError as exc:
                logger.warning("feed %s: %s", task.name, exc)
                summary.errors += 1
                await self._write(self._record_failure, task, str(exc), result)
                return
            if meta.bozo:
                logger.info("feed %s: malformed but usable (%s)", task.name, meta.bozo_reason)
            outcome = await self._write(self._record_success, task, result, meta, items)
            summary.fetched += 1
            summary.items_new += outcome.new
            summary.items_duplicate += outcome.duplicates + outcome.pruned
            summary.items_updated += outcome.updated
            summary.hits += outcome.hits
            summary.new_item_ids.extend(outcome.new_item_ids)
            logger.info("feed %s: %d entries, %d new, %d already stored", task.name, len(items),
                        outcome.new, outcome.duplicates + outcome.updated + outcome.pruned)
        elif status == 410:
            summary.errors += 1
            summary.gone += 1
            logger.warning("feed %s: HTTP 410 Gone, disabling it", task.name)
            await self._write(self._record_gone, task, result)
        else:
            summary.errors += 1
            logger.warning("feed %s: HTTP %d", task.name, status)
            await self._write(self._record_failure, task, f"HTTP {status}", result)

    async def _parse(self, result: FetchResult) -> tuple[FeedMeta, list[NormalisedItem]]:
        assert result.body is not None
        work = functools.partial(parse_and_normalise, result.body, url=result.final_url,
                                 headers=dict(result.headers))
        loop = asyncio.get_running_loop()
        # Parsing is CPU-bound: a process pool uses every core; without one, a thread at least
        # keeps the event loop answering while a large feed parses.
        return await loop.run_in_executor(self.executor, work)

    async def _write(self, fn: Callable[..., StoreOutcome | None], task: FeedTask, *args: object) -> StoreOutcome:
        async with self._write_lock:
            return await asyncio.to_thread(self._transaction, fn, task, *args)

    def _transaction(self, fn: Callable[..., StoreOutcome | None], task: FeedTask, *args: object) -> StoreOutcome:
        for attempt in (1, 2):
            try:
                with self.db.session() as session:
                    feed = session.get(Feed, task.id)
                    if feed is None:  # removed while we were fetching
                        return StoreOutcome()
                    outcome = fn(session, feed, self.clock(), *args) or StoreOutcome()
                    feed.lease_owner, feed.lease_until = None, None
                    return outcome
            except IntegrityError:
                # Another worker stored the same story a moment ago: run again, and the
                # lookups now find its row and record this feed as one more source.
                if attempt == 2:
                    raise
                logger.info("feed %s: concurrent insert of the same story, retrying", task.name)
        raise AssertionError("unreachable")

    # -- state transitions (run inside the transaction) -----------------------------------

    def _bounds(self, feed: Feed) -> IntervalBounds:
        p = self.settings.polling
        return IntervalBounds(floor=p.min_interval, ceiling=p.max_interval,
                              feed_minimum=float(feed.ttl) if feed.ttl else None)

    def _record_success(self, session: Session, feed: Feed, now: datetime, result: FetchResult,
                        meta: FeedMeta | None, items: list[NormalisedItem] | None) -> StoreOutcome:
        outcome = StoreOutcome()
        if result.permanent_redirect and result.permanent_redirect != feed.url:
            self._move(session, feed, result.permanent_redirect, result.status)
        feed.etag, feed.last_modified = result.etag, result.last_modified
        if result.body_sha256:
            feed.body_hash = result.body_sha256
        if meta is not None:
            # The stricter of the feed's <ttl> and the response's max-age is its own minimum.
            feed_minimum = max(filter(None, [result.max_age, meta.ttl_seconds]), default=None)
            feed.ttl = int(feed_minimum) if feed_minimum else None
            if meta.title:
                feed.title = meta.title[:1000]
            if meta.link:
                feed.site_url = meta.link
            backlog = feed.first_success_at is None
            outcome = store_entries(session, feed, items or [], now=now, backlog=backlog,
                                    max_item_age=self.settings.polling.max_item_age)
            if outcome.new_item_ids:
                feed.last_new_item_at = now
            changed = outcome.new_item_ids + outcome.updated_item_ids
            if changed and self.on_items_stored:
                session.flush()
                outcome.hits = self.on_items_stored(session, changed, now) or 0
        if feed.first_success_at is None:
            feed.first_success_at = now
        total = len(items) if items is not None else 0
        if feed.interval_override:
            # The operator's fixed interval wins over our bounds, not over the feed's own ttl.
            feed.interval = max(feed.interval_override, feed.ttl or 0)
        else:
            feed.interval = int(adapt_interval(feed.interval, new_entries=outcome.new, total_entries=total,
                                               bounds=self._bounds(feed)))
        feed.next_poll_at = now + timedelta(seconds=jittered(feed.interval, self.rng))
        if meta is not None:
            feed.last_error = f"malformed but usable: {meta.bozo_reason}"[:ERROR_TEXT_LIMIT] if meta.bozo else None
        elif feed.consecutive_failures:
            feed.last_error = None  # recovered; otherwise a 304 keeps the last parse's note
        feed.last_polled_at = feed.last_success_at = now
        feed.last_status = result.status
        feed.consecutive_failures = 0
        feed.retry_after_until = None
        return outcome

    def _record_failure(self, session: Session, feed: Feed, now: datetime, message: str,
                        result: FetchResult | None) -> None:
        p = self.settings.polling
        feed.consecutive_failures += 1
        feed.last_polled_at = feed.last_error_at = now
        feed.last_error = message[:ERROR_TEXT_LIMIT]
        feed.last_status = result.status if result else None
        if result is not None and result.status in (429, 503):
            delay = retry_after_delay(result.retry_after, now, cap=p.max_backoff,
                                      fallback=error_backoff(feed.interval, feed.consecutive_failures,
                                                             cap=p.max_backoff, rng=self.rng))
            feed.retry_after_until = now + timedelta(seconds=delay)
            if result.retry_after:
                feed.last_error = f"{message} (Retry-After: waiting {int(delay)} s)"[:ERROR_TEXT_LIMIT]
        else:
            delay = error_backoff(feed.interval, feed.consecutive_failures, cap=p.max_backoff, rng=self.rng)
        feed.next_poll_at = now + timedelta(seconds=delay)

    def _record_gone(self, session: Session, feed: Feed, now: datetime, result: FetchResult) -> None:
        feed.enabled = False
        feed.disabled_reason = ("HTTP 410 Gone: the publisher removed this feed; find its new address, "
                                "or `monitor feeds enable` it to try again")
        feed.last_polled_at = feed.last_error_at = now
        feed.last_status = 410
        feed.last_error = "HTTP 410 Gone"
        feed.consecutive_failures += 1

    def _move(self, session: Session, feed: Feed, new_url: str, status: int) -> None:
        clash = session.scalar(select(Feed).where(Feed.url == new_url, Feed.id != feed.id))
        if clash is not None:
            logger.warning("feed %s: permanently redirected to %s, which is already monitored as %s; "
                           "remove one of them", feed.name, new_url, clash.name)
            return
        logger.warning("feed %s: permanently redirected, URL updated from %s to %s",
                       feed.name, feed.url, new_url)
        feed.url = new_url


async def poll_once(db: Database, settings: Settings, *, names: Sequence[str] = (), due_only: bool = True,
                    clock: Callable[[], datetime] = utcnow, on_claimed: Callable[[int], None] | None = None,
                    on_feed_done: Callable[[FeedTask], None] | None = None,
                    on_items_stored: Callable[[Session, list[int], datetime], int | None] | None = None
                    ) -> PollSummary:
    """Claim the due (or named, or all) feeds, poll them once with a parse pool, return the summary."""
    owner = worker_identity()
    tasks = await asyncio.to_thread(claim_feeds, db, settings, owner=owner, now=clock(), names=names,
                                    due_only=due_only)
    if on_claimed:
        on_claimed(len(tasks))
    executor = parse_pool(min(settings.polling.effective_parse_workers(), len(tasks)))
    try:
        poller = Poller(db, settings, executor=executor, owner=owner, clock=clock, on_feed_done=on_feed_done,
                        on_items_stored=on_items_stored)
        return await poller.poll(tasks)
    finally:
        if executor is not None:
            executor.shutdown()
