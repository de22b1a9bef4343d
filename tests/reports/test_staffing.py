"""Staffing from measured calls equals the hand computation: weeks with data, mean offered, AHT, patience, agents."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.erlang import agents_needed, erlang_c_figures
from callcenter.reports.figures import CallFact
from callcenter.reports.staffing import Target, estimate_patience, plan_staffing, weeks_before

BERLIN = ZoneInfo("Europe/Berlin")
UNTIL = date(2026, 3, 30)  # a Monday; the 4 weeks before start on Mondays 2, 9, 16 and 23 March
TEN = 40  # interval index of 10:00


def _at(day: date, hh: int, mm: int, ss: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=BERLIN).timestamp()


def _call(at: float, outcome: str, *, wait_s: float, talk_s: float = 0.0, wrapup_s: float | None = None) -> CallFact:
    return CallFact(call_id=str(at), team="Team A", started_s=at, ended_s=at + wait_s + talk_s, outcome=outcome,
                    wait_s=wait_s, talk_s=talk_s, wrapup_s=wrapup_s)


MON1, MON2, MON4 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 23)  # Monday 16 March: no call (a holiday)
CALLS = [
    _call(_at(MON1, 10, 0), "answered", wait_s=10, talk_s=100, wrapup_s=20),
    _call(_at(MON1, 10, 7), "answered", wait_s=30, talk_s=200),  # no wrap-up recorded
    _call(_at(MON1, 10, 14, 59), "abandoned", wait_s=40),
    _call(_at(MON1, 10, 30), "abandoned", wait_s=6),  # 10:30: calls, none answered
    _call(_at(MON2, 9, 59, 59), "answered", wait_s=0, talk_s=60),  # the interval before
    _call(_at(MON2, 10, 5), "answered", wait_s=5, talk_s=300, wrapup_s=30),
    _call(_at(date(2026, 3, 3), 10, 0), "answered", wait_s=50, talk_s=40),  # a Tuesday
    _call(_at(MON4, 10, 14, 59), "abandoned", wait_s=20),
    _call(_at(MON4, 10, 15), "missed", wait_s=25),  # the next interval
    _call(_at(date(2026, 2, 23), 10, 0), "answered", wait_s=0, talk_s=999),  # before the window
    _call(_at(UNTIL, 10, 0), "answered", wait_s=0, talk_s=999),  # after it (until is exclusive)
]


def test_weeks_end_at_local_midnight_and_know_dst() -> None:
    weeks = weeks_before(UNTIL, 4, BERLIN)
    assert [w.start for w in weeks] == [MON1, MON2, date(2026, 3, 16), MON4]
    assert weeks[0].from_s == _at(MON1, 0, 0) and weeks[-1].to_s == _at(UNTIL, 0, 0)
    assert [round((w.to_s - w.from_s) / 3600) for w in weeks] == [168, 168, 168, 167]  # clocks go forward on 29 March


def test_patience_is_the_censored_exponential_mle() -> None:
    window = CALLS[:9]
    total_wait = 10 + 30 + 40 + 6 + 0 + 5 + 50 + 20 + 25
    assert estimate_patience(window) == (total_wait / 3, 3, total_wait)
    assert estimate_patience([c for c in window if c.outcome != "abandoned"])[0] is None


def test_monday_ten_oclock_by_hand() -> None:
    target = Target(target_pct=80, threshold_s=20, max_occupancy=0.85)
    plan = plan_staffing(CALLS, weeks=weeks_before(UNTIL, 4, BERLIN), zone=BERLIN, weekday=0,
                         intervals=[TEN, TEN + 2, TEN + 4], target=target)
    assert plan.calls == 9 and plan.abandoned == 3
    patience = (10 + 30 + 40 + 6 + 0 + 5 + 50 + 20 + 25) / 3
    assert plan.patience_s == pytest.approx(patience)
    assert plan.window_aht_s == pytest.approx((120 + 200 + 60 + 330 + 40) / 5)

    ten = plan.intervals[0]
    # Mondays with any call: 2, 9 and 23 March (16 March had none); 3 + 1 + 1 calls in 10:00-10:15
    assert (ten.weekday, ten.time) == ("mon", "10:00")
    assert ten.weeks_used == (MON1, MON2, MON4) and ten.calls_per_week == (3, 1, 1)
    assert ten.offered_mean == pytest.approx(5 / 3) and ten.rate_per_s == pytest.approx(5 / 3 / 900)
    assert ten.answered == 3 and ten.aht_s == pytest.approx((120 + 200 + 330) / 3) and ten.aht_source == "interval"
    # 0.40 Erlang: one agent gives 1 - 0.40 e^(-0.60 * 20 / 216.7) = 62% < 80%; two give 94%
    load = 5 / 3 / 900 * 650 / 3
    one = 1 - load * math.exp(-(1 - load) * 20 / (650 / 3))
    assert one < 0.8
    assert ten.erlang_c is not None and ten.erlang_c.agents == 2 and ten.erlang_c.limited_by == "service_level"
    assert ten.erlang_c.figures == erlang_c_figures(2, 5 / 3 / 900, 650 / 3, 20)
    assert ten.erlang_a == agents_needed(5 / 3 / 900, 650 / 3, 80, 20, patience_s=patience, max_occupancy=0.85)

    half_past = plan.intervals[1]  # one abandoned call in week 1 only: its AHT is the window's
    assert half_past.calls_per_week == (1, 0, 0) and half_past.offered_mean == pytest.approx(1 / 3)
    assert (half_past.aht_source, half_past.aht_s) == ("window", plan.window_aht_s)

    eleven = plan.intervals[2]  # nobody ever called at 11:00
    assert eleven.calls_per_week == (0, 0, 0) and eleven.aht_s is None
    assert eleven.erlang_c is not None and eleven.erlang_c.agents == 0 and eleven.erlang_c.limited_by == "no_traffic"


def test_a_weekday_without_any_call_uses_no_week() -> None:
    plan = plan_staffing(CALLS, weeks=weeks_before(UNTIL, 4, BERLIN), zone=BERLIN, weekday=6, intervals=[TEN],
                         target=Target())
    assert plan.intervals[0].weeks_used == () and plan.intervals[0].offered_mean == 0


def test_dst_day_intervals_are_local_wall_clock() -> None:
    """Sunday 29 March 2026 in Berlin: 02:00-03:00 does not exist; 03:00 local is 01:00 UTC."""
    day = date(2026, 3, 29)
    at_three = datetime(2026, 3, 29, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    calls = [_call(at_three, "answered", wait_s=1, talk_s=100), _call(at_three - 1, "answered", wait_s=1, talk_s=100)]
    plan = plan_staffing(calls, weeks=weeks_before(day + timedelta(days=1), 1, BERLIN), zone=BERLIN, weekday=6,
                         intervals=[3 * 4, 2 * 4 - 1, 2 * 4], target=Target())
    # 00:59:59 UTC is 01:59:59 CET (interval 01:45); 01:00 UTC is 03:00 CEST
    assert [i.calls_per_week for i in plan.intervals] == [(1,), (1,), (0,)]


def test_bad_arguments() -> None:
    weeks = weeks_before(UNTIL, 1, BERLIN)
    with pytest.raises(ValueError, match="weekday"):
        plan_staffing([], weeks=weeks, zone=BERLIN, weekday=7, intervals=[0], target=Target())
    with pytest.raises(ValueError, match="interval"):
        plan_staffing([], weeks=weeks, zone=BERLIN, weekday=0, intervals=[96], target=Target())
    with pytest.raises(ValueError, match="count"):
        weeks_before(UNTIL, 0, BERLIN)
