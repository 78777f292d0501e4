"""Digest cadences: parsing, schedule boundaries across time zones and DST, due windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from monitor.cadence import (
    Cadence,
    QuietHours,
    Window,
    boundaries,
    due_window,
    latest_boundary,
    next_boundary,
    next_due_time,
    parse_cadence,
    parse_quiet_hours,
    parse_time_zone,
    quiet_hours_end,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          second: int = 0, *, fold: int = 0) -> datetime:
    """A local wall time in `zone`, as the aware UTC instant the tests compare against."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def walls(cadence: str, zone: str, after: datetime, until: datetime) -> list[str]:
    found = boundaries(parse_cadence(cadence), zone, after=after, until=until)
    return [b.astimezone(ZoneInfo(zone)).strftime("%a %d %H:%M%z") for b in found]


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("immediate", "immediate"),
    ("  Immediate ", "immediate"),
    ("hourly", "hourly"),
    ("daily 08:00", "daily 08:00"),
    ("daily 8:05", "daily 08:05"),
    ("DAILY   23:59", "daily 23:59"),
    ("weekly mon 08:00", "weekly mon 08:00"),
    ("weekly Monday 8:00", "weekly mon 08:00"),
    ("weekly sun 00:00", "weekly sun 00:00"),
    ("0 8 * * 1-5", "0 8 * * 1-5"),
    ("  */15   *  * * *", "*/15 * * * *"),
    ("30 6 1 JAN *", "30 6 1 jan *"),
    ("0 9 * * SAT,sun", "0 9 * * sat,sun"),
])
def test_every_form_parses_and_prints_back_canonical(text: str, canonical: str) -> None:
    cadence = parse_cadence(text)
    assert str(cadence) == canonical
    assert parse_cadence(str(cadence)) == cadence


def test_parsed_cadences_carry_their_parts_and_an_equivalent_crontab() -> None:
    assert parse_cadence("immediate").is_immediate and parse_cadence("immediate").crontab is None
    assert parse_cadence("hourly").crontab == "0 * * * *"
    daily = parse_cadence("daily 08:30")
    assert (daily.kind, daily.at, daily.crontab) == ("daily", time(8, 30), "30 8 * * *")
    weekly = parse_cadence("weekly sun 07:00")
    assert (weekly.kind, weekly.weekday, weekly.crontab) == ("weekly", 6, "0 7 * * 0")
    assert parse_cadence("0 8 * * 1-5") == Cadence("cron", expression="0 8 * * 1-5")


