"""Working hours, holidays and the load window, in the team's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.routing.hours import WorkingHours, window_start_s

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
