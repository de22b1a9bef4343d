"""Working hours, holidays and the load window, in the team's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.routing.hours import WorkingHours, due_after, window_start_s

NY = ZoneInfo("America/New_York")


def at(*args: int, zone: ZoneInfo = NY) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


HOURS = WorkingHours.parse(
    timezone="America/New_York",
    week={"mon-fri": "09:00-12:00, 13:00-17:30", "sat": "22:00-02:00", "sun": "closed"},
    holidays=["2026-07-03"],
)


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (at(2026, 3, 2, 8, 59), False),
        (at(2026, 3, 2, 9, 0), True),
        (at(2026, 3, 2, 12, 30), False),  # lunch gap
        (at(2026, 3, 2, 17, 29), True),
        (at(2026, 3, 2, 17, 30), False),  # the end is exclusive
        (at(2026, 3, 7, 23, 0), True),  # Saturday night range ...
        (at(2026, 3, 8, 1, 59), True),  # ... runs into Sunday although Sunday is closed
        (at(2026, 3, 8, 2, 0), False),
        (at(2026, 3, 9, 10, 0), True),  # the Monday after the DST switch: local hours stay local
        (at(2026, 7, 3, 10, 0), False),  # holiday
    ],
)
def test_open_and_closed(when: float, is_open: bool) -> None:
    assert HOURS.status(when).open is is_open


def test_holiday_names_and_always_open() -> None:
    hours = WorkingHours.parse(timezone="UTC", week={}, holidays={"2026-01-01": "New Year"})
    assert hours.always and hours.status(at(2026, 6, 1, 3, 0)).open
    closed = hours.status(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("UTC")).timestamp())
    assert (closed.open, closed.holiday) == (False, "New Year")


def test_wrapping_day_ranges() -> None:
    hours = WorkingHours.parse(timezone="UTC", week={"fri-mon": "10:00-11:00"})
    utc = ZoneInfo("UTC")
    opened = [d for d in range(2, 9) if hours.status(datetime(2026, 3, d, 10, 30, tzinfo=utc).timestamp()).open]
    assert opened == [2, 6, 7, 8]  # Mon 2, Fri 6, Sat 7, Sun 8


@pytest.mark.parametrize(
    ("week", "holidays", "message"),
    [
        ({"mon": "9-17"}, (), "must look like"),
        ({"someday": "09:00-17:00"}, (), "day 'someday'"),
        ({"mon": "09:00-09:00"}, (), "empty"),
        ({"mon": "09:60-10:00"}, (), "bad time"),
        ({}, ["25.12.2026"], "ISO date"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(week: dict[str, str], holidays: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(timezone="UTC", week=week, holidays=holidays)


def test_load_window_is_local_midnight_or_sliding() -> None:
    now = at(2026, 3, 8, 15, 0)  # the DST day in New York: the day has 23 hours
    assert window_start_s(now, zone=NY, window_s=0) == at(2026, 3, 8, 0, 0)
    assert now - window_start_s(now, zone=NY, window_s=0) == 14 * 3600
    assert window_start_s(now, zone=NY, window_s=3600) == now - 3600


@pytest.mark.parametrize(
    ("start", "open_s", "due"),
    [
        (at(2026, 3, 2, 10, 0), 900, at(2026, 3, 2, 10, 15)),  # open: plain addition
        (at(2026, 3, 2, 11, 55), 900, at(2026, 3, 2, 13, 10)),  # the lunch gap does not count
        (at(2026, 3, 2, 17, 25), 900, at(2026, 3, 3, 9, 10)),  # five minutes today, ten tomorrow
        (at(2026, 3, 2, 20, 0), 900, at(2026, 3, 3, 9, 15)),  # missed after hours: due after opening
        (at(2026, 3, 6, 17, 25), 900, at(2026, 3, 7, 22, 10)),  # Friday evening -> Saturday night range
        (at(2026, 7, 2, 17, 20), 1200, at(2026, 7, 4, 22, 10)),  # Thursday, Friday a holiday -> Saturday night
        (at(2026, 3, 7, 1, 0), 3 * 3600, at(2026, 3, 8, 1, 0)),  # Saturday 22-24 h, then into the DST night
    ],
)
def test_a_callback_sla_runs_only_while_the_team_is_open(start: float, open_s: float, due: float) -> None:
    assert due_after(HOURS, start, open_s) == due


def test_sla_without_hours_and_without_any_opening() -> None:
    assert due_after(WorkingHours.always_open(), 100.0, 900) == 1000.0
    closed_xmas = WorkingHours.parse(timezone="UTC", week={}, holidays=["2026-12-25"])
    assert due_after(closed_xmas, at(2026, 12, 24, 23, 50, zone=ZoneInfo("UTC")), 1200) == at(
        2026, 12, 26, 0, 10, zone=ZoneInfo("UTC")
    )
    never = WorkingHours.parse(timezone="UTC", week={"mon": "closed"})
    with pytest.raises(ValueError, match="no opening hours"):
        due_after(never, 0.0, 60)


def test_sla_over_the_dst_switch_counts_real_seconds() -> None:
    night = WorkingHours.parse(timezone="America/New_York", week={"sun": "00:00-04:00"})
    # 2026-03-08 02:00 does not exist in New York: 00:00-04:00 wall time is three real hours.
    assert due_after(night, at(2026, 3, 8, 0, 0), 3 * 3600 - 60) == at(2026, 3, 8, 3, 59)
