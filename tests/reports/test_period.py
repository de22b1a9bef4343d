"""Report periods: today in the team's zone (DST days included) and from/to as people type them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.period import PeriodError, parse_period, today

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 10, 30, tzinfo=BERLIN).timestamp()


def at(*args: int, zone: ZoneInfo = BERLIN) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("now", "start", "end", "hours"),
    [
        (NOW, at(2026, 3, 2), at(2026, 3, 3), 24),
        (at(2026, 3, 29, 12), at(2026, 3, 29), at(2026, 3, 30), 23),  # spring forward: a 23-hour day
        (at(2026, 10, 25, 12), at(2026, 10, 25), at(2026, 10, 26), 25),  # fall back: 25 hours
        (at(2026, 3, 2, 0, 0), at(2026, 3, 2), at(2026, 3, 3), 24),  # midnight itself is the new day
    ],
)
def test_today_is_the_local_day(now: float, start: float, end: float, hours: int) -> None:
    period = today(BERLIN, now)
    assert (period.from_s, period.to_s) == (start, end) and end - start == hours * 3600


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "start", "end"),
    [
        (None, None, at(2026, 3, 2), at(2026, 3, 3)),
        ("2026-03-01", None, at(2026, 3, 1), at(2026, 3, 2)),
        ("2026-03-01", "2026-03-03", at(2026, 3, 1), at(2026, 3, 3)),
        ("2026-03-01T08:00", "2026-03-01T12:00", at(2026, 3, 1, 8), at(2026, 3, 1, 12)),
        ("2026-03-01T08:00", None, at(2026, 3, 1, 8), at(2026, 3, 2)),
        ("2026-03-01T07:00Z", "2026-03-01T08:00+00:00", at(2026, 3, 1, 8), at(2026, 3, 1, 9)),  # instants as given
        ("2026-02-01", "2026-03-04", at(2026, 2, 1), at(2026, 3, 4)),  # 31 days
        ("2026-03-01", "2026-04-01", at(2026, 3, 1), at(2026, 4, 1)),  # 31 local days with a 23-hour one in them
    ],
)
def test_from_and_to(raw_from: str | None, raw_to: str | None, start: float, end: float) -> None:
    period = parse_period(raw_from, raw_to, zone=BERLIN, now_s=NOW, max_days=31)
    assert (period.from_s, period.to_s) == (start, end)


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field", "message"),
    [
        ("yesterday", None, "from", "must be a date"),
        ("2026-13-01", None, "from", "must be a date"),
        ("2026-03-01", "soon", "to", "must be a date"),
        ("2026-03-01T25:00", None, "from", "must be a date"),
        ("2" * 41, None, "from", "must be a date"),
        (None, "2026-03-01", "to", "needs a from"),
        ("2026-03-02", "2026-03-01", "to", "must be before"),
        ("2026-03-02", "2026-03-02", "to", "must be before"),
        ("2026-01-01", "2026-02-02", "to", "at most 31 days"),
        ("0001-01-01", "9999-12-31", "to", "at most 31 days"),
    ],
)
def test_bad_input_says_what_is_wrong(raw_from: str | None, raw_to: str | None, field: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message) as info:
        parse_period(raw_from, raw_to, zone=BERLIN, now_s=NOW, max_days=31)
    assert info.value.field == field
