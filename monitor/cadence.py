"""Digest cadences: which window of hits is due for a subscription, in its own time zone.

Pure functions over aware datetimes; the clock comes in as `now`. A scheduled cadence cuts time
at boundaries (08:00 every day, the top of every hour, a cron expression) and a window runs from
the end of the last window sent to the latest boundary, so a daemon that was down sends one
catch-up window instead of one per missed boundary. An `immediate` cadence has no boundaries:
its window closes once a burst of hits has settled (debounce).

Daylight saving, in the subscriber's zone:

- Schedules with a fixed hour (`daily 02:30`, `0 8 * * 1-5`) follow the calendar: each matching
  local time fires once. A time skipped when clocks go forward fires at the moment of the jump
  (03:00 instead of 02:30); a time that happens twice when clocks go back fires the first time.
- Schedules that fire every hour (`hourly`, `*/15 * * * *`) follow real time: they fire in both
  passes of a repeated hour and skip the minutes that do not exist, so windows stay an hour
  (or fifteen minutes) long.

APScheduler's CronTrigger does the calendar arithmetic. It runs in UTC over local wall-clock
times treated as naive, and this module maps wall times to instants itself, because the
trigger's own DST handling fires a repeated 02:30 twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

CadenceKind = Literal["immediate", "hourly", "daily", "weekly", "cron"]

ACCEPTED_FORMS = ("immediate, hourly, daily HH:MM (e.g. daily 08:00), weekly DAY HH:MM "
                  "(e.g. weekly mon 08:00) or a 5-field cron expression (e.g. 0 8 * * 1-5)")

DEFAULT_DEBOUNCE = timedelta(minutes=2)

# Wall-clock times are enumerated this far either side of a range, because a clock going back
# puts instants inside the range at wall times outside it. The largest backward step of an
# inhabited zone since 1970 is 2 h (Asia/Magadan 2014, Asia/Chita 2016; Antarctica/Troll's DST).
_MAX_CLOCK_STEP_BACK = timedelta(hours=3)
# How far to search for a boundary: a 29 February cron can be eight years from the last one.
_MAX_SEARCH = timedelta(days=366 * 9)
# A fixed reference for "does this cron ever fire": the check must not read the clock.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)

_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")   # cron numbering: 0 = sun
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")    # datetime.weekday() order
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class Cadence:
    """A parsed cadence; build it with `parse_cadence`. `str()` gives the canonical text."""

    kind: CadenceKind
    at: time | None = None          # daily and weekly: local time of day
    weekday: int | None = None      # weekly: 0 = Monday, as datetime.weekday()
    expression: str | None = None   # cron: the five fields, single-spaced, lower case

    def __str__(self) -> str:
        if self.kind == "daily" and self.at is not None:
            return f"daily {self.at:%H:%M}"
        if self.kind == "weekly" and self.at is not None and self.weekday is not None:
            return f"weekly {_WEEKDAY_NAMES[self.weekday]} {self.at:%H:%M}"
        if self.kind == "cron" and self.expression is not None:
            return self.expression
        return self.kind

    @property
    def is_immediate(self) -> bool:
        return self.kind == "immediate"

    @property
    def crontab(self) -> str | None:
        """The equivalent standard 5-field cron expression; None for `immediate`."""
        if self.kind == "hourly":
            return "0 * * * *"
        if self.kind == "daily" and self.at is not None:
            return f"{self.at.minute} {self.at.hour} * * *"
        if self.kind == "weekly" and self.at is not None and self.weekday is not None:
            return f"{self.at.minute} {self.at.hour} * * {(self.weekday + 1) % 7}"
        if self.kind == "cron":
            return self.expression
        return None


@dataclass(frozen=True)
class QuietHours:
    """Local times of day when nothing is sent; `start` is inclusive, `end` exclusive.

    A start later than the end crosses midnight (22:00-07:00).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local times of day, without a time zone")
        if self.start == self.end:
            raise ValueError(f"quiet hours {self} start and end at the same time; "
                             "leave them out to send at any hour")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, clock: time) -> bool:
        """True when the local time of day `clock` falls in the quiet hours."""
        clock = clock.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


