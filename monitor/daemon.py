"""`monitor run`: the long-running worker.

APScheduler ticks two jobs on one asyncio loop: polling the due feeds, and building due digests
and sending the outbox. Around them: systemd readiness and watchdog (a hung loop stops the
heartbeats and systemd restarts the service), Prometheus metrics, an optional health listener,
and reloads of the configuration and rules on SIGHUP or when their files change — an invalid
change is logged with its reason and the last good version stays in force.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, or_, select, text

from monitor import systemd
from monitor.config import Settings, load_settings
from monitor.database import Database
from monitor.errors import MonitorError
from monitor.fetch import Fetcher
from monitor.health import Check, HealthServer
from monitor.match import HitRecorder, RuleReloader
from monitor.metrics import METRICS
from monitor.models import Delivery, Feed
from monitor.poll import (Poller, PollSummary, claim_feeds, fetch_settings, parse_pool, release_leases, utcnow,
                          worker_identity)
from monitor.registry import sync_configured_feeds

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 20.0      # seconds in-flight polls and sends get to finish after SIGTERM
HEARTBEAT_EVERY = 10.0     # seconds between scheduler heartbeats (watchdog, /readyz)
OUTBOX_STALE_AFTER = 3600  # a delivery overdue this long makes /readyz fail


def spread_overdue_feeds(db: Database, settings: Settings, rng: random.Random | None = None) -> int:
    """After downtime many feeds are overdue at once: spread them instead of a burst at start."""
    rng = rng or random.Random()
    now = utcnow()
    with db.session() as session:
        # Leased or locked rows are being polled by another worker right now: leave them be,
        # or this would overwrite the schedule that worker is about to write.
        overdue = list(session.scalars(
            select(Feed).where(Feed.enabled.is_(True), Feed.next_poll_at < now,
                               or_(Feed.lease_until.is_(None), Feed.lease_until < now))
            .with_for_update(skip_locked=True)))
        for feed in overdue:
            feed.next_poll_at = now + timedelta(seconds=rng.uniform(0, settings.polling.startup_spread))
    return len(overdue)


def outbox_backlog_age(db: Database) -> float:
    """Seconds the oldest due, unsent delivery has been waiting (0 when none)."""
    now = utcnow()
    with db.session() as session:
        oldest = session.scalar(select(func.min(Delivery.next_attempt_at))
                                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now))
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


class Daemon:
    def __init__(self, db: Database, settings: Settings, recorder: HitRecorder, *,
                 config_path: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.config_path = config_path
        self.recorder = recorder
        self.reloader = RuleReloader(settings.rules_paths, recorder)
        self.owner = worker_identity()
        self.stopping = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._deliver_lock = asyncio.Lock()
        self.watchdog = systemd.Watchdog.from_environment(max_age=max(3 * HEARTBEAT_EVERY, 60.0))
        self._config_mtime = self._mtime()
        self._reported_hits = self.recorder.by_priority.copy()
        METRICS.set_rules_loaded(len(recorder.rules.watches) if recorder.rules else 0)
        self._warn_about_filters()

    def _warn_about_filters(self) -> None:
        """Log the subscription filters that name watches or tags the rules do not have."""
        from monitor.outbox import filter_problems  # as the digest jobs do: it loads the renderers

        for problem in filter_problems(self.settings.subscriptions, self.recorder.rules):
            logger.warning("%s: that filter takes no hits until the rules or the configuration "
                           "change", problem)

    # -- jobs ----------------------------------------------------------------------------------

    async def tick(self, poller: Poller, fetcher: Fetcher) -> None:
        if self.stopping.is_set() or self._tick_lock.locked():
            return
        async with self._tick_lock:
            await asyncio.to_thread(self.reload, False)
            limit = self.settings.http.max_connections * 4
            tasks = await asyncio.to_thread(claim_feeds, self.db, self.settings, owner=self.owner,
                                            now=utcnow(), limit=limit)
            if not tasks:
                return
            summary = await poller.poll(tasks, fetcher)
            self.record(summary)
            logger.info("polled %d feeds: %d new items, %d hits, %d errors in %.1f s", summary.feeds,
                        summary.items_new, summary.hits, summary.errors, summary.seconds)

    def record(self, summary: PollSummary) -> None:
        hits = self.recorder.by_priority - self._reported_hits
        self._reported_hits = self.recorder.by_priority.copy()
        METRICS.record_poll(ok=summary.fetched, not_modified=summary.not_modified, unchanged=summary.unchanged,
                            error=summary.errors - summary.gone, gone=summary.gone, items_new=summary.items_new,
                            items_duplicate=summary.items_duplicate, items_updated=summary.items_updated,
                            hits=dict(hits))
        for seconds in summary.fetch_seconds:
            METRICS.observe_fetch(seconds)

    async def deliver(self) -> None:
        """Build the digests that are due and send what the outbox holds."""
        if self.stopping.is_set() or self._deliver_lock.locked():
            return
        async with self._deliver_lock:
            if self.settings.subscriptions:
                from monitor.outbox import build_due_digests, send_due_deliveries

                try:
                    built = await asyncio.to_thread(build_due_digests, self.db, self.settings, self.recorder.rules,
                                                    now=utcnow())
                    counts = await send_due_deliveries(self.db, self.settings, owner=self.owner, now=utcnow(),
                                                       on_result=METRICS.record_delivery)
                except Exception:  # a delivery bug must not stop polling; the outbox keeps the work
                    logger.exception("digest or delivery pass failed; retrying at the next tick")
                    return
                for _, sub in built:
                    for channel in ("email",) * bool(sub.email) + ("slack",) * bool(sub.slack_webhook):
                        METRICS.record_digest(channel)
                if built or any(counts.values()):
                    logger.info("digests built: %d; deliveries sent %d, to retry %d, failed %d", len(built),
                                counts["sent"], counts["retry"], counts["failed"])
            METRICS.set_outbox_backlog_age(await asyncio.to_thread(outbox_backlog_age, self.db))

    def heartbeat(self) -> None:
        self.watchdog.heartbeat()

    # -- reloads -------------------------------------------------------------------------------

    def _mtime(self) -> float | None:
        if not self.config_path:
            return None
        try:
            return Path(self.config_path).stat().st_mtime
        except OSError:
            return None

    def reload(self, force: bool) -> None:
        """Reload the configuration (if its file changed, or on SIGHUP) and the rules."""
        mtime = self._mtime()
        config_reloaded = False
        if force or mtime != self._config_mtime:
            self._config_mtime = mtime
            try:
                fresh = load_settings(self.config_path)
            except MonitorError as exc:
                logger.error("configuration reload failed, keeping the running configuration: %s", exc)
            else:
                # Database and HTTP client settings need a restart; the rest applies now.
                self.settings = replace(fresh, database_url=self.settings.database_url, http=self.settings.http)
                try:
                    sync_configured_feeds(self.db, self.settings)
                except MonitorError as exc:
                    logger.error("feeds from the reloaded configuration not applied: %s", exc)
                if list(fresh.rules_paths) != self.reloader.paths:
                    self.reloader = RuleReloader(fresh.rules_paths, self.recorder)
                    force = True
                logger.info("configuration reloaded from %s", self.config_path or "defaults")
                config_reloaded = True
        before = self.reloader.failures
        rules_changed = self.reloader.check(force=force)
        if rules_changed:
            METRICS.set_rules_loaded(len(self.recorder.rules.watches) if self.recorder.rules else 0)
        if rules_changed or config_reloaded:
            self._warn_about_filters()
        if self.reloader.failures > before:
            METRICS.record_rule_reload_failure()

    # -- health ----------------------------------------------------------------------------------

    def health_checks(self) -> list[Check]:
        def database() -> str:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return "reachable"

        def schema() -> str:
            self.db.check_schema()
            return "current"

        def outbox() -> str:
            age = outbox_backlog_age(self.db)
            if age > OUTBOX_STALE_AFTER:
                raise MonitorError(f"oldest due delivery has waited {int(age)} s; see `monitor deliveries list`")
            return f"oldest due delivery waiting {int(age)} s"

        return [Check("database", database), Check("schema", schema), Check("scheduler", self.watchdog.check),
                Check("outbox", outbox)]

    # -- main ----------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, self.reload, True))
        moved = await asyncio.to_thread(spread_overdue_feeds, self.db, self.settings)
        if moved:
            logger.info("%d overdue feeds spread over the next %.0f s", moved, self.settings.polling.startup_spread)
        executor = parse_pool(self.settings.polling.effective_parse_workers())
        scheduler = AsyncIOScheduler(timezone="UTC")
        health = None
        if self.settings.health_listen:
            host, port = self.settings.health_listen
            health = HealthServer(host, port, checks=self.health_checks, metrics=METRICS)
            health.start()
            logger.info("health and metrics on http://%s:%d/ (healthz, readyz, metrics)", host, health.port)
        try:
            async with Fetcher(fetch_settings(self.settings)) as fetcher:
                poller = Poller(self.db, self.settings, executor=executor, owner=self.owner,
                                on_items_stored=self.recorder)
                tick = self.settings.polling.tick
                scheduler.add_job(self.tick, "interval", args=[poller, fetcher], seconds=tick,
                                  next_run_time=utcnow(), max_instances=1, coalesce=True, id="poll")
                scheduler.add_job(self.deliver, "interval", seconds=tick, next_run_time=utcnow(),
                                  max_instances=1, coalesce=True, id="deliver")
                scheduler.add_job(self.heartbeat, "interval", seconds=min(HEARTBEAT_EVERY, tick),
                                  next_run_time=utcnow(), id="heartbeat")
                scheduler.start()
                self.heartbeat()
                self.watchdog.start()
                systemd.notify("READY=1", f"STATUS=polling every {tick:g} s as {self.owner}")
                logger.info("monitor running as %s: polling every %g s", self.owner, tick)
                await self.stopping.wait()
                systemd.stopping()
                logger.info("stopping: finishing in-flight polls and sends (at most %.0f s)", SHUTDOWN_GRACE)
                scheduler.shutdown(wait=False)
                started = time.monotonic()
                try:
                    async with asyncio.timeout(SHUTDOWN_GRACE):
                        async with self._tick_lock, self._deliver_lock:
                            pass
                except TimeoutError:
                    logger.warning("in-flight work did not finish within %.0f s; it is retried later "
                                   "(each feed and delivery is committed or not at all)", time.monotonic() - started)
        finally:
            self.watchdog.stop()
            if health is not None:
                health.stop()
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            await asyncio.to_thread(release_leases, self.db, self.owner)
        logger.info("stopped")
