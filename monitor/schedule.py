"""When to poll a feed next: adaptive intervals, error back-off and Retry-After (pure functions).

All times are aware UTC datetimes and all durations seconds; randomness comes in as an
argument so the policy is testable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

# Shorten the interval when at least this share of a poll's entries was new ...
MOSTLY_NEW = 0.5
# ... and lengthen it when at most this share was.
MOSTLY_SEEN = 0.1
SHORTEN_FACTOR = 0.67
LENGTHEN_FACTOR = 1.5
JITTER = 0.1  # ±10 % on every computed delay, so feeds added together drift apart


@dataclass(frozen=True)
class IntervalBounds:
    floor: float        # polling.min_interval
    ceiling: float      # polling.max_interval
    feed_minimum: float | None = None  # the feed's own <ttl> or Cache-Control max-age

    @property
    def lower(self) -> float:
        # The feed's own wish wins over our floor (politeness) but not over our ceiling:
        # a feed asking for a week between polls is still looked at daily.
        if self.feed_minimum is None:
            return self.floor
        return max(self.floor, min(self.feed_minimum, self.ceiling))

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.lower), max(self.ceiling, self.lower))


def adapt_interval(current: float, *, new_entries: int, total_entries: int,
                   bounds: IntervalBounds) -> float:
    """The next regular interval after a successful poll.

    Mostly-new polls mean we may be missing items between polls: shorten. Mostly-seen polls
    (including 304 and unchanged bodies, passed as 0 of 0) mean we poll too often: lengthen.
    """
    if total_entries == 0 or new_entries / total_entries <= MOSTLY_SEEN:
        current *= LENGTHEN_FACTOR
    elif new_entries / total_entries >= MOSTLY_NEW:
        current *= SHORTEN_FACTOR
    return bounds.clamp(current)


def error_backoff(interval: float, failures: int, *, cap: float, rng: random.Random | None = None) -> float:
    """Delay before the next attempt after `failures` consecutive failures (≥ 1).

    Exponential from the feed's interval, jittered, capped: a dead feed keeps being probed at
    the cap instead of silently stopping.
    """
    exponent = min(max(failures - 1, 0), 30)
    return jittered(min(cap, interval * (2 ** exponent)), rng, cap=cap)


def retry_after_delay(retry_at: datetime | None, now: datetime, *, fallback: float, cap: float) -> float:
    """Seconds to wait after 429/503: the server's Retry-After (never sooner), capped."""
    if retry_at is None:
        return min(fallback, cap)
    return min(max((retry_at - now).total_seconds(), 0.0), cap)


def jittered(seconds: float, rng: random.Random | None = None, *, cap: float | None = None) -> float:
    r = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    value = seconds * r
    return min(value, cap) if cap is not None else value


def first_poll_at(now: datetime, spread: float, rng: random.Random | None = None) -> datetime:
    """When a feed never polled before is first due: spread over `spread` seconds from now."""
    return now + timedelta(seconds=(rng or random).uniform(0, max(spread, 0.0)))
