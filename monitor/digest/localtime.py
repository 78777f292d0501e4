"""Dates and times as the subscriber reads them: in their time zone, in English, unambiguous.

Written out by hand rather than with strftime("%a %b") so the output does not depend on the
process locale. Zone abbreviations come from the tz database ("CET", "CEST", "EDT"); zones
without a letter abbreviation ("+03") are shown as "UTC+03".
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`.

    Raises ConfigError when the tz database does not know it.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}: use an IANA name such as "
                          f"Europe/Berlin or America/New_York") from exc


def require_aware(value: datetime, what: str) -> datetime:
    """Return `value` if it carries a time zone; raise ValueError naming `what` otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a time-zone-aware datetime (UTC), got {value!r}")
    return value


def zone_abbreviation(moment: datetime) -> str:
    """The zone's abbreviation at this local moment: "CET", "CEST", or "UTC+03"."""
    name = moment.tzname() or ""
    if not name or name[0] in "+-":
        offset = moment.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours:02d}" + (f":{mins:02d}" if mins else "")
    return name


def _date(local: datetime, *, year: bool) -> str:
    text = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    return f"{text} {local.year}" if year else text


def format_moment(moment: datetime, tz: ZoneInfo, *, reference: datetime | None = None) -> str:
    """Return e.g. "Tue 10 Mar 14:05 CET" for an aware `moment` in zone `tz`.

    The year is added when it differs from the year of `reference` (the period's end) in the
    same zone.
    """
    local = moment.astimezone(tz)
    ref_year = reference.astimezone(tz).year if reference is not None else local.year
    return f"{_date(local, year=local.year != ref_year)} {local:%H:%M} {zone_abbreviation(local)}"


def format_period(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """Return the period in zone `tz`, as short as stays unambiguous.

    "Tue 10 Mar 2026, 08:00–12:00 CET"; across midnight "Mon 9 Mar 08:00 – Tue 10 Mar 2026
    08:00 CET"; across a DST change each end shows its own abbreviation ("… 01:00 CET –
    … 08:00 CEST").
    """
    a, b = start.astimezone(tz), end.astimezone(tz)
    za, zb = zone_abbreviation(a), zone_abbreviation(b)
    same_zone = za == zb
    if a.date() == b.date():
        if same_zone:
            return f"{_date(a, year=True)}, {a:%H:%M}–{b:%H:%M} {za}"
        return f"{_date(a, year=True)}, {a:%H:%M} {za} – {b:%H:%M} {zb}"
    first = f"{_date(a, year=a.year != b.year)} {a:%H:%M}" + ("" if same_zone else f" {za}")
    return f"{first} – {_date(b, year=True)} {b:%H:%M} {zb}"
