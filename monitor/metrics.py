"""Prometheus metrics: what the daemon counts, and the text that /metrics serves.

Every label takes its value from a short fixed list (outcomes, item kinds, priorities,
channel kinds); anything else is counted as "other". Feed names, URLs and addresses never
become labels: each distinct value would be a new time series kept forever.

The process has one registry, ``REGISTRY``, with one ``METRICS`` on it; it is not
prometheus_client's global default registry, so tests build fresh ``Metrics()`` objects
without clashing. Usage::

    from monitor.metrics import METRICS

    summary = await poller.poll(tasks, fetcher)
    METRICS.record_poll(ok=summary.fetched, not_modified=summary.not_modified,
                        unchanged=summary.unchanged, error=summary.errors,
                        items_new=summary.items_new, items_duplicate=summary.items_duplicate,
                        items_updated=summary.items_updated)
    METRICS.set_rules_loaded(len(ruleset.watches))
    METRICS.record_delivery("slack", "retry")
    body = METRICS.render()             # what GET /metrics answers
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from monitor.rules.model import PRIORITIES

__all__ = ["CONTENT_TYPE", "METRICS", "REGISTRY", "Metrics"]

# What generate_latest() writes. Spelled out because prometheus_client's CONTENT_TYPE_LATEST
# now names version=1.0.0 while generate_latest() still writes the 0.0.4 format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

POLL_OUTCOMES = ("ok", "not_modified", "unchanged", "error", "gone")
ITEM_KINDS = ("new", "duplicate", "updated")
CHANNELS = ("email", "slack")
DELIVERY_OUTCOMES = ("sent", "retry", "failed")
OTHER = "other"

# A feed fetch is one HTTP request capped by [http] timeout (30 s by default).
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


# The *_created series (one per counter label set) carry nothing our alerts use and would
# double what every scrape stores.
disable_created_metrics()  # type: ignore[no-untyped-call]


class SandboxedProcessCollector(ProcessCollector):
    """process_* metrics that still work under the unit's ProcSubset=pid.

    The stock collector reads the boot time from /proc/stat, which ProcSubset=pid hides, and
    then reports nothing at all; the boot time is also now minus CLOCK_BOOTTIME.
    """

    def _boot_time(self) -> float:
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def bounded(value: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else "other": keeps label cardinality fixed."""
    return value if value in allowed else OTHER


class Metrics:
    """The daemon's counters, gauges and histogram on one registry.

    ``Metrics()`` builds a fresh private registry (for tests); pass ``registry`` to share one.
    With ``process=True`` the standard process_* metrics (memory, CPU, open files) are added.
    Every method is safe to call from any thread.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = False) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            SandboxedProcessCollector(registry=r)
        self.feed_polls = Counter("monitor_feed_polls", "Feed polls by outcome.", ["outcome"], registry=r)
        self.fetch_duration = Histogram("monitor_fetch_duration_seconds", "Time to fetch one feed.",
                                        buckets=FETCH_BUCKETS, registry=r)
        self.items = Counter("monitor_items", "Feed entries stored, by kind.", ["kind"], registry=r)
        self.hits = Counter("monitor_hits", "Watch hits recorded, by priority.", ["priority"], registry=r)
        self.digests = Counter("monitor_digests", "Digests built, by channel.", ["channel"], registry=r)
        self.deliveries = Counter("monitor_deliveries", "Delivery attempts by channel and outcome.",
                                  ["channel", "outcome"], registry=r)
        self.outbox_backlog_age = Gauge("monitor_outbox_backlog_age_seconds",
                                        "Age of the oldest undelivered outbox message (0 when empty).",
                                        registry=r)
        self.last_successful_poll = Gauge("monitor_last_successful_poll_timestamp_seconds",
                                          "Unix time of the last poll pass in which a feed answered.",
                                          registry=r)
        self.rules_loaded = Gauge("monitor_rules_loaded_watches", "Watches in the loaded rule set.",
                                  registry=r)
        self.rule_reload_failures = Counter("monitor_rule_reload_failures",
                                            "Rule reloads rejected (the previous rules stay in force).",
                                            registry=r)
        # Every known label value appears from the first scrape, so rate() and absent()
        # alerts work before the first event of each kind.
        for outcome in POLL_OUTCOMES:
            self.feed_polls.labels(outcome)
        for kind in ITEM_KINDS:
            self.items.labels(kind)
        for priority in PRIORITIES:
            self.hits.labels(priority)
        for channel in CHANNELS:
            self.digests.labels(channel)
            for delivery in DELIVERY_OUTCOMES:
                self.deliveries.labels(channel, delivery)

    def record_poll(self, *, ok: int = 0, not_modified: int = 0, unchanged: int = 0, error: int = 0,
                    gone: int = 0, items_new: int = 0, items_duplicate: int = 0, items_updated: int = 0,
                    hits: Mapping[str, int] | None = None, finished_at: float | None = None) -> None:
        """Count one poll pass from plain numbers (a PollSummary's fields map one to one).

        ``hits`` maps priority to count. The last-successful-poll time is set to
        ``finished_at`` (default: now, Unix seconds) when at least one feed answered
        (ok, not_modified or unchanged): a pass where every feed failed leaves it alone, so
        an alert on its age fires when the network or every publisher is down.
        """
        for outcome, count in (("ok", ok), ("not_modified", not_modified), ("unchanged", unchanged),
                               ("error", error), ("gone", gone)):
            if count:
                self.feed_polls.labels(outcome).inc(count)
        for kind, count in (("new", items_new), ("duplicate", items_duplicate), ("updated", items_updated)):
            if count:
                self.items.labels(kind).inc(count)
        for priority, count in (hits or {}).items():
            self.record_hits(priority, count)
        if ok or not_modified or unchanged:
            self.last_successful_poll.set(time.time() if finished_at is None else finished_at)

    def observe_fetch(self, seconds: float) -> None:
        """One feed fetch took ``seconds`` (request start to body read)."""
        self.fetch_duration.observe(seconds)

    def record_hits(self, priority: str, count: int = 1) -> None:
        """``count`` watch hits of ``priority`` (unknown priorities count as "other")."""
        if count:
            self.hits.labels(bounded(priority, PRIORITIES)).inc(count)

    def record_digest(self, channel: str) -> None:
        """One digest built for ``channel`` ("email" or "slack"; the kind, never an address)."""
        self.digests.labels(bounded(channel, CHANNELS)).inc()

    def record_delivery(self, channel: str, outcome: str) -> None:
        """One delivery attempt on ``channel`` ended ``outcome`` ("sent", "retry" or "failed")."""
        self.deliveries.labels(bounded(channel, CHANNELS), bounded(outcome, DELIVERY_OUTCOMES)).inc()

    def set_outbox_backlog_age(self, seconds: float) -> None:
        """Age of the oldest undelivered message, 0 when the outbox is empty."""
        self.outbox_backlog_age.set(max(0.0, seconds))

    def set_rules_loaded(self, watches: int) -> None:
        """The rule set now in force has ``watches`` watches."""
        self.rules_loaded.set(watches)

    def record_rule_reload_failure(self) -> None:
        """A changed rule file was rejected; the previous rules stay in force."""
        self.rule_reload_failures.inc()

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format (serve with CONTENT_TYPE)."""
        return generate_latest(self.registry)


REGISTRY = CollectorRegistry()
METRICS = Metrics(REGISTRY, process=True)
