"""The polling policy: adaptive intervals, back-off, Retry-After, leases."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from monitor.database import Database
from monitor.poll import claim_feeds, utcnow
from monitor.registry import add_feed
from monitor.schedule import IntervalBounds, adapt_interval, error_backoff, first_poll_at, retry_after_delay

BOUNDS = IntervalBounds(floor=600, ceiling=86400)
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def test_mostly_new_shortens_and_mostly_seen_lengthens() -> None:
    assert adapt_interval(1800, new_entries=9, total_entries=10, bounds=BOUNDS) < 1800
    assert adapt_interval(1800, new_entries=0, total_entries=10, bounds=BOUNDS) > 1800
    assert adapt_interval(1800, new_entries=3, total_entries=10, bounds=BOUNDS) == 1800
    assert adapt_interval(1800, new_entries=0, total_entries=0, bounds=BOUNDS) > 1800  # 304


def test_interval_stays_between_floor_and_ceiling() -> None:
    assert adapt_interval(610, new_entries=10, total_entries=10, bounds=BOUNDS) == 600
    assert adapt_interval(80000, new_entries=0, total_entries=10, bounds=BOUNDS) == 86400


def test_feed_ttl_is_a_floor_but_never_beyond_the_ceiling() -> None:
    ttl = IntervalBounds(floor=600, ceiling=86400, feed_minimum=7200)
    assert adapt_interval(1800, new_entries=10, total_entries=10, bounds=ttl) == 7200
    week = IntervalBounds(floor=600, ceiling=86400, feed_minimum=7 * 86400)
    assert adapt_interval(1800, new_entries=0, total_entries=1, bounds=week) == 86400


def test_error_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    delays = [error_backoff(1800, n, cap=86400, rng=rng) for n in range(1, 8)]
    assert 1800 * 0.9 <= delays[0] <= 1800 * 1.1
    assert all(b > a * 1.5 for a, b in zip(delays[:5], delays[1:6]))
    assert delays[-1] <= 86400 and error_backoff(1800, 500, cap=86400, rng=rng) <= 86400


def test_retry_after_is_never_shortened_and_is_capped() -> None:
    assert retry_after_delay(NOW + timedelta(hours=2), NOW, fallback=60, cap=86400) == 7200
    assert retry_after_delay(NOW + timedelta(days=3), NOW, fallback=60, cap=86400) == 86400
    assert retry_after_delay(None, NOW, fallback=60, cap=86400) == 60


def test_first_polls_are_spread_not_burst() -> None:
    rng = random.Random(3)
    times = [first_poll_at(NOW, 120, rng) for _ in range(50)]
    assert all(NOW <= t <= NOW + timedelta(seconds=120) for t in times)
    assert len({t for t in times}) == 50 and max(times) - min(times) > timedelta(seconds=60)


def test_leased_feeds_are_not_claimed_twice_until_the_lease_expires(db: Database, settings) -> None:
    with db.session() as session:
        for n in range(3):
            add_feed(session, settings, f"https://news.example/{n}.xml", now=utcnow() - timedelta(minutes=1), spread=0)
    first = claim_feeds(db, settings, owner="a", now=utcnow())
    second = claim_feeds(db, settings, owner="b", now=utcnow())
    assert len(first) == 3 and second == []
    later = utcnow() + timedelta(seconds=settings.polling.lease + 1)
    assert len(claim_feeds(db, settings, owner="b", now=later)) == 3