@dataclass(frozen=True)
class Window:
    """The hits one digest covers: created after `start`, up to and including `end`.

    Both are aware UTC datetimes; `end` is the window's identity, so a window is sent once.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be aware datetimes")
        if self.start >= self.end:
            raise ValueError(f"window start {self.start.isoformat()} is not before its end "
                             f"{self.end.isoformat()}")

    def covers(self, created: datetime) -> bool:
        """True when a hit created at `created` belongs to this window."""
        return self.start < created <= self.end


# -- parsing -------------------------------------------------------------------------------


def parse_cadence(text: str) -> Cadence:
    """Parse `immediate`, `hourly`, `daily HH:MM`, `weekly DAY HH:MM` or a 5-field cron line.

    Case and extra spaces do not matter; days are mon…sun (or full names). Cron lines use the
    standard numbering (0 or 7 = Sunday) and may not restrict both day of month and day of week.
    Raises ValueError naming the accepted forms.
    """
    if not isinstance(text, str):  # config values arrive untyped; callers catch one error type
        raise ValueError(f"expected a cadence as text ({ACCEPTED_FORMS}), got {text!r}")  # noqa: TRY004
    words = text.strip().lower().split()
    if words in (["immediate"], ["hourly"]):
        return Cadence(words[0])  # type: ignore[arg-type]
    if len(words) == 2 and words[0] == "daily":
        return Cadence("daily", at=_parse_clock(words[1], text))
    if len(words) == 3 and words[0] == "weekly":
        return Cadence("weekly", at=_parse_clock(words[2], text), weekday=_parse_weekday(words[1], text))
    if words and words[0] in ("daily", "weekly"):
        raise ValueError(f"cadence {text!r}: write `daily HH:MM` or `weekly DAY HH:MM` "
                         "(e.g. daily 08:00, weekly mon 08:00)")
    if len(words) == 5:
        cadence = Cadence("cron", expression=" ".join(words))
        _schedule(cadence)  # validates; cached for the boundary searches
        return cadence
    raise ValueError(f"unknown cadence {text!r}: expected {ACCEPTED_FORMS}")


def parse_quiet_hours(text: str) -> QuietHours:
    """Parse `HH:MM-HH:MM` (e.g. 22:00-07:00, may cross midnight). Raises ValueError."""
    match = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM in the subscriber's "
                         "time zone, e.g. 22:00-07:00")
    return QuietHours(_parse_clock(match.group(1), text), _parse_clock(match.group(2), text))


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (e.g. Europe/Berlin). Raises ValueError for unknown names."""
    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError
        return ZoneInfo(name.strip())
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin, "
                         "America/New_York or UTC") from None


def _parse_clock(word: str, text: str) -> time:
    match = _CLOCK.fullmatch(word.strip())
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"{text!r}: {word!r} is not a time of day; write HH:MM from 00:00 to 23:59")


def _parse_weekday(word: str, text: str) -> int:
    for names in (_WEEKDAY_NAMES, _FULL_DAY_NAMES):
        if word in names:
            return names.index(word)
    raise ValueError(f"{text!r}: {word!r} is not a day of the week; write mon, tue, wed, thu, "
                     "fri, sat or sun")


# -- the calendar, via APScheduler ------------------------------------------------------------


class _Schedule(NamedTuple):
    trigger: CronTrigger   # runs in UTC over naive local wall-clock times
    every_hour: bool       # fires in every hour of the day: follows real time across DST