@pytest.mark.parametrize("text, says", [
    ("", "unknown cadence"),
    ("sometimes", "unknown cadence"),
    ("daily", "daily HH:MM"),
    ("daily 25:00", "not a time of day"),
    ("daily 08:60", "not a time of day"),
    ("daily 8am", "not a time of day"),
    ("daily 08:00 09:00", "daily HH:MM"),
    ("weekly 08:00", "weekly DAY HH:MM"),
    ("weekly funday 08:00", "not a day of the week"),
    ("weekly mon 8", "not a time of day"),
    ("hourly 15", "unknown cadence"),
    ("0 8 * *", "unknown cadence"),
    ("0 0 8 * * *", "unknown cadence"),
    ("61 8 * * *", "invalid cron expression"),
    ("0 24 * * *", "invalid cron expression"),
    ("0 8 32 * *", "invalid cron expression"),
    ("0 8 * 13 *", "invalid cron expression"),
    ("x 8 * * *", "invalid cron expression"),
    ("0 8 * * 8", "day-of-week"),
    ("0 8 * * 5-1", "runs backwards"),
    ("0 8 * * */0", "day-of-week"),
    ("0 8 * * funday", "day-of-week"),
    ("0 8 1 * mon", "restricts both"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4,6 *", "never fires"),
])
def test_bad_cadences_are_rejected_naming_the_accepted_forms(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as error:
        parse_cadence(text)
    if "unknown cadence" in says or "invalid cron" in says:
        assert "weekly DAY HH:MM" in str(error.value) and "cron" in str(error.value)


def test_non_text_cadence_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cadence"):
        parse_cadence(None)  # type: ignore[arg-type]


def test_quiet_hours_parse_and_print_back() -> None:
    quiet = parse_quiet_hours("22:00-07:00")
    assert quiet == QuietHours(time(22), time(7)) and str(quiet) == "22:00-07:00"
    assert str(parse_quiet_hours(" 1:30 - 6:00 ")) == "01:30-06:00"


@pytest.mark.parametrize("text", ["", "22:00", "22-07", "22:00-07:00-08:00", "25:00-07:00",
                                  "22:00-07:61", "22:00 to 07:00", "10:00-10:00"])
def test_bad_quiet_hours_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours|time of day"):
        parse_quiet_hours(text)


def test_quiet_hours_may_cross_midnight() -> None:
    night = parse_quiet_hours("22:00-07:00")
    assert [night.contains(time(h)) for h in (21, 22, 23, 0, 6, 7, 12)] == [
        False, True, True, True, True, False, False]
    lunch = parse_quiet_hours("12:00-13:30")
    assert [lunch.contains(t) for t in (time(11, 59), time(12), time(13, 29), time(13, 30))] == [
        False, True, True, False]


def test_unknown_time_zone_is_a_value_error() -> None:
    assert parse_time_zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    for name in ("Europe/Atlantis", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="unknown time zone"):
            parse_time_zone(name)
    with pytest.raises(ValueError, match="unknown time zone"):
        due_window(parse_cadence("hourly"), "Mars/Olympus", now=utc(2026, 1, 1), last_end=None,
                   first_start=utc(2025, 1, 1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_window(parse_cadence("hourly"), BERLIN, now=datetime(2026, 1, 1), last_end=None,
                   first_start=utc(2025, 1, 1))
    with pytest.raises(ValueError, match="before its end"):
        Window(utc(2026, 1, 2), utc(2026, 1, 1))


# -- boundaries -----------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, SYDNEY, "Asia/Kolkata", "Asia/Kathmandu", "UTC"])
def test_daily_fires_at_the_local_time_in_each_zone(zone: str) -> None:
    found = boundaries(parse_cadence("daily 08:00"), zone, after=utc(2026, 6, 1), until=utc(2026, 6, 4))
    assert [b.astimezone(ZoneInfo(zone)).strftime("%H:%M") for b in found] == ["08:00"] * 3
    assert all(b.tzinfo == UTC for b in found)


def test_hourly_fires_on_the_local_hour_in_half_hour_zones() -> None:
    found = boundaries(parse_cadence("hourly"), "Asia/Kolkata", after=utc(2026, 6, 1), until=utc(2026, 6, 1, 3))
    assert found == [utc(2026, 6, 1, 0, 30), utc(2026, 6, 1, 1, 30), utc(2026, 6, 1, 2, 30)]
    found = boundaries(parse_cadence("hourly"), "Asia/Kathmandu", after=utc(2026, 6, 1), until=utc(2026, 6, 1, 2))
    assert [b.minute for b in found] == [15, 15]


def test_weekly_fires_on_its_day_only() -> None:
    assert walls("weekly mon 08:00", NEW_YORK, utc(2026, 3, 1), utc(2026, 3, 22)) == [
        "Mon 02 08:00-0500", "Mon 09 08:00-0400", "Mon 16 08:00-0400"]


def test_cron_weekdays_use_standard_numbering_sunday_zero() -> None:
    # 2026-03-02 is a Monday. APScheduler's from_crontab would read 1-5 as Tuesday to Saturday.
    week = (utc(2026, 3, 1, 12), utc(2026, 3, 8, 12))
    assert [w[:3] for w in walls("0 8 * * 1-5", "UTC", *week)] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert [w[:3] for w in walls("0 8 * * mon-fri", "UTC", *week)] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert [w[:3] for w in walls("0 8 * * 0", "UTC", *week)] == ["Sun"]
    assert [w[:3] for w in walls("0 8 * * 7", "UTC", *week)] == ["Sun"]
    assert [w[:3] for w in walls("0 8 * * 5-7", "UTC", *week)] == ["Fri", "Sat", "Sun"]
    assert [w[:3] for w in walls("0 8 * * fri-sun", "UTC", *week)] == ["Fri", "Sat", "Sun"]
    assert [w[:3] for w in walls("0 8 * * */2", "UTC", *week)] == ["Tue", "Thu", "Sat", "Sun"]
    assert len(walls("0 8 * * 0-6", "UTC", *week)) == 7


def test_cron_day_of_month_and_steps() -> None:
    assert walls("0 8 1,15 * *", BERLIN, utc(2026, 1, 1), utc(2026, 2, 28)) == [
        "Thu 01 08:00+0100", "Thu 15 08:00+0100", "Sun 01 08:00+0100", "Sun 15 08:00+0100"]
    assert len(boundaries(parse_cadence("*/15 * * * *"), BERLIN, after=utc(2026, 6, 1), until=utc(2026, 6, 1, 1))) == 4


def test_leap_day_cron_is_found_years_away() -> None:
    cadence = parse_cadence("0 0 29 2 *")
    assert latest_boundary(cadence, "UTC", at=utc(2031, 1, 1)) == utc(2028, 2, 29)
    assert next_boundary(cadence, "UTC", after=utc(2029, 1, 1)) == utc(2032, 2, 29)


def test_latest_and_next_boundary_around_a_boundary() -> None:
    daily = parse_cadence("daily 08:00")
    eight = local(BERLIN, 2026, 6, 2, 8)
    assert latest_boundary(daily, BERLIN, at=eight) == eight
    assert latest_boundary(daily, BERLIN, at=eight - timedelta(seconds=1)) == eight - timedelta(days=1)
    assert next_boundary(daily, BERLIN, after=eight) == eight + timedelta(days=1)
    assert next_boundary(daily, BERLIN, after=eight - timedelta(seconds=1)) == eight
    assert latest_boundary(parse_cadence("immediate"), BERLIN, at=eight) is None


# -- daylight saving --------------------------------------------------------------------------


@pytest.mark.parametrize("zone, first_day", [
    (BERLIN, (2026, 3, 26)), (BERLIN, (2026, 10, 22)),
    (NEW_YORK, (2026, 3, 5)), (NEW_YORK, (2026, 10, 29)),
    (SYDNEY, (2026, 4, 2)), (SYDNEY, (2026, 10, 1)),
])
def test_daily_0800_fires_once_a_day_at_0800_across_dst_changes(zone: str, first_day: tuple[int, int, int]) -> None:
    start = local(zone, *first_day)
    found = boundaries(parse_cadence("daily 08:00"), zone, after=start, until=start + timedelta(days=7))
    assert len(found) == 7
    days = [b.astimezone(ZoneInfo(zone)) for b in found]
    assert all(d.strftime("%H:%M") == "08:00" for d in days)
    assert len({d.date() for d in days}) == 7


def test_berlin_0230_fires_once_on_both_change_days() -> None:
    # 2026-03-29 02:00 jumps to 03:00, so 02:30 never happens: fire when the clocks jump.
    assert walls("daily 02:30", BERLIN, utc(2026, 3, 28), utc(2026, 3, 30, 12)) == [
        "Sat 28 02:30+0100", "Sun 29 03:00+0200", "Mon 30 02:30+0200"]
    assert latest_boundary(parse_cadence("daily 02:30"), BERLIN, at=utc(2026, 3, 29, 12)) == utc(2026, 3, 29, 1)
    # 2026-10-25 03:00 goes back to 02:00, so 02:30 happens twice: fire the first time only.
    assert walls("daily 02:30", BERLIN, utc(2026, 10, 24), utc(2026, 10, 26, 12)) == [
        "Sat 24 02:30+0200", "Sun 25 02:30+0200", "Mon 26 02:30+0100"]


def test_new_york_skipped_and_repeated_times_fire_once() -> None:
    # 2026-03-08: 02:00 -> 03:00 EDT. 2026-11-01: 02:00 EDT -> 01:00 EST, so 01:30 repeats.
    assert walls("daily 02:30", NEW_YORK, utc(2026, 3, 7, 12), utc(2026, 3, 9, 12)) == [
        "Sun 08 03:00-0400", "Mon 09 02:30-0400"]
    assert walls("daily 01:30", NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) == [
        "Sun 01 01:30-0400", "Mon 02 01:30-0500"]


def test_sydney_southern_hemisphere_changes_fire_once() -> None:
    # 2026-04-05 03:00 AEDT goes back to 02:00 AEST; 2026-10-04 02:00 AEST jumps to 03:00 AEDT.
    assert walls("daily 02:30", SYDNEY, utc(2026, 4, 3, 12), utc(2026, 4, 5, 18)) == [
        "Sat 04 02:30+1100", "Sun 05 02:30+1100", "Mon 06 02:30+1000"]
    assert walls("daily 02:30", SYDNEY, utc(2026, 10, 2, 12), utc(2026, 10, 4, 18)) == [
        "Sat 03 02:30+1000", "Sun 04 03:00+1100", "Mon 05 02:30+1100"]


@pytest.mark.parametrize("zone, around", [
    (BERLIN, utc(2026, 3, 29, 1)), (BERLIN, utc(2026, 10, 25, 1)),
    (NEW_YORK, utc(2026, 3, 8, 7)), (NEW_YORK, utc(2026, 11, 1, 6)),
    (SYDNEY, utc(2026, 4, 4, 16)), (SYDNEY, utc(2026, 10, 3, 16)),
])
def test_hourly_stays_an_hour_apart_in_real_time_across_dst(zone: str, around: datetime) -> None:
    found = boundaries(parse_cadence("hourly"), zone, after=around - timedelta(hours=4),
                       until=around + timedelta(hours=4))
    assert found == [around - timedelta(hours=3) + timedelta(hours=n) for n in range(8)]


def test_boundaries_are_found_in_a_range_that_starts_before_the_clocks_go_back() -> None:
    # 02:30 CEST to 02:00 CET: the local clock reads earlier at the end than at the start.
    hourly = parse_cadence("hourly")
    assert boundaries(hourly, BERLIN, after=utc(2026, 10, 25, 0, 30), until=utc(2026, 10, 25, 1)) == [
        utc(2026, 10, 25, 1)]
    assert latest_boundary(hourly, BERLIN, at=utc(2026, 10, 25, 1, 59)) == utc(2026, 10, 25, 1)
    assert next_boundary(hourly, BERLIN, after=utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 1)


def test_quarter_hourly_cron_runs_in_both_passes_of_a_repeated_hour() -> None:
    found = boundaries(parse_cadence("*/15 * * * *"), BERLIN, after=utc(2026, 10, 24, 23),
                       until=utc(2026, 10, 25, 2))
    assert len(found) == 12 and all(b - a == timedelta(minutes=15) for a, b in pairwise(found))


def test_fixed_hour_cron_fires_once_in_a_repeated_hour() -> None:
    found = boundaries(parse_cadence("0,30 2 * * *"), BERLIN, after=utc(2026, 10, 24, 12),
                       until=utc(2026, 10, 25, 12))
    assert found == [local(BERLIN, 2026, 10, 25, 2, 0), local(BERLIN, 2026, 10, 25, 2, 30)]


# -- due windows ------------------------------------------------------------------------------

DAILY = parse_cadence("daily 08:00")
HOURLY = parse_cadence("hourly")
IMMEDIATE = parse_cadence("immediate")


def test_each_window_is_due_once_then_nothing_until_the_next_boundary() -> None:
    monday_eight = local(BERLIN, 2026, 6, 1, 8)
    now = monday_eight + timedelta(minutes=5)
    window = due_window(DAILY, BERLIN, now=now, last_end=monday_eight - timedelta(days=1),
                        first_start=utc(2026, 1, 1))
    assert window == Window(monday_eight - timedelta(days=1), monday_eight)
    assert due_window(DAILY, BERLIN, now=now, last_end=monday_eight - timedelta(days=1),
                      first_start=utc(2026, 1, 1)) == window  # same question, same answer
    for later in (now, now + timedelta(hours=12), monday_eight + timedelta(days=1, seconds=-1)):
        assert due_window(DAILY, BERLIN, now=later, last_end=window.end, first_start=utc(2026, 1, 1)) is None
    following = due_window(DAILY, BERLIN, now=monday_eight + timedelta(days=1), last_end=window.end,
                           first_start=utc(2026, 1, 1))
    assert following == Window(monday_eight, monday_eight + timedelta(days=1))


def test_catch_up_after_downtime_is_one_window_covering_every_missed_boundary() -> None:
    last_sent = local(BERLIN, 2026, 6, 1, 8)      # Monday
    back_up = local(BERLIN, 2026, 6, 5, 10, 17)   # Friday, after four missed digests
    window = due_window(DAILY, BERLIN, now=back_up, last_end=last_sent, first_start=utc(2026, 1, 1))
    assert window == Window(last_sent, local(BERLIN, 2026, 6, 5, 8))
    assert due_window(DAILY, BERLIN, now=back_up, last_end=window.end, first_start=utc(2026, 1, 1)) is None


def test_first_run_starts_at_first_start_and_waits_for_a_boundary_after_it() -> None:
    subscribed = local(BERLIN, 2026, 6, 2, 12)
    assert due_window(DAILY, BERLIN, now=subscribed + timedelta(hours=1), last_end=None,
                      first_start=subscribed) is None
    window = due_window(DAILY, BERLIN, now=local(BERLIN, 2026, 6, 3, 9), last_end=None, first_start=subscribed)
    assert window == Window(subscribed, local(BERLIN, 2026, 6, 3, 8))


def test_window_is_held_through_quiet_hours_and_sent_when_they_end() -> None:
    quiet = parse_quiet_hours("22:00-07:00")
    last = local(BERLIN, 2026, 6, 1, 21)
    for now in (local(BERLIN, 2026, 6, 1, 22), local(BERLIN, 2026, 6, 1, 23, 30),
                local(BERLIN, 2026, 6, 2, 3), local(BERLIN, 2026, 6, 2, 6, 59, 59)):
        assert due_window(HOURLY, BERLIN, now=now, last_end=last, first_start=last, quiet=quiet) is None
    window = due_window(HOURLY, BERLIN, now=local(BERLIN, 2026, 6, 2, 7, 0, 30), last_end=last,
                        first_start=last, quiet=quiet)
    assert window == Window(last, local(BERLIN, 2026, 6, 2, 7))


def test_daily_digest_inside_quiet_hours_goes_out_when_they_end() -> None:
    early = parse_cadence("daily 06:00")
    quiet = parse_quiet_hours("22:00-07:00")
    last = local(NEW_YORK, 2026, 6, 1, 6)
    assert due_window(early, NEW_YORK, now=local(NEW_YORK, 2026, 6, 2, 6, 30), last_end=last,
                      first_start=last, quiet=quiet) is None
    assert next_due_time(early, NEW_YORK, now=local(NEW_YORK, 2026, 6, 1, 12), quiet=quiet) == \
        local(NEW_YORK, 2026, 6, 2, 7)
    window = due_window(early, NEW_YORK, now=local(NEW_YORK, 2026, 6, 2, 7), last_end=last,
                        first_start=last, quiet=quiet)
    assert window == Window(last, local(NEW_YORK, 2026, 6, 2, 6))


def test_burst_of_hits_becomes_one_message_after_the_debounce() -> None:
    last = utc(2026, 6, 1, 9)
    hits = [utc(2026, 6, 1, 10) + timedelta(seconds=30 * n) for n in range(6)]
    for n, hit in enumerate(hits):
        for now in (hit, hit + timedelta(seconds=29)):
            assert due_window(IMMEDIATE, BERLIN, now=now, last_end=last, first_start=last,
                              latest_hit=hit) is None, f"hit {n} sent before the burst settled"
    assert due_window(IMMEDIATE, BERLIN, now=hits[-1] + timedelta(seconds=119), last_end=last,
                      first_start=last, latest_hit=hits[-1]) is None
    window = due_window(IMMEDIATE, BERLIN, now=hits[-1] + timedelta(minutes=2), last_end=last,
                        first_start=last, latest_hit=hits[-1])
    assert window == Window(last, hits[-1]) and all(window.covers(hit) for hit in hits)
    assert due_window(IMMEDIATE, BERLIN, now=hits[-1] + timedelta(minutes=5), last_end=window.end,
                      first_start=last, latest_hit=hits[-1]) is None


def test_immediate_without_new_hits_sends_nothing() -> None:
    start = utc(2026, 6, 1)
    assert due_window(IMMEDIATE, BERLIN, now=utc(2026, 6, 2), last_end=None, first_start=start) is None
    assert due_window(IMMEDIATE, BERLIN, now=utc(2026, 6, 2), last_end=None, first_start=start,
                      latest_hit=start - timedelta(hours=1)) is None
    window = due_window(IMMEDIATE, BERLIN, now=utc(2026, 6, 2), last_end=None, first_start=start,
                        latest_hit=utc(2026, 6, 1, 12))
    assert window == Window(start, utc(2026, 6, 1, 12))


def test_immediate_respects_quiet_hours() -> None:
    quiet = parse_quiet_hours("22:00-07:00")
    hit = local(BERLIN, 2026, 6, 1, 23)
    assert due_window(IMMEDIATE, BERLIN, now=hit + timedelta(hours=1), last_end=hit - timedelta(hours=5),
                      first_start=hit, latest_hit=hit, quiet=quiet) is None
    assert next_due_time(IMMEDIATE, BERLIN, now=hit, quiet=quiet, latest_hit=hit) == local(BERLIN, 2026, 6, 2, 7)
    assert due_window(IMMEDIATE, BERLIN, now=local(BERLIN, 2026, 6, 2, 7), last_end=hit - timedelta(hours=5),
                      first_start=hit, latest_hit=hit, quiet=quiet) == Window(hit - timedelta(hours=5), hit)


def test_a_burst_that_never_settles_goes_out_after_max_wait() -> None:
    first = utc(2026, 6, 1, 10)
    latest = first + timedelta(minutes=14, seconds=30)   # a hit every 30 s for a quarter hour
    now = first + timedelta(minutes=14, seconds=45)

    def due(max_wait: timedelta | None) -> Window | None:
        return due_window(IMMEDIATE, BERLIN, now=now, last_end=first - timedelta(hours=1), first_start=first,
                          latest_hit=latest, oldest_hit=first, max_wait=max_wait)

    assert due(None) is None
    assert due(timedelta(minutes=20)) is None
    assert due(timedelta(minutes=10)) == Window(first - timedelta(hours=1), latest)


def test_next_due_time_for_scheduled_and_immediate_cadences() -> None:
    now = local(BERLIN, 2026, 6, 1, 9, 30)
    assert next_due_time(DAILY, BERLIN, now=now) == local(BERLIN, 2026, 6, 2, 8)
    assert next_due_time(HOURLY, BERLIN, now=now) == local(BERLIN, 2026, 6, 1, 10)
    # A window already waiting (e.g. after downtime) is due now.
    assert next_due_time(DAILY, BERLIN, now=now, last_end=local(BERLIN, 2026, 5, 30, 8)) == now
    assert next_due_time(DAILY, BERLIN, now=now, last_end=local(BERLIN, 2026, 6, 1, 8)) == local(BERLIN, 2026, 6, 2, 8)
    hit = now - timedelta(seconds=30)
    assert next_due_time(IMMEDIATE, BERLIN, now=now, latest_hit=hit) == hit + timedelta(minutes=2)
    assert next_due_time(IMMEDIATE, BERLIN, now=now, latest_hit=hit, last_end=hit) == now + timedelta(minutes=2)


def test_quiet_hours_end_handles_midnight_and_dst() -> None:
    night = parse_quiet_hours("22:00-07:00")
    assert quiet_hours_end(night, BERLIN, at=local(BERLIN, 2026, 6, 1, 23)) == local(BERLIN, 2026, 6, 2, 7)
    assert quiet_hours_end(night, BERLIN, at=local(BERLIN, 2026, 6, 2, 1)) == local(BERLIN, 2026, 6, 2, 7)
    assert quiet_hours_end(night, BERLIN, at=local(BERLIN, 2026, 6, 2, 12)) == local(BERLIN, 2026, 6, 2, 12)
    # Quiet hours ending at a skipped time end when the clocks jump.
    small_hours = parse_quiet_hours("00:00-02:30")
    assert quiet_hours_end(small_hours, BERLIN, at=utc(2026, 3, 28, 23, 30)) == utc(2026, 3, 29, 1)


@pytest.mark.parametrize("cadence, zone, quiet", [
    ("hourly", BERLIN, None),
    ("daily 02:30", BERLIN, None),
    ("daily 08:00", SYDNEY, "22:00-07:00"),
    ("*/30 * * * *", NEW_YORK, "23:00-06:00"),
    ("0 8 * * 1-5", BERLIN, None),
])
def test_a_clock_ticking_through_a_dst_week_sends_every_window_once(cadence: str, zone: str,
                                                                    quiet: str | None) -> None:
    parsed = parse_cadence(cadence)
    hours = parse_quiet_hours(quiet) if quiet else None
    start, stop = utc(2026, 10, 22), utc(2026, 10, 29)   # Berlin falls back on the 25th
    if zone == SYDNEY:
        start, stop = utc(2026, 4, 1), utc(2026, 4, 8)
    if zone == NEW_YORK:
        start, stop = utc(2026, 10, 29), utc(2026, 11, 4)
    sent: list[Window] = []
    now, last_end = start, None
    while now <= stop:
        window = due_window(parsed, zone, now=now, last_end=last_end, first_start=start, quiet=hours)
        if window is not None:
            assert hours is None or not hours.contains(now.astimezone(ZoneInfo(zone)).time())
            sent.append(window)
            last_end = window.end
        now += timedelta(minutes=10)
    assert sent, "nothing was ever sent"
    assert sent[0].start == start
    assert all(a.end == b.start for a, b in pairwise(sent)), "windows must tile time without gaps"
    ends = boundaries(parsed, zone, after=start, until=sent[-1].end)
    assert {w.end for w in sent} <= set(ends)
    if hours is None:
        assert [w.end for w in sent] == ends, "every boundary gets its own window"
