"""Next run times of scheduled reports: local wall-clock time in the zone, across DST changes (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from callcenter.reports.schedule import ScheduleError, next_run, recurrence

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_in_berlin_moves_an_hour_in_utc_across_spring_forward() -> None:
    # 2026-03-29: Berlin goes from CET (+01) to CEST (+02) at 02:00 local.
    rule = recurrence("daily", "09:00", "Europe/Berlin")
    assert next_run(rule, utc(2026, 3, 28, 7, 0)) == utc(2026, 3, 28, 8, 0)  # 09:00 CET
    assert next_run(rule, utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 29, 7, 0)  # 09:00 CEST, 23 h later
    assert next_run(rule, utc(2026, 3, 29, 7, 0)) == utc(2026, 3, 30, 7, 0)


def test_daily_across_fall_back() -> None:
    # 2026-10-25: CEST (+02) back to CET (+01) at 03:00 local.
    rule = recurrence("daily", "09:00", "Europe/Berlin")
    assert next_run(rule, utc(2026, 10, 24, 7, 0)) == utc(2026, 10, 25, 8, 0)  # 25 h later


def test_time_skipped_by_spring_forward_runs_after_the_gap() -> None:
    rule = recurrence("daily", "02:30", "Europe/Berlin")
    # 02:30 does not exist on 2026-03-29: it runs at 03:30 CEST = 01:30 UTC (02:30 on the old offset).
    assert next_run(rule, utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 30)
    assert next_run(rule, utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST again


def test_time_that_happens_twice_runs_once_at_the_first() -> None:
    rule = recurrence("daily", "02:30", "Europe/Berlin")
    first = next_run(rule, utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    # Not again at 02:30 CET (01:30 UTC) the same night: next is the day after.
    assert next_run(rule, first) == utc(2026, 10, 26, 1, 30)


def test_weekly_on_a_weekday_in_new_york() -> None:
    # 2026-03-08 (Sunday): New York springs forward; Mondays at 08:00 are 13:00 UTC before, 12:00 UTC after.
    rule = recurrence("weekly", "08:00", "America/New_York", "monday")
    assert next_run(rule, utc(2026, 3, 4, 0, 0)) == utc(2026, 3, 9, 12, 0)
    assert next_run(rule, utc(2026, 3, 2, 12, 59)) == utc(2026, 3, 2, 13, 0)
    assert next_run(rule, utc(2026, 3, 2, 13, 0)) == utc(2026, 3, 9, 12, 0)


def test_zone_east_of_utc_where_the_local_day_is_ahead() -> None:
    # 23:30 UTC on Sunday is already Monday 12:30 in Auckland (+13 in January): Monday 09:00 there has passed.
    rule = recurrence("weekly", "09:00", "Pacific/Auckland", "monday")
    assert next_run(rule, utc(2026, 1, 4, 23, 30)) == utc(2026, 1, 11, 20, 0)  # Monday 12 January 09:00 NZDT


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("hourly", "09:00", "UTC"), "cadence"),
        (("weekly", "09:00", "UTC"), "weekday"),
        (("weekly", "09:00", "UTC", "funday"), "weekday"),
        (("daily", "09:00", "UTC", "monday"), "weekday"),
        (("daily", "9:00", "UTC"), "time"),
        (("daily", "24:00", "UTC"), "time"),
        (("daily", "09:60", "UTC"), "time"),
        (("daily", "09:00", "Mars/Olympus"), "timezone"),
        (("daily", "09:00", "../../etc/passwd"), "timezone"),
        (("daily", "09:00", ""), "timezone"),
    ],
)
def test_bad_input_names_the_field(args: tuple[str, ...], field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        recurrence(*args)
    assert caught.value.field == field