@lru_cache(maxsize=1024)
def _schedule(cadence: Cadence) -> _Schedule:
    crontab = cadence.crontab
    if crontab is None:
        raise ValueError(f"cadence {cadence} has no schedule")
    minute, hour, day, month, weekdays = crontab.split()
    try:
        # Not CronTrigger.from_crontab: in APScheduler 3 it reads day-of-week numbers as
        # 0 = Monday, so `1-5` would mean Tuesday to Saturday.
        days_of_week = _aps_weekdays(weekdays)
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month,
                              day_of_week=days_of_week, second=0, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {crontab!r}: {exc}; expected {ACCEPTED_FORMS}") from None
    fields = {field.name: field for field in trigger.fields}
    if days_of_week != "*" and not _matches_all(fields["day"], "day", range(1, 32)):
        raise ValueError(f"cron expression {crontab!r} restricts both the day of the month and the "
                         "day of the week, which cron reads as either-or; restrict only one "
                         "(e.g. 0 8 1 * * or 0 8 * * mon)")
    if trigger.get_next_fire_time(None, _REFERENCE) is None:
        raise ValueError(f"cron expression {crontab!r} never fires (e.g. 30 February); "
                         "check the day and month fields")
    return _Schedule(trigger, _matches_all(fields["hour"], "hour", range(24)))


def _matches_all(field: object, name: str, values: range) -> bool:
    # January 2000 has 31 days, so every day-of-month value exists in it.
    for value in values:
        probe = datetime(2000, 1, value if name == "day" else 1, value if name == "hour" else 0)
        if field.get_next_value(probe) != value:  # type: ignore[attr-defined]
            return False
    return True


