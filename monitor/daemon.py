"""`monitor run`: the long-running worker. APScheduler ticks; each tick polls the due feeds."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from monitor.config import Settings
from monitor.database import Database
from monitor.fetch import Fetcher
from monitor.match import HitRecorder, RuleReloader
from monitor.models import Feed
from monitor.poll import (Poller, claim_feeds, fetch_settings, parse_pool, release_leases, utcnow,
                          worker_identity)

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 20.0  # seconds in-flight polls get to finish after SIGTERM


def spread_overdue_feeds(db: Database, settings: Settings, rng: random.Random | None = None) -> int:
    """After downtime many feeds are overdue at once: spread them instead of a burst at start."""
    rng = rng or random.Random()
    now = utcnow()
    with db.session() as session:
        overdue = list(session.scalars(select(Feed).where(Feed.enabled.is_(True), Feed.next_poll_at < now)))
        for feed in overdue:
            feed.next_poll_at = now + timedelta(seconds=rng.uniform(0, settings.polling.startup_spread))
    return len(overdue)


class Daemon:
    def __init__(self, db: Database, settings: Settings, recorder: HitRecorder) -> None:
        self.db = db
        self.settings = settings
        self.recorder = recorder
        self.reloader = RuleReloader(settings.rules_paths, recorder)
        self.owner = worker_identity()
        self.stopping = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._deliver_lock = asyncio.Lock()

    async def tick(self, poller: Poller, fetcher: Fetcher) -> None:
        if self.stopping.is_set() or self._tick_lock.locked():
            return
        async with self._tick_lock:
            await asyncio.to_thread(self.reloader.check)
            limit = self.settings.http.max_connections * 4
            tasks = await asyncio.to_thread(claim_feeds, self.db, self.settings, owner=self.owner,
                                            now=utcnow(), limit=limit)
            if not tasks:
                return
            summary = await poller.poll(tasks, fetcher)
            logger.info("polled %d feeds: %d new items, %d errors in %.1f s", summary.feeds,
                        summary.items_new, summary.errors, summary.seconds)

    async def deliver(self) -> None:
        """Build the digests that are due and send what the outbox holds."""
        if self.stopping.is_set() or self._deliver_lock.locked() or not self.settings.subscriptions:
            return
        from monitor.outbox import build_due_digests, send_due_deliveries

        async with self._deliver_lock:
            try:
                built = await asyncio.to_thread(build_due_digests, self.db, self.settings, self.recorder.rules,
                                                now=utcnow())
                counts = await send_due_deliveries(self.db, self.settings, owner=self.owner, now=utcnow())
            except Exception:  # a delivery bug must not stop polling; the outbox keeps the work
                logger.exception("digest or delivery pass failed; retrying at the next tick")
                return
            if built or any(counts.values()):
                logger.info("digests built: %d; deliveries sent %d, to retry %d, failed %d", len(built),
                            counts["sent"], counts["retry"], counts["failed"])

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.reloader.check(force=True))
        moved = await asyncio.to_thread(spread_overdue_feeds, self.db, self.settings)
        if moved:
            logger.info("%d overdue feeds spread over the next %.0f s", moved, self.settings.polling.startup_spread)
        executor = parse_pool(self.settings.polling.effective_parse_workers())
        scheduler = AsyncIOScheduler(timezone="UTC")
        try:
            async with Fetcher(fetch_settings(self.settings)) as fetcher:
                poller = Poller(self.db, self.settings, executor=executor, owner=self.owner,
                                on_items_stored=self.recorder)
                scheduler.add_job(self.tick, "interval", args=[poller, fetcher],
                                  seconds=self.settings.polling.tick, next_run_time=utcnow(),
                                  max_instances=1, coalesce=True, id="poll")
                scheduler.add_job(self.deliver, "interval", seconds=self.settings.polling.tick,
                                  next_run_time=utcnow(), max_instances=1, coalesce=True, id="deliver")
                scheduler.start()
                logger.info("monitor running as %s: polling every %.0f s", self.owner, self.settings.polling.tick)
                await self.stopping.wait()
                logger.info("stopping: finishing in-flight polls (at most %.0f s)", SHUTDOWN_GRACE)
                scheduler.shutdown(wait=False)
                try:
                    async with asyncio.timeout(SHUTDOWN_GRACE):
                        async with self._tick_lock, self._deliver_lock:
                            pass
                except TimeoutError:
                    logger.warning("in-flight polls did not finish in time; their feeds are retried later")
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            await asyncio.to_thread(release_leases, self.db, self.owner)
        logger.info("stopped")
