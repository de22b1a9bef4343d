"""Team scoping in the hub and the pure picture: every screen gets a gap-free stream of only its teams' rows;
figures and missed calls from the CRM merge into the live picture."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallOutcome,
    CallRouted,
    CallStarted,
)
from callcenter.wallboard.hub import Hub, Scope
from callcenter.wallboard.state import MAX_RECENT_MISSED, WallboardState, missed_row

AGENT_TEAMS = {"1002": "A", "1003": "A", "1004": "B"}
DID_TEAMS = {"8001": "A", "8002": "B"}


def state() -> WallboardState:
    return WallboardState(agent_team=AGENT_TEAMS.get, did_team=lambda did: DID_TEAMS.get(did or ""))


def agent(ext: str, at_s: float = 1.0) -> AgentStateChanged:
    return AgentStateChanged(agent=ext, at_s=at_s, state=AgentState.AVAILABLE, previous=None)


def started(call_id: str, did: str, direction: CallDirection = CallDirection.INBOUND) -> CallStarted:
    return CallStarted(call_id=call_id, at_s=10.0, direction=direction, caller="+12125550101", caller_name=None,
                       did=did, customer="+12125550101")


def ended(call_id: str, did: str, outcome: CallOutcome = CallOutcome.ABANDONED, ended_s: float = 20.0) -> CallEnded:
    return CallEnded(call_id=call_id, started_s=10.0, ended_s=ended_s, direction=CallDirection.INBOUND, outcome=outcome,
                     caller="+12125550101", caller_name=None, did=did, customer="+12125550101", answered_by=None,
                     agents_rung=(), agents_talked=(), attempts=(), wait_s=10.0, talk_s=0.0, hangup_cause=16,
                     hangup_cause_txt=None, hung_up_by=None, recordings=(), queue="q")


def drain_raw(hub: Hub, client: Any) -> list[str]:
    hub.flush()  # no running loop here: the pass's deltas go out when asked
    return client.take()


def drain(hub: Hub, client: Any) -> list[dict[str, Any]]:
    return [json.loads(text) for text in drain_raw(hub, client)]


def test_each_screen_gets_only_its_teams_rows_numbered_without_gaps() -> None:
    hub = Hub(state=state())
    hub.on_event(agent("1002"))
    hub.on_event(agent("1004"))
    team_a, snap_a = hub.connect(Scope(frozenset({"A"})))
    everyone, snap_all = hub.connect()
    assert [a["agent"] for a in snap_a["state"]["agents"]] == ["1002"]
    assert [a["agent"] for a in snap_all["state"]["agents"]] == ["1002", "1004"]
    for event in (agent("1004", 2), agent("1003", 3), started("c1", "8002"), started("c2", "8001"), agent("1002", 4)):
        hub.on_event(event)
    got_a, got_all = drain(hub, team_a), drain(hub, everyone)
    assert [m["seq"] for m in got_a] == [snap_a["seq"] + 1, snap_a["seq"] + 2, snap_a["seq"] + 3]
    assert [m["seq"] for m in got_all] == list(range(snap_all["seq"] + 1, snap_all["seq"] + 6))
    assert {m["team"] for m in got_a} == {"A"} and got_all[-1]["seq"] == hub.seq


def test_screens_of_one_scope_share_a_stream_and_it_ends_with_its_last_screen() -> None:
    hub = Hub(state=state())
    scope = Scope(frozenset({"B"}))
    first, _ = hub.connect(scope)
    hub.on_event(agent("1004"))
    second, snapshot = hub.connect(scope)
    assert snapshot["seq"] == 1 and len(hub.streams) == 1
    hub.on_event(agent("1004", 2))
    last_first, last_second = drain_raw(hub, first)[-1], drain_raw(hub, second)[-1]
    assert last_first is last_second  # serialised once for the stream
    assert json.loads(last_first)["seq"] == 2
    hub.disconnect(first)
    hub.disconnect(second)
    assert hub.streams == {} and hub.scope_seq == {} and hub.clients == set()


def test_a_call_that_moves_to_another_team_leaves_the_old_teams_screens() -> None:
    board = state()
    [start] = board.apply(started("c1", "8001"))
    assert start["team"] == "A"
    gone, moved = board.apply(CallRouted(call_id="c1", at_s=10.1, attempt=1, action="dial", reason="owner", team="B"))
    assert (gone["kind"], gone["team"], moved["team"], moved["row"]["routing_reason"]) == ("call_gone", "A", "B", "owner")


def test_a_call_without_a_did_team_takes_its_agents_team() -> None:
    board = state()
    [start] = board.apply(started("c1", "", CallDirection.OUTBOUND))
    assert start["team"] is None
    gone, answered = board.apply(CallAnswered(call_id="c1", at_s=11.0, agent="1004", queue=None, wait_s=1.0))
    assert gone["kind"] == "call_gone" and answered["team"] == "B" and answered["row"]["state"] == "talking"


def test_a_routing_team_that_came_before_the_call_is_kept() -> None:
    board = state()
    assert board.apply(CallRouted(call_id="c1", at_s=9.9, attempt=1, action="dial", reason="owner", team="B")) == []
    [start] = board.apply(started("c1", "8001"))
    assert (start["team"], start["row"]["routing_reason"]) == ("B", "owner")


def test_figures_go_out_only_when_they_change() -> None:
    board = state()
    assert board.set_figures("A", {"offered": 1}) == [{"kind": "figures", "team": "A", "row": {"offered": 1}}]
    assert board.set_figures("A", {"offered": 1}) == []
    assert board.snapshot(lambda team: team == "B")["figures"] == []


def test_the_crms_missed_calls_replace_the_live_ones_and_yesterdays_go() -> None:
    board = state()
    *_, live = board.apply(started("c1", "8001")) + board.apply(ended("c1", "8001"))
    assert live["kind"] == "missed" and live["row"]["callback"] is None and live["team"] == "A"
    board.apply(ended("old", "8001", ended_s=5.0))
    board.apply(ended("unwritten", "8002", ended_s=30.0))
    written = missed_row(call_id="c1", caller="+12125550101", outcome="abandoned", ended_s=20.0, wait_s=10.0,
                         queue="q", team="A", callback={"task_id": 7, "status": "open", "due_s": 99.0})
    deltas = board.merge_missed([written], day_start_s={"A": 10.0, "B": 10.0})
    assert [(d["kind"], d.get("call_id") or d["row"]["call_id"]) for d in deltas] == [("missed", "c1"), ("missed_gone", "old")]
    assert set(board.missed) == {"c1", "unwritten"}  # a call the CRM has not written yet stays
    assert board.merge_missed([written], day_start_s={"A": 10.0}) == []


def test_missed_calls_are_capped_per_team() -> None:
    board = state()
    for n in range(MAX_RECENT_MISSED + 2):
        board.apply(ended(f"a{n}", "8001", ended_s=100.0 + n))
    board.apply(ended("b0", "8002", ended_s=1.0))
    teams = [row["team"] for row in board.missed.values()]
    assert teams.count("A") == MAX_RECENT_MISSED and teams.count("B") == 1 and "a0" not in board.missed
    assert board.snapshot()["recent_missed"][0]["call_id"] == f"a{MAX_RECENT_MISSED + 1}"  # newest first


async def test_a_loop_pass_of_deltas_reaches_each_screen_as_one_batch_after_the_push() -> None:
    hub = Hub(state=state())
    screens = [hub.connect()[0] for _ in range(3)]
    team_b, snap_b = hub.connect(Scope(frozenset({"B"})))
    for event in (agent("1002", 2), agent("1004", 3), agent("1003", 4)):
        hub.on_event(event)  # as the AMI reader does, three events in one pass
    # The push did not touch the screens: what the AMI path pays does not grow with them.
    assert all(not s.outbox for s in (*screens, team_b)) and hub.seq == 3
    await asyncio.wait_for(team_b.wake.wait(), 5)  # the next loop pass flushed
    assert [len(s.outbox) for s in screens] == [1, 1, 1] and screens[0].outbox[0] is screens[1].outbox[0]
    assert [json.loads(t)["seq"] for t in screens[0].take()] == [1, 2, 3]
    assert [(m["seq"], m["team"]) for m in map(json.loads, team_b.take())] == [(snap_b["seq"] + 1, "B")]


async def test_a_screen_connecting_between_push_and_flush_misses_nothing_and_gets_nothing_twice() -> None:
    hub = Hub(state=state())
    early, snap_early = hub.connect()
    hub.on_event(agent("1002", 2))
    late, snap_late = hub.connect()  # the pending delta is in its snapshot already
    assert [a["agent"] for a in snap_late["state"]["agents"]] == ["1002"] and snap_late["seq"] == 1
    hub.on_event(agent("1004", 3))
    await asyncio.wait_for(late.wake.wait(), 5)
    assert [json.loads(t)["seq"] for t in early.take()] == [snap_early["seq"] + 1, snap_early["seq"] + 2]
    assert [json.loads(t)["seq"] for t in late.take()] == [snap_late["seq"] + 1]