def _aps_weekdays(field: str) -> str:
    """Standard cron day-of-week field (0/7 = sun … 6 = sat, names, ranges, steps) as APScheduler names."""
    days: set[int] = set()
    for item in field.split(","):
        match = re.fullmatch(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?", item)
        if not match or match.group(2) == "0" or (match.group(2) and "-" not in item and item[0] != "*"):
            raise ValueError(f"day-of-week {item!r} is not valid; use 0-7 (0 and 7 are Sunday), "
                             "sun…sat, ranges like 1-5 and steps like */2")
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-")
            low, high = _cron_day(first, item), _cron_day(last, item, end=True)
        else:
            low = high = _cron_day(span, item)
        if low > high:
            raise ValueError(f"day-of-week range {item!r} runs backwards; Sunday is 0 (or 7 at the end)")
        days.update(day % 7 for day in range(low, high + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRON_DAY_NAMES[day] for day in sorted(days, key=lambda d: (d + 6) % 7))


def _cron_day(token: str, item: str, *, end: bool = False) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token in _CRON_DAY_NAMES:
        # "fri-sun" means Friday to Sunday, so a Sunday closing a range counts as 7.
        return 7 if end and token == "sun" else _CRON_DAY_NAMES.index(token)
    raise ValueError(f"day-of-week {item!r}: {token!r} is not a day; use 0-7 or sun…sat")


def _walls(trigger: CronTrigger, start: datetime, stop: datetime) -> Iterator[datetime]:
    """Naive wall-clock fire times in [start, stop], in order."""
    cursor = start.replace(tzinfo=UTC)
    limit = stop.replace(tzinfo=UTC)
    while True:
        fire = trigger.get_next_fire_time(None, cursor)
        if fire is None or fire > limit:
            return
        yield fire.replace(tzinfo=None)
        cursor = fire + timedelta(seconds=1)


# -- wall-clock times and instants -------------------------------------------------------------


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def _instants(wall: datetime, zone: tzinfo) -> tuple[datetime, ...]:
    """The UTC instants at which the local clock reads `wall`, in order.

    One normally; two when the clocks go back; none when they jump over it.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _wall(first, zone) != wall:
        return ()
    return (first,) if first == second else (first, second)


def _clock_passes(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant at which the local clock reads `wall` or later (for skipped times: the jump)."""
    found = _instants(wall, zone)
    if found:
        return found[0]
    # Skipped: with fold=1 Python reads the time with the offset from after the jump, landing
    # before it; fold=0 uses the offset from before, landing after. The jump lies between.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) // 2
        if _wall(middle, zone) > wall:
            after = middle
        else:
            before = middle
    return after


def _fires_at(wall: datetime, zone: tzinfo, every_hour: bool) -> tuple[datetime, ...]:
    found = _instants(wall, zone)
    if every_hour:
        return found
    return found[:1] or (_clock_passes(wall, zone),)


def _zone(tz: str | tzinfo) -> tzinfo:
    return parse_time_zone(tz) if isinstance(tz, str) else tz


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


# -- boundaries ------------------------------------------------------------------------------


def boundaries(cadence: Cadence, tz: str | tzinfo, *, after: datetime, until: datetime) -> list[datetime]:
    """The cadence's boundaries b with after < b <= until, as sorted aware UTC datetimes.

    `immediate` has none. Raises ValueError for an unknown zone or naive datetimes.
    """
    zone, after, until = _zone(tz), _aware(after, "after"), _aware(until, "until")
    if cadence.is_immediate or until <= after:
        return []
    trigger, every_hour = _schedule(cadence)
    margin = _clock_step_margin(zone, after, until)
    found: set[datetime] = set()
    for wall in _walls(trigger, _wall(after, zone) - margin, _wall(until, zone) + margin):
        found.update(moment for moment in _fires_at(wall, zone, every_hour) if after < moment <= until)
    return sorted(found)


def _clock_step_margin(zone: tzinfo, after: datetime, until: datetime) -> timedelta:
    # Without a change of UTC offset nearby, wall time is a plain shift of UTC and needs no
    # margin; skipping it keeps every-minute crons cheap. Offset changes in real zones are weeks
    # apart, so equal offsets either side of a short range mean there is none inside it.
    lo, hi = after - _MAX_CLOCK_STEP_BACK, until + _MAX_CLOCK_STEP_BACK
    if until - after <= timedelta(days=7) and lo.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset():
        return timedelta(0)
    return _MAX_CLOCK_STEP_BACK


def latest_boundary(cadence: Cadence, tz: str | tzinfo, *, at: datetime) -> datetime | None:
    """The last boundary at or before `at` (aware UTC), or None for `immediate`/none in nine years."""
    at = _aware(at, "at")
    if cadence.is_immediate:
        return None
    lookback = _first_guess(cadence)
    while lookback <= _MAX_SEARCH * 2:
        found = boundaries(cadence, tz, after=at - lookback, until=at)
        if found:
            return found[-1]
        lookback *= 2
    return None


def next_boundary(cadence: Cadence, tz: str | tzinfo, *, after: datetime) -> datetime | None:
    """The first boundary strictly after `after` (aware UTC), or None for `immediate`/none in nine years."""
    after = _aware(after, "after")
    if cadence.is_immediate:
        return None
    lookahead = _first_guess(cadence)
    while lookahead <= _MAX_SEARCH * 2:
        found = boundaries(cadence, tz, after=after, until=after + lookahead)
        if found:
            return found[0]
        lookahead *= 2
    return None


def _first_guess(cadence: Cadence) -> timedelta:
    # Starting the doubling search near the cadence's period saves a few rounds of enumeration.
    return {"daily": timedelta(days=1), "weekly": timedelta(days=7)}.get(cadence.kind, timedelta(hours=1))


# -- what is due -------------------------------------------------------------------------------


def due_window(cadence: Cadence, tz: str | tzinfo, *, now: datetime, last_end: datetime | None,
               first_start: datetime, quiet: QuietHours | None = None,
               latest_hit: datetime | None = None, debounce: timedelta = DEFAULT_DEBOUNCE,
               oldest_hit: datetime | None = None, max_wait: timedelta | None = None) -> Window | None:
    """The window to send now, or None if nothing is due.

    The window starts at `last_end` (the end of the last window sent) or, before the first
    send, at `first_start`; a window is only due when it would end after that start, so calling
    again with `last_end` set to the returned end gives None until there is something new.

    Scheduled cadences end the window at the latest boundary at or before `now`: after downtime
    one window covers every missed boundary. Immediate cadences end it at `latest_hit` once no
    hit has arrived for `debounce` (a burst becomes one message); hits created while the digest
    is sent fall in the next window. If `oldest_hit` (the oldest unsent hit) and `max_wait` are
    given, a burst that never settles is still sent once that hit has waited `max_wait`.

    While `now` falls in the quiet hours nothing is due; the window held back goes out when
    they end, covering everything up to the latest boundary then.
    Raises ValueError for an unknown zone or naive datetimes.
    """
    zone = _zone(tz)
    now = _aware(now, "now")
    start = _aware(last_end, "last_end") if last_end is not None else _aware(first_start, "first_start")
    if quiet is not None and quiet.contains(now.astimezone(zone).time()):
        return None
    if cadence.is_immediate:
        if latest_hit is None:
            return None
        end = _aware(latest_hit, "latest_hit")
        settled = now - end >= debounce
        overdue = (oldest_hit is not None and max_wait is not None
                   and now - _aware(oldest_hit, "oldest_hit") >= max_wait)
        if end <= start or end > now or not (settled or overdue):
            return None
        return Window(start, end)
    boundary = latest_boundary(cadence, zone, at=now)
    if boundary is None or boundary <= start:
        return None
    logger.debug("cadence %s in %s: window %s..%s due at %s", cadence, zone, start, boundary, now)
    return Window(start, boundary)


def next_due_time(cadence: Cadence, tz: str | tzinfo, *, now: datetime, quiet: QuietHours | None = None,
                  last_end: datetime | None = None, latest_hit: datetime | None = None,
                  debounce: timedelta = DEFAULT_DEBOUNCE) -> datetime:
    """When to check this subscription next: an aware UTC datetime at or after `now`.

    Scheduled cadences: the next boundary after `now`, or `now` itself when `last_end` is given
    and a window is already waiting. Immediate: when the debounce after an unsent `latest_hit`
    runs out, else `now + debounce` (hits may arrive at any time). Either way, a time inside the
    quiet hours moves to their end. Without `last_end`, a window held back by quiet hours is not
    seen, so a scheduler should pass it (or `first_start` before the first send).
    Raises ValueError for an unknown zone, naive datetimes, or a cadence that never fires.
    """
    zone = _zone(tz)
    now = _aware(now, "now")
    since = _aware(last_end, "last_end") if last_end is not None else None
    if cadence.is_immediate:
        hit = _aware(latest_hit, "latest_hit") if latest_hit is not None else None
        waiting = hit is not None and (since is None or hit > since)
        candidate = max(now, hit + debounce) if waiting and hit is not None else now + debounce
    else:
        latest = latest_boundary(cadence, zone, at=now) if since is not None else None
        if since is not None and latest is not None and latest > since:
            candidate = now
        else:
            upcoming = next_boundary(cadence, zone, after=now)
            if upcoming is None:
                raise ValueError(f"cadence {cadence} does not fire within nine years of {now.isoformat()}")
            candidate = upcoming
    if quiet is not None and quiet.contains(candidate.astimezone(zone).time()):
        candidate = quiet_hours_end(quiet, zone, at=candidate)
    return candidate


def quiet_hours_end(quiet: QuietHours, tz: str | tzinfo, *, at: datetime) -> datetime:
    """The first instant at or after `at` outside the quiet hours (aware UTC); `at` if it is outside."""
    zone, at = _zone(tz), _aware(at, "at")
    local = at.astimezone(zone)
    if not quiet.contains(local.time()):
        return at
    day: date = local.date()
    if quiet.start > quiet.end and local.time().replace(fold=0) >= quiet.start:
        day += timedelta(days=1)
    wall = datetime.combine(day, quiet.end)
    # Clocks going back can repeat the end of the quiet hours; take the pass not yet behind us.
    for moment in _instants(wall, zone) or (_clock_passes(wall, zone),):
        if moment >= at:
            return moment
    return at
