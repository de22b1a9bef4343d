"""Call analytics maths: local intervals (DST days, Monday weeks, several zones), the call table per group and
interval (a call counts where it was offered, transfers once, no double counting), first-contact resolution,
callbacks' SLA, and the team figures (wallboard, team-figures) being the same definitions."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.reports.figures import (
    CallFact, DoneCallbackFact, Group, ServiceLevelRule, call_figures, call_table, compute_figures, repeat_index,
)
from callcenter.reports.intervals import Interval, interval_index, interval_starts

LONDON, NEW_YORK, BERLIN = ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45: hours that are no UTC hours
RULE = ServiceLevelRule(threshold_s=20, short_abandon_s=5)
DAY_S = 86_400.0
_ids = itertools.count()


def at(zone: ZoneInfo, *args: int) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


def local(zone: ZoneInfo, starts: list[float]) -> list[str]:
    return [datetime.fromtimestamp(s, zone).strftime("%m-%d %H:%M%z") for s in starts]


# -- intervals ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "interval", "count", "hours"),
    [
        pytest.param(LONDON, (2026, 3, 29), Interval.QUARTER, 92, 23, id="London spring-forward: 92 quarter-hours"),
        pytest.param(LONDON, (2026, 3, 29), Interval.HOUR, 23, 23, id="London spring-forward: 23 hours"),
        pytest.param(LONDON, (2026, 10, 25), Interval.QUARTER, 100, 25, id="London fall-back: 100 quarter-hours"),
        pytest.param(LONDON, (2026, 10, 25), Interval.HOUR, 25, 25, id="London fall-back: 25 hours"),
        pytest.param(NEW_YORK, (2026, 3, 8), Interval.HOUR, 23, 23, id="New York springs forward another day"),
        pytest.param(LONDON, (2026, 3, 8), Interval.QUARTER, 96, 24, id="an ordinary day: 96"),
        pytest.param(KATHMANDU, (2026, 3, 8), Interval.HOUR, 24, 24, id="hours on the local clock at +05:45"),
    ],
)
def test_a_local_day_has_its_real_number_of_intervals(zone: ZoneInfo, day: tuple[int, int, int], interval: Interval,
                                                      count: int, hours: int) -> None:
    start = at(zone, *day)
    end = datetime(*day, tzinfo=zone) + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    assert (end.timestamp() - start) / 3600 == hours
    starts = interval_starts(start, end.timestamp(), zone, interval)
    assert len(starts) == count
    assert all(datetime.fromtimestamp(s, zone).minute % 15 == 0 for s in starts)
    if interval is Interval.HOUR:
        assert all(datetime.fromtimestamp(s, zone).minute == 0 for s in starts)


def test_the_spring_forward_hour_is_skipped_and_the_fall_back_hour_is_there_twice() -> None:
    spring = interval_starts(at(LONDON, 2026, 3, 29), at(LONDON, 2026, 3, 29, 4), LONDON, Interval.HOUR)
    assert local(LONDON, spring) == ["03-29 00:00+0000", "03-29 02:00+0100", "03-29 03:00+0100"]
    fall = interval_starts(at(LONDON, 2026, 10, 25), at(LONDON, 2026, 10, 25, 3), LONDON, Interval.HOUR)
    assert local(LONDON, fall) == ["10-25 00:00+0100", "10-25 01:00+0100", "10-25 01:00+0000", "10-25 02:00+0000"]


def test_days_and_weeks_start_at_local_midnight_weeks_on_monday() -> None:
    days = interval_starts(at(LONDON, 2026, 3, 28), at(LONDON, 2026, 3, 31), LONDON, Interval.DAY)
    assert local(LONDON, days) == ["03-28 00:00+0000", "03-29 00:00+0000", "03-30 00:00+0100"]
    assert [b - a for a, b in itertools.pairwise(days)] == [DAY_S, DAY_S - 3600]
    # March 2026 starts on a Sunday: a one-day first interval (cut at the period's start), then Mondays.
    weeks = interval_starts(at(BERLIN, 2026, 3, 1), at(BERLIN, 2026, 4, 1), BERLIN, Interval.WEEK)
    assert local(BERLIN, weeks) == ["03-01 00:00+0100", "03-02 00:00+0100", "03-09 00:00+0100", "03-16 00:00+0100",
                                    "03-23 00:00+0100", "03-30 00:00+0200"]
    assert {datetime.fromtimestamp(s, BERLIN).weekday() for s in weeks[1:]} == {0}


def test_the_same_instants_fall_on_different_days_in_different_zones() -> None:
    moment = at(NEW_YORK, 2026, 3, 29, 23, 30)  # 04:30 on the 30th in London
    for zone, expected in ((NEW_YORK, "03-29 00:00-0400"), (LONDON, "03-30 00:00+0100")):
        starts = interval_starts(moment - 3 * DAY_S, moment + 3 * DAY_S, zone, Interval.DAY)
        assert local(zone, [starts[interval_index(starts, moment)]]) == [expected]


def test_an_interval_boundary_belongs_to_the_interval_it_starts() -> None:
    starts = interval_starts(0, 3600, ZoneInfo("UTC"), Interval.QUARTER)
    assert [interval_index(starts, t) for t in (0, 899.999, 900, 2700, 3599.9)] == [0, 0, 1, 3, 3]


# -- the call table ----------------------------------------------------------------------------------------------------

T0 = at(LONDON, 2026, 3, 29)  # the spring-forward day
T1 = at(LONDON, 2026, 3, 30)


def call(outcome: str, start: float, *, wait: float = 10, talk: float = 0, wrapup: float | None = None,
         team: str | None = "A", agent: str | None = None, did: str | None = "8001", queue: str | None = "qa",
         number: str | None = None, transferred: bool = False) -> CallFact:
    return CallFact(call_id=f"c{next(_ids)}", team=team, started_s=start, ended_s=start + wait + talk, outcome=outcome,
                    wait_s=wait, talk_s=talk, wrapup_s=wrapup, number=number, did=did, agent=agent, queue=queue,
                    transferred=transferred)


H = 3600.0
CALLS = [
    call("answered", T0 - 600, talk=1200, agent="1002", number="+441"),  # the evening before, over midnight
    call("answered", T0 + 2 * H, wait=5, talk=100, wrapup=20, agent="1002", number="+441", transferred=True),  # 03:00 BST
    call("abandoned", T0 + 2 * H + 899, wait=30),  # 03:14:59, rang nobody
    call("missed", T0 + 2 * H + 900, wait=25, agent="1003"),  # 03:15
    call("answered", T0 + 9 * H, wait=25, talk=200, agent="1004", number="+442", did="8002"),  # 10:00, B's agent
    call("abandoned", T0 + 9.5 * H, wait=3),  # 10:30, short
    call("answered", T0 + 9 * H + 300, wait=4, talk=60, team="B", agent="1004", did="8002", queue="qb"),
    call("answered", T0 + 23 * H - 1, wait=1, talk=3600, team="B", agent="1004", did="8002", queue="qb"),  # 23:59:59
    call("answered", T1 + 8 * H, wait=1, talk=30, number="+441", agent="1003"),  # the repeat, a day later
]
REPEATS = repeat_index(CALLS)
DONE = [
    DoneCallbackFact(task_id=1, team="A", agent="1002", due_s=T0 + 10.25 * H, done_s=T0 + 10 * H),
    DoneCallbackFact(task_id=2, team="A", agent="1004", due_s=T0 + 10.5 * H, done_s=T0 + 11 * H),
    DoneCallbackFact(task_id=3, team="B", agent="1004", due_s=None, done_s=T0 + 11 * H),
]


def table(group: Group, interval: Interval, *, calls: list[CallFact] = CALLS, fcr_days: float = 7) -> Any:
    starts = interval_starts(T0, T1, LONDON, interval)
    return call_table(calls, DONE, group=group, starts=starts, to_s=T1, rule=RULE, repeats=REPEATS,
                      fcr_window_s=fcr_days * DAY_S)


def pick(row: Any, *keys: str) -> dict[str, Any]:
    return {k: getattr(row.figures, k) for k in keys}


def test_team_a_over_the_day_by_hand() -> None:
    totals = {r.key: r for r in table(Group.TEAM, Interval.DAY).totals}
    a = totals["A"]
    # The day's calls of A: 03:00 answered (5 s, transferred), 03:14:59 abandoned (30 s), 03:15 missed, 10:00 answered
    # (25 s), 10:30 abandoned (3 s, short). The one from the evening before is the 28th's, however long it lasted.
    assert pick(a, "offered", "answered", "missed", "abandoned", "short_abandoned", "answered_within_threshold") == dict(
        offered=5, answered=2, missed=1, abandoned=2, short_abandoned=1, answered_within_threshold=1)
    assert pick(a, "service_level_pct", "service_level_offered_pct", "asa_s", "aht_s") == dict(
        service_level_pct=25.0, service_level_offered_pct=20.0, asa_s=15.0, aht_s=160.0)  # (120 + 200) / 2
    assert pick(a, "abandon_wait_mean_s", "abandon_wait_max_s", "transferred", "talk_s", "wrapup_s") == dict(
        abandon_wait_mean_s=16.5, abandon_wait_max_s=30.0, transferred=1, talk_s=300.0, wrapup_s=20.0)
    # +441 calls again a day later: not resolved at first contact; +442 does not.
    assert pick(a, "fcr_calls", "fcr_resolved", "fcr_pct") == dict(fcr_calls=2, fcr_resolved=1, fcr_pct=50.0)
    assert (a.callbacks_done, a.callbacks_done_in_sla, a.callback_sla_pct) == (2, 1, 50.0)
    b = totals["B"]
    assert pick(b, "offered", "answered", "fcr_calls") == dict(offered=2, answered=2, fcr_calls=0)  # no numbers
    assert (b.callbacks_done, b.callbacks_done_in_sla, b.callback_sla_pct) == (1, 0, None)  # no due time: not judged


def test_first_contact_resolution_window_is_configurable() -> None:
    a = {r.key: r for r in table(Group.TEAM, Interval.DAY, fcr_days=1).totals}["A"]
    # The repeat came 29 h after the first call: outside a one-day window.
    assert pick(a, "fcr_calls", "fcr_resolved") == dict(fcr_calls=2, fcr_resolved=2)


def test_a_call_counts_in_the_interval_it_was_offered_in() -> None:
    rows = [(r.key, local(LONDON, [r.start_s])[0], r.figures.offered) for r in table(Group.TEAM, Interval.QUARTER).rows
            if r.figures.offered]
    assert rows == [
        ("A", "03-29 03:00+0100", 2), ("A", "03-29 03:15+0100", 1), ("A", "03-29 10:00+0100", 1),
        ("A", "03-29 10:30+0100", 1),
        ("B", "03-29 10:00+0100", 1), ("B", "03-29 23:45+0100", 1),  # the hour-long call at 23:59:59 stays there
    ]
    assert len(interval_starts(T0, T1, LONDON, Interval.QUARTER)) == 92


def test_hourly_rows_add_up_to_the_totals_and_callbacks_count_where_they_were_done() -> None:
    t = table(Group.TEAM, Interval.HOUR)
    a_rows = [r for r in t.rows if r.key == "A"]
    # T0 + 10 h is 11:00 on the local clock of this 23-hour day (the clocks went forward at 01:00).
    assert [(local(LONDON, [r.start_s])[0], r.figures.offered, r.callbacks_done) for r in a_rows] == [
        ("03-29 03:00+0100", 3, 0), ("03-29 10:00+0100", 2, 0), ("03-29 11:00+0100", 0, 1), ("03-29 12:00+0100", 0, 1)]
    assert sum(r.figures.offered for r in a_rows) == 5 and a_rows[1].end_s - a_rows[1].start_s == H


def test_an_agent_in_two_teams_is_counted_once_per_call() -> None:
    by_agent = {r.key: r for r in table(Group.AGENT, Interval.DAY).totals}
    # 1004 (of team B) answered one of A's calls and two of B's: three calls, once each.
    assert pick(by_agent["1004"], "offered", "answered") == dict(offered=3, answered=3)
    assert {k: r.figures.offered for k, r in by_agent.items()} == {"1002": 1, "1003": 1, "1004": 3, None: 2}
    # Per team, the agent's calls split without overlap: A's table has 1004 once, B's twice.
    for team, expected in (("A", 1), ("B", 2)):
        mine = [c for c in CALLS if c.team == team]
        rows = {r.key: r for r in table(Group.AGENT, Interval.DAY, calls=mine).totals}
        assert rows["1004"].figures.offered == expected
    assert (by_agent["1004"].callbacks_done, by_agent["1002"].callbacks_done) == (2, 1)
    # Every call is in exactly one row of every grouping.
    day_calls = sum(1 for c in CALLS if T0 <= c.started_s < T1)
    for group in Group:
        assert sum(r.figures.offered for r in table(group, Interval.DAY).totals) == day_calls == 7


def test_did_and_queue_rows_have_no_callbacks() -> None:
    by_did = {r.key: r for r in table(Group.DID, Interval.DAY).totals}
    assert {k: r.figures.offered for k, r in by_did.items()} == {"8001": 4, "8002": 3}
    assert {r.callbacks_done for r in by_did.values()} == {None}
    assert {r.key: r.figures.offered for r in table(Group.QUEUE, Interval.DAY).totals} == {"qa": 5, "qb": 2}


def test_nothing_to_average_is_none() -> None:
    f = call_figures([], RULE, repeats={}, fcr_window_s=DAY_S)
    assert (f.offered, f.service_level_pct, f.service_level_offered_pct, f.asa_s, f.aht_s, f.abandon_wait_mean_s,
            f.abandon_wait_max_s, f.fcr_pct) == (0, None, None, None, None, None, None, None)


def test_team_figures_are_the_same_definitions_as_the_table() -> None:
    """The wallboard's and team-figures' numbers (compute_figures) equal the analytics row of the same calls."""
    mine = [c for c in CALLS if c.team == "A"]
    team = compute_figures(mine, [], from_s=T0, to_s=T1, now_s=T1, rule=RULE)
    row = {r.key: r for r in table(Group.TEAM, Interval.DAY).totals}["A"].figures
    keys = ("offered", "answered", "missed", "abandoned", "failed", "short_abandoned", "answered_within_threshold",
            "service_level_pct", "asa_s", "aht_s", "approximate")
    assert {k: getattr(team, k) for k in keys} == {k: getattr(row, k) for k in keys}


# -- properties over random calls, zones and periods -------------------------------------------------------------------

ZONES = [LONDON, NEW_YORK, BERLIN, KATHMANDU, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("America/Santiago"), ZoneInfo("UTC")]
YEAR_S = 365 * DAY_S
BASE = at(ZoneInfo("UTC"), 2026, 1, 1)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(list(Interval)),
    from_s=st.floats(BASE, BASE + YEAR_S),
    length_s=st.floats(60, 15 * DAY_S),
    offsets=st.lists(st.tuples(st.floats(-DAY_S, 16 * DAY_S), st.sampled_from(["answered", "missed", "abandoned"]),
                               st.sampled_from(["A", "B", None]), st.sampled_from(["1", "2", None]),
                               st.floats(0, 60), st.booleans()), max_size=40),
)
def test_every_call_of_the_period_is_in_exactly_one_row(zone: ZoneInfo, interval: Interval, from_s: float,
                                                        length_s: float, offsets: list[Any]) -> None:
    to_s = from_s + length_s
    starts = interval_starts(from_s, to_s, zone, interval)
    # The intervals tile the period, in order, each on the local clock's boundary (but the first).
    assert starts[0] == from_s and all(a < b < to_s for a, b in itertools.pairwise(starts))
    if interval is Interval.QUARTER:
        assert all(s % 900 == 0 for s in starts[1:])
    calls = [call(outcome, from_s + off, wait=wait, talk=30 if outcome == "answered" else 0, team=team, agent=agent,
                  transferred=moved, number="+1" if agent else None)
             for off, outcome, team, agent, wait, moved in offsets]
    inside = [c for c in calls if from_s <= c.started_s < to_s]
    for group in Group:
        t = call_table(calls, [], group=group, starts=starts, to_s=to_s, rule=RULE, repeats=repeat_index(calls),
                       fcr_window_s=DAY_S)
        assert sum(r.figures.offered for r in t.rows) == sum(r.figures.offered for r in t.totals) == len(inside)
        assert sum(r.figures.transferred for r in t.totals) == sum(c.transferred for c in inside)
        for row in t.rows:
            assert starts[0] <= row.start_s < row.end_s <= to_s
        whole = call_figures(inside, RULE)
        for name in ("answered", "missed", "abandoned", "answered_within_threshold", "short_abandoned"):
            assert sum(getattr(r.figures, name) for r in t.totals) == getattr(whole, name)
