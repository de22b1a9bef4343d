"""Report maths, table by table: every figure, empty periods and the edges of each definition."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.figures import CallbackFact, CallFact, ServiceLevelRule, compute_figures
from callcenter.reports.report import ALL_TEAMS, call_team, figures_by_team, figures_json
from callcenter.reports.period import Period

T0 = 1_780_000_200.0  # a slot boundary (divisible by 900)
DAY = 86_400.0
RULE = ServiceLevelRule(threshold_s=20, short_abandon_s=5)
_ids = itertools.count()


def call(outcome: str = "answered", *, at: float = 0.0, wait: float = 10.0, talk: float = 60.0, team: str | None = "support",
         wrapup: float | None = None) -> CallFact:
    return CallFact(call_id=f"c{next(_ids)}", team=team, started_s=T0 + at, ended_s=T0 + at + wait + talk, outcome=outcome,
                    wait_s=wait, talk_s=talk if outcome == "answered" else 0.0, wrapup_s=wrapup)


def figures(calls: list[CallFact], callbacks: Sequence[CallbackFact] = (), *, rule: ServiceLevelRule = RULE,
            now: float = T0 + DAY) -> Any:
    return compute_figures(calls, callbacks, from_s=T0, to_s=T0 + DAY, now_s=now, rule=rule)


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param([], dict(offered=0, answered=0, missed=0, abandoned=0, failed=0, service_level_pct=None,
                              asa_s=None, aht_s=None), id="empty period: nothing is made up"),
        pytest.param([call(wait=5, talk=100)], dict(offered=1, answered=1, service_level_pct=100.0, asa_s=5.0,
                                                     aht_s=100.0), id="one quick answer"),
        pytest.param([call(wait=20)], dict(answered_within_threshold=1, service_level_pct=100.0),
                     id="answered at exactly the threshold counts as within"),
        pytest.param([call(wait=20.1)], dict(answered_within_threshold=0, service_level_pct=0.0),
                     id="answered just after the threshold does not"),
        pytest.param([call(wait=4), call("missed", wait=30), call("abandoned", wait=40), call("busy"), call("failed")],
                     dict(offered=5, answered=1, missed=1, abandoned=1, failed=2, service_level_pct=20.0),
                     id="every outcome is offered; busy and failed are failed"),
        pytest.param([call(wait=3), call("abandoned", wait=4.9)],
                     dict(short_abandoned=1, service_level_pct=100.0), id="a short abandon leaves the denominator"),
        pytest.param([call(wait=3), call("abandoned", wait=5)],
                     dict(short_abandoned=0, service_level_pct=50.0), id="an abandon at the short limit counts"),
        pytest.param([call("abandoned", wait=2)], dict(offered=1, short_abandoned=1, service_level_pct=None),
                     id="only short abandons: no service level"),
        pytest.param([call("missed", wait=25)], dict(service_level_pct=0.0, asa_s=None, aht_s=None),
                     id="a missed call counts against the service level, not in ASA"),
        pytest.param([call(wait=10, talk=50), call(wait=30, talk=150), call("missed", wait=99)],
                     dict(asa_s=20.0, aht_s=100.0, service_level_pct=33.3), id="means of the answered calls, pct rounded"),
        pytest.param([call(talk=60, wrapup=30), call(talk=60)], dict(aht_s=75.0),
                     id="AHT adds the wrap-up a call recorded"),
        pytest.param([call(at=-1), call(at=DAY), call(at=0), call(at=DAY - 0.001)], dict(offered=2),
                     id="the period is [from, to)"),
        pytest.param([call(), dataclasses.replace(call("missed"), approximate=True)], dict(offered=2, approximate=1),
                     id="calls that ended while AMI was down are counted and said to be estimates"),
    ],
)
def test_figures(calls: list[CallFact], expected: dict[str, Any]) -> None:
    result = figures(calls)
    assert {key: getattr(result, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("rule", "expected_pct"),
    [
        (ServiceLevelRule(threshold_s=20, short_abandon_s=5), 50.0),   # 1 within of (3 offered - 1 short)
        (ServiceLevelRule(threshold_s=20, short_abandon_s=0), 33.3),   # the plain share of offered
        (ServiceLevelRule(threshold_s=30, short_abandon_s=5), 100.0),  # a longer threshold takes the 25 s answer in
    ],
)
def test_the_service_level_rule_is_configurable(rule: ServiceLevelRule, expected_pct: float) -> None:
    calls = [call(wait=10), call(wait=25), call("abandoned", wait=3)]
    assert figures(calls, rule=rule).service_level_pct == expected_pct


@pytest.mark.parametrize(
    ("callbacks", "now", "open_", "overdue"),
    [
        ([], T0, 0, 0),
        ([CallbackFact(task_id=1, team="support", due_s=T0 + 100)], T0, 1, 0),
        ([CallbackFact(task_id=1, team="support", due_s=T0 + 100)], T0 + 100, 1, 1),  # due now is overdue
        ([CallbackFact(task_id=1, team="support", due_s=None)], T0 + DAY * 10, 1, 0),  # no due date never overdue
    ],
)
def test_callbacks_open_and_overdue_are_as_of_now(callbacks: list[CallbackFact], now: float, open_: int, overdue: int) -> None:
    result = figures([], callbacks, now=now)
    assert (result.callbacks_open, result.callbacks_overdue) == (open_, overdue)


def test_series_counts_per_slot_and_cumulative_service_level() -> None:
    calls = [
        call(at=10, wait=5),            # slot 0: within
        call("missed", at=100, wait=30),  # slot 0
        call(at=900, wait=50),           # slot 1: answered late
        call("abandoned", at=905, wait=2),  # slot 1: short abandon
        call(at=3 * 900 + 1, wait=1),     # slot 3
    ]
    result = compute_figures(calls, [], from_s=T0, to_s=T0 + 3600, now_s=T0, rule=RULE)
    assert [s.start_s - T0 for s in result.series] == [0, 900, 1800, 2700]
    assert [(s.offered, s.answered, s.missed, s.abandoned) for s in result.series] == [
        (2, 1, 1, 0), (2, 1, 0, 1), (0, 0, 0, 0), (1, 1, 0, 0)
    ]
    # Cumulative: 1/2, 1/3 (the short abandon is out), still 1/3, 2/4.
    assert [s.service_level_pct for s in result.series] == [50.0, 33.3, 33.3, 50.0]
    assert result.service_level_pct == result.series[-1].service_level_pct


def test_series_of_an_empty_day_has_every_slot_and_no_service_level() -> None:
    result = figures([])
    assert len(result.series) == 96 and all(s.offered == 0 and s.service_level_pct is None for s in result.series)


def test_a_period_that_is_not_a_whole_number_of_slots_gets_a_last_short_slot() -> None:
    result = compute_figures([call(at=950)], [], from_s=T0, to_s=T0 + 1000, now_s=T0, rule=RULE)
    assert len(result.series) == 2 and result.series[1].offered == 1


@pytest.mark.parametrize("to_s", [T0, T0 - 1])
def test_an_empty_or_reversed_period_is_refused(to_s: float) -> None:
    with pytest.raises(ValueError, match="end after"):
        compute_figures([], [], from_s=T0, to_s=to_s, now_s=T0, rule=RULE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(threshold_s=-1), "threshold_s"), (dict(short_abandon_s=-1), "short_abandon_s"), (dict(slot_s=0), "slot_s")],
)
def test_a_bad_rule_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServiceLevelRule(**kwargs)


@pytest.mark.parametrize(
    ("decisions", "did", "expected"),
    [
        (None, "8001", "by-did"),
        ([], None, "by-did"),
        ([{"team": "sales"}], "8001", "sales"),
        ([{"team": "sales"}, {"team": None}, {"team": "support"}], "8001", "support"),  # the last decision wins
        ([{"team": "sales"}, {"team": None}], "8001", "sales"),  # a decision without a team keeps the earlier one
        (["garbage", {"team": 5}], "8001", "by-did"),  # malformed meta falls back to the DID
    ],
)
def test_a_call_belongs_to_its_last_routing_team_else_its_did(decisions: Any, did: str | None, expected: str) -> None:
    assert call_team(decisions, did, lambda _did: "by-did") == expected


def test_figures_per_team_and_for_all_teams_each_over_its_own_period() -> None:
    calls = [call(team="a", at=10), call(team="b", at=10), call(team="b", at=DAY + 10)]
    callbacks = [CallbackFact(task_id=1, team="a", due_s=None), CallbackFact(task_id=2, team=None, due_s=None)]
    periods = {
        "a": Period(T0, T0 + DAY, ZoneInfo("UTC")),
        "b": Period(T0 + DAY, T0 + 2 * DAY, ZoneInfo("UTC")),  # b's "today" starts later (another zone)
        ALL_TEAMS: Period(T0, T0 + 2 * DAY, ZoneInfo("UTC")),
    }
    result = figures_by_team(calls, callbacks, periods=periods, now_s=T0, rule=RULE)
    assert {team: (f.offered, f.callbacks_open) for team, f in result.items()} == {"a": (1, 1), "b": (1, 0), None: (3, 2)}


def test_the_wire_shape_names_the_period_in_the_teams_zone() -> None:
    zone = ZoneInfo("Europe/Berlin")
    period = Period(1_780_000_000.0 - 7200, 1_780_000_000.0 + DAY - 7200, zone)
    data = figures_json("support", period, compute_figures([], [], from_s=period.from_s, to_s=period.to_s, now_s=0,
                                                           rule=RULE))
    assert data["team"] == "support" and data["timezone"] == "Europe/Berlin"
    assert data["from_iso"].endswith("+02:00") and data["from_s"] == period.from_s
    assert data["threshold_s"] == 20 and len(data["series"]) == 96 and data["series"][0]["start_s"] == period.from_s
