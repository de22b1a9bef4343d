"""The pure routing policy, table by table: every rule, fallback and reason code."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.ami.channel_vars import CcAction
from callcenter.events import AgentState
from callcenter.routing.hours import WorkingHours
from callcenter.routing.policy import AgentView, AutoPause, CallerFacts, CallFacts, Decision, Plan, plan_route
from callcenter.routing.rules import AfterHours, OwnerFallback, OwnerRouting, Strategy, TeamPolicy

A, T, W, P, R, O = (
    AgentState.AVAILABLE,
    AgentState.TALKING,
    AgentState.WRAP_UP,
    AgentState.PAUSED,
    AgentState.RINGING,
    AgentState.OFFLINE,
)
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN).timestamp()
HOURS = WorkingHours.parse(
    timezone="Europe/Berlin", week={"mon-fri": "08:00-18:00", "sat": "09:00-13:00"}, holidays={"2026-12-25": "Christmas"}
)
TEAM = TeamPolicy(name="support", queue="support", hours=HOURS, mailbox="support@default",
                  owner=OwnerRouting(ring_timeout_s=25), ring_timeout_s=18)


def v(agent: str, state: AgentState = A, *, team: str = "support", **kw: Any) -> AgentView:
    kw.setdefault("since_s", MONDAY_10 - 600)
    return AgentView(agent=agent, team=team, state=state, **kw)


def owner_is(agent: str | None, **kw: Any) -> CallerFacts:
    return CallerFacts(entity="contact", record_id=42, owner_user_id=7 if agent else None, owner_agent=agent, **kw)


@dataclass
class Case:
    name: str
    agents: list[AgentView]
    reason: str
    targets: tuple[str, ...] = ()
    action: CcAction = CcAction.DIAL
    call: dict[str, Any] = field(default_factory=dict)
    team: dict[str, Any] = field(default_factory=dict)
    now_s: float = MONDAY_10
    ring_timeout_s: int | None = None
    rr_cursor: str | None = None


def run(case: Case) -> tuple[Plan, Decision]:
    team = dataclasses.replace(TEAM, **case.team)
    call = CallFacts(call_id="1795.1", did="8002", caller="+12125550101", **case.call)
    plan = plan_route(call=call, team=team, agents={a.agent: a for a in case.agents}, now_s=case.now_s,
                      rr_cursor=case.rr_cursor)
    return plan, resolve(plan)


def resolve(plan: Plan) -> Decision:
    """What the service does when no other call interferes: the first tier's first candidate (all for ring-all)."""
    for index, tier in enumerate(plan.tiers):
        return plan.decide(tier.agents if tier.ring_all else tier.agents[:1], tier=index)
    return plan.decide_unreserved()


TEAM_CASES = [
    Case("least loaded wins", [v("1002", busy_s=600), v("1003", busy_s=300), v("1004", busy_s=900)],
         "least-loaded", ("1003",), ring_timeout_s=18),
    Case("equal load: longest idle wins",
         [v("1002", busy_s=300, last_busy_end_s=MONDAY_10 - 100), v("1003", busy_s=300, last_busy_end_s=MONDAY_10 - 500)],
         "least-loaded", ("1003",)),
    Case("open callbacks weigh in", [v("1002", busy_s=300, open_callbacks=2), v("1003", busy_s=600)],
         "least-loaded", ("1003",)),
    Case("callback weight is configurable", [v("1002", busy_s=300, open_callbacks=2), v("1003", busy_s=600)],
         "least-loaded", ("1002",), team={"callback_weight_s": 60.0}),
    Case("an agent whose last offer rang out comes after the others",
         [v("1002", no_answer_streak=1), v("1003", busy_s=500), v("1004", busy_s=900, no_answer_streak=2)],
         "least-loaded", ("1003",)),
    Case("... but is still offered when nobody else is free", [v("1002", no_answer_streak=1), v("1003", T)],
         "least-loaded", ("1002",)),
    Case("ringing, talking, wrap-up, paused, offline are never offered",
         [v("1002", R), v("1003", T), v("1004", W), v("1005", P), v("1006", O), v("1007", busy_s=5000)],
         "least-loaded", ("1007",)),
    Case("reserved for another call is never offered",
         [v("1002", reserved_by="other-call"), v("1003", busy_s=999)], "least-loaded", ("1003",)),
    Case("already offered this call is never offered again",
         [v("1002"), v("1003", busy_s=999)], "least-loaded", ("1003",),
         call={"attempt": 2, "last_dial_status": "NOANSWER", "offers": {"1002": 1}}),
    Case("rung by a queue counts as offered", [v("1002"), v("1003", busy_s=9)], "least-loaded", ("1003",),
         call={"offers": {"1002": 0}}),
    Case("other teams' agents are not the DID team's", [v("2001", team="sales"), v("1003", busy_s=9)],
         "least-loaded", ("1003",)),
    Case("nobody free: the team queue", [v("1002", T), v("1003", P), v("1004", O)], "no-agent->queue",
         action=CcAction.QUEUE),
    Case("everyone already offered: the queue", [v("1002"), v("1003")], "no-agent->queue", action=CcAction.QUEUE,
         call={"attempt": 3, "last_dial_status": "NOANSWER", "offers": {"1002": 1, "1003": 2}}),
    Case("beyond max attempts: the queue", [v("1002")], "max-attempts->queue", action=CcAction.QUEUE,
         call={"attempt": 4, "last_dial_status": "NOANSWER"}),
    Case("longest idle", [v("1002", last_busy_end_s=MONDAY_10 - 60, busy_s=0), v("1003", last_busy_end_s=MONDAY_10 - 900,
                                                                                  busy_s=9999)],
         "longest-idle", ("1003",), team={"strategy": Strategy.LONGEST_IDLE}),
    Case("fewest calls", [v("1002", calls=5), v("1003", calls=2, busy_s=9999), v("1004", calls=3)],
         "fewest-calls", ("1003",), team={"strategy": Strategy.FEWEST_CALLS}),
    Case("round robin continues after the last one offered", [v("1002"), v("1003"), v("1004")], "round-robin",
         ("1004",), team={"strategy": Strategy.ROUND_ROBIN}, rr_cursor="1003"),
    Case("round robin wraps around", [v("1002"), v("1003", T), v("1004")], "round-robin", ("1002",),
         team={"strategy": Strategy.ROUND_ROBIN}, rr_cursor="1004"),
    Case("ring all: every free agent", [v("1002"), v("1003", T), v("1004")], "ring-all", ("1002", "1004"),
         team={"strategy": Strategy.RING_ALL}),
    Case("skills filter for any strategy",
         [v("1002", skills={"english": 3}), v("1003", skills={"german": 1}, busy_s=999),
          v("1004", skills={"german": 3}, busy_s=1999)],
         "least-loaded", ("1003",), call={"required_skills": {"german": 1}}),
    Case("skills strategy prefers the best match",
         [v("1002", skills={"german": 1}), v("1003", skills={"german": 3}, busy_s=999), v("1004", skills={"german": 2})],
         "skills", ("1003",), team={"strategy": Strategy.SKILLS}, call={"required_skills": {"german": 1}}),
    Case("skills strategy: equal skill, least loaded", [v("1002", skills={"de": 2}, busy_s=50), v("1003", skills={"de": 2})],
         "skills", ("1003",), team={"strategy": Strategy.SKILLS}, call={"required_skills": {"de": 2}}),
    Case("nobody with the skill level: the queue", [v("1002", skills={"german": 1})], "no-skilled-agent->queue",
         action=CcAction.QUEUE, call={"required_skills": {"german": 2}}),
]

OWNER_CASES = [
    Case("owner available: ring the owner", [v("1002", busy_s=9999), v("1003")], "owner", ("1002",),
         call={"crm": owner_is("1002")}, ring_timeout_s=25),
    Case("owner routing off for the team", [v("1002", busy_s=9999), v("1003")], "least-loaded", ("1003",),
         call={"crm": owner_is("1002")}, team={"owner": OwnerRouting(enabled=False)}),
    Case("no owner: the last agent within the window", [v("1002", busy_s=9999), v("1003")], "last-agent", ("1002",),
         call={"crm": owner_is(None, last_agent="1002", last_talked_s=MONDAY_10 - 29 * 86400)}),
    Case("no owner: the last agent outside the window", [v("1002", busy_s=9999), v("1003")], "least-loaded",
         ("1003",), call={"crm": owner_is(None, last_agent="1002", last_talked_s=MONDAY_10 - 31 * 86400)}),
    Case("owner wins over last agent", [v("1002"), v("1003")], "owner", ("1003",),
         call={"crm": owner_is("1003", last_agent="1002", last_talked_s=MONDAY_10)}),
    Case("owner offline -> teammate", [v("1002", O), v("1003", busy_s=50), v("1004", busy_s=10)],
         "owner-offline->teammate", ("1004",), call={"crm": owner_is("1002")}),
    Case("owner paused -> teammate", [v("1002", P, reason="lunch"), v("1003")], "owner-paused->teammate", ("1003",),
         call={"crm": owner_is("1002")}),
    Case("owner talking -> teammate", [v("1002", T), v("1003")], "owner-busy->teammate", ("1003",),
         call={"crm": owner_is("1002")}),
    Case("owner ringing -> teammate", [v("1002", R), v("1003")], "owner-busy->teammate", ("1003",),
         call={"crm": owner_is("1002")}),
    Case("owner reserved for another call -> teammate", [v("1002", reserved_by="x"), v("1003")],
         "owner-busy->teammate", ("1003",), call={"crm": owner_is("1002")}),
    Case("owner in wrap-up -> teammate", [v("1002", W), v("1003")], "owner-wrapup->teammate", ("1003",),
         call={"crm": owner_is("1002")}),
    Case("owner did not answer -> teammate, never the owner again", [v("1002"), v("1003")],
         "owner-noanswer->teammate", ("1003",),
         call={"crm": owner_is("1002"), "attempt": 2, "last_dial_status": "NOANSWER", "offers": {"1002": 1}}),
    Case("owner's phone busy -> teammate", [v("1002"), v("1003")], "owner-busy->teammate", ("1003",),
         call={"crm": owner_is("1002"), "attempt": 2, "last_dial_status": "BUSY", "offers": {"1002": 1}}),
    Case("owner unreachable -> teammate", [v("1002"), v("1003")], "owner-unreachable->teammate", ("1003",),
         call={"crm": owner_is("1002"), "attempt": 2, "last_dial_status": "CHANUNAVAIL", "offers": {"1002": 1}}),
    Case("owner without any view: offline, team unknown", [v("1003")], "owner-offline->least-loaded", ("1003",),
         call={"crm": owner_is("1002")}),
    Case("owner of another team: their teammates before the DID's team",
         [v("2001", T, team="sales"), v("2002", team="sales", busy_s=999), v("1003")],
         "owner-busy->teammate", ("2002",), call={"crm": owner_is("2001")}),
    Case("owner's teammates all busy: the DID's team by strategy",
         [v("2001", T, team="sales"), v("2002", T, team="sales"), v("1003")],
         "owner-busy->least-loaded", ("1003",), call={"crm": owner_is("2001")}),
    Case("when_busy=team skips the teammates",
         [v("2001", T, team="sales"), v("2002", team="sales"), v("1003", busy_s=999)],
         "owner-busy->least-loaded", ("1003",), call={"crm": owner_is("2001")},
         team={"owner": OwnerRouting(when_busy=OwnerFallback.TEAM)}),
    Case("when_busy=queue waits in the queue", [v("1002", T), v("1003")], "owner-busy->queue",
         action=CcAction.QUEUE, call={"crm": owner_is("1002")},
         team={"owner": OwnerRouting(when_busy=OwnerFallback.QUEUE)}),
    Case("when_offline=voicemail", [v("1002", O), v("1003")], "owner-offline->voicemail",
         action=CcAction.VOICEMAIL, call={"crm": owner_is("1002")},
         team={"owner": OwnerRouting(when_offline=OwnerFallback.VOICEMAIL)}),
    Case("owner busy, nobody else: the queue", [v("1002", T), v("1003", T)], "no-agent->queue",
         action=CcAction.QUEUE, call={"crm": owner_is("1002")}),
    Case("the owner skips the skills filter", [v("1002", skills={}), v("1003", skills={"de": 3})], "owner",
         ("1002",), call={"crm": owner_is("1002"), "required_skills": {"de": 1}}),
    Case("owner without an extension: team strategy", [v("1003")], "least-loaded", ("1003",),
         call={"crm": CallerFacts(entity="lead", record_id=9, owner_user_id=7, owner_agent=None)}),
]

HOURS_CASES = [
    Case("after hours: callback offer", [v("1002")], "after-hours", action=CcAction.CALLBACK,
         now_s=datetime(2026, 3, 2, 18, 0, tzinfo=BERLIN).timestamp()),
    Case("Sunday: closed", [v("1002")], "after-hours", action=CcAction.CALLBACK,
         now_s=datetime(2026, 3, 1, 11, 0, tzinfo=BERLIN).timestamp()),
    Case("Saturday morning: open", [v("1002")], "least-loaded", ("1002",),
         now_s=datetime(2026, 3, 7, 12, 59, tzinfo=BERLIN).timestamp()),
    Case("holiday", [v("1002")], "holiday", action=CcAction.CALLBACK,
         now_s=datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN).timestamp()),
    Case("after hours: voicemail", [v("1002")], "after-hours", action=CcAction.VOICEMAIL,
         team={"after_hours": AfterHours.VOICEMAIL}, now_s=datetime(2026, 3, 2, 7, 59, tzinfo=BERLIN).timestamp()),
    Case("after hours: night queue", [v("1002")], "after-hours", action=CcAction.QUEUE,
         team={"after_hours": AfterHours.QUEUE}, now_s=datetime(2026, 3, 2, 22, 0, tzinfo=BERLIN).timestamp()),
    Case("after hours beats owner routing", [v("1002")], "after-hours", action=CcAction.CALLBACK,
         call={"crm": owner_is("1002")}, now_s=datetime(2026, 3, 2, 19, 0, tzinfo=BERLIN).timestamp()),
    Case("summer time: 08:30 local is open although 06:30 UTC", [v("1002")], "least-loaded", ("1002",),
         now_s=datetime(2026, 3, 30, 8, 30, tzinfo=BERLIN).timestamp()),
]


@pytest.mark.parametrize("case", TEAM_CASES + OWNER_CASES + HOURS_CASES, ids=lambda c: c.name)
def test_policy_table(case: Case) -> None:
    _, decision = run(case)
    assert (decision.action, decision.reason) == (case.action, case.reason), decision.explanation
    assert decision.targets == case.targets
    if case.ring_timeout_s is not None:
        assert decision.ring_timeout_s == case.ring_timeout_s
    assert decision.explanation and decision.explanation.endswith(".") or "taken" in decision.explanation
    if decision.action is CcAction.DIAL:
        assert decision.queue == "support"  # the overflow queue after the last attempt
    json.dumps(decision.to_dict())  # storable as is


def test_explanations_say_why_in_words() -> None:
    _, d = run(Case("", [v("1002", T), v("1003", busy_s=720, open_callbacks=1), v("1004", busy_s=1500)], "",
                    call={"crm": owner_is("1002")}))
    assert d.explanation.startswith("Known caller (contact 42); Owner 1002 is busy; teammate 1003 is least loaded")
    assert "12.0 min talk+wrap-up + 1 open callback(s)" in d.explanation
    assert d.alternatives == ("1004",)
    _, d = run(Case("", [v("1002", T), v("1003", P), v("1004", O)], ""))
    assert "(1 offline, 1 paused, 1 talking)" in d.explanation
    _, d = run(Case("", [v("1002")], "", now_s=datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN).timestamp()))
    assert d.explanation == "Team support is closed for Christmas (Fri 2026-12-25 10:00 Europe/Berlin); " \
                            "callback offered, else voicemail support@default."


@pytest.mark.parametrize(
    ("streak", "limit", "paused"), [(3, 3, True), (4, 3, True), (2, 3, False), (9, 0, False)]
)
def test_consecutive_no_answers_pause_the_agent(streak: int, limit: int, paused: bool) -> None:
    case = Case("", [v("1002", no_answer_streak=streak), v("1003", busy_s=999)], "least-loaded", ("1003",),
                call={"attempt": 2, "last_dial_status": "NOANSWER", "offers": {"1002": 1}},
                team={"no_answer_pause_after": limit})
    plan, decision = run(case)
    expected = (AutoPause("1002", "no answer", streak),) if paused else ()
    assert plan.side_effects == decision.side_effects == expected
    assert decision.targets == ("1003",)


def test_auto_pause_only_for_the_previous_attempts_no_answer() -> None:
    for status, offers in (("BUSY", {"1002": 1}), ("NOANSWER", {"1002": 0})):
        plan, _ = run(Case("", [v("1002", no_answer_streak=5), v("1003")], "",
                           call={"attempt": 2, "last_dial_status": status, "offers": offers}))
        assert plan.side_effects == ()


def test_auto_pause_is_returned_even_when_the_call_goes_to_the_queue() -> None:
    plan, decision = run(Case("", [v("1002", no_answer_streak=3)], "",
                              call={"attempt": 2, "last_dial_status": "NOANSWER", "offers": {"1002": 1}}))
    assert decision.reason == "no-agent->queue"
    assert decision.side_effects == (AutoPause("1002", "no answer", 3),)


@pytest.mark.parametrize(
    ("vip_kw", "team_kw", "queue", "priority"),
    [
        ({}, {}, "support", 0),
        ({"crm": CallerFacts(entity="contact", record_id=1, vip=True)}, {}, "support", 10),
        ({}, {"vip_numbers": frozenset({"+12125550101"})}, "support", 10),
        ({}, {"vip_numbers": frozenset({"+12125550101"}), "vip_queue": "support-vip", "vip_queue_priority": 50},
         "support-vip", 50),
    ],
)
def test_vip_callers_jump_the_queue(vip_kw: dict[str, Any], team_kw: dict[str, Any], queue: str, priority: int) -> None:
    _, queued = run(Case("", [v("1002", T)], "", call=vip_kw, team=team_kw))
    assert (queued.action, queued.queue, queued.queue_priority) == (CcAction.QUEUE, queue, priority)
    _, dialled = run(Case("", [v("1002")], "", call=vip_kw, team=team_kw))
    assert (dialled.action, dialled.queue, dialled.queue_priority) == (CcAction.DIAL, queue, priority)


def test_a_lost_race_moves_down_the_plan_with_the_right_reason() -> None:
    plan, _ = run(Case("", [v("1002"), v("1003", busy_s=10), v("1004", busy_s=20)], "",
                       call={"crm": owner_is("1002")}))
    assert [t.reason for t in plan.tiers] == ["owner", "owner-busy->teammate"]
    assert plan.candidates == ("1002", "1003", "1004")
    # the owner and the best teammate were reserved by simultaneous calls
    d = plan.decide(("1004",), tier=1)
    assert (d.reason, d.targets) == ("owner-busy->teammate", ("1004",))
    assert "was taken by a simultaneous call" in d.explanation and "(1003 taken by simultaneous calls)" in d.explanation
    lost = plan.decide_unreserved()
    assert (lost.action, lost.reason) == (CcAction.QUEUE, "no-agent->queue")
    assert "Candidates 1002, 1003, 1004 were taken by simultaneous calls." in lost.explanation


def test_the_crm_note_reaches_the_explanation() -> None:
    _, d = run(Case("", [v("1002")], "", call={"crm_note": "CRM lookup took over 100 ms, caller facts skipped"}))
    assert d.reason == "least-loaded" and d.explanation.startswith("CRM lookup took over 100 ms")


STATES = st.sampled_from([A, A, A, T, W, P, R, O])


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(STATES, st.floats(0, 5000), st.integers(0, 3), st.booleans(), st.sampled_from([None, 1, 2]),
                  st.sampled_from(["support", "sales"]), st.integers(0, 3)),
        min_size=1, max_size=8,
    ),
    owner=st.sampled_from([None, "1000", "1001", "1005"]),
    strategy=st.sampled_from(list(Strategy)),
    required=st.sampled_from([{}, {"de": 1}, {"de": 3}]),
)
def test_property_only_free_agents_are_ever_offered(
    rows: list[tuple[AgentState, float, int, bool, int | None, str, int]], owner: str | None, strategy: Strategy,
    required: dict[str, int],
) -> None:
    agents = {}
    offers = {}
    for i, (state, busy, callbacks, reserved, offered, team, level) in enumerate(rows):
        agent = f"100{i}"
        agents[agent] = v(agent, state, team=team, busy_s=busy, open_callbacks=callbacks,
                          reserved_by="other" if reserved else None, skills={"de": level})
        if offered is not None:
            offers[agent] = offered
    call = CallFacts(call_id="c", did="8002", attempt=3, last_dial_status="NOANSWER", offers=offers,
                     required_skills=required, crm=owner_is(owner) if owner else None)
    plan = plan_route(call=call, team=dataclasses.replace(TEAM, strategy=strategy), agents=agents, now_s=MONDAY_10)
    assert len(plan.candidates) == len(set(plan.candidates))
    for agent in plan.candidates:
        a = agents[agent]
        assert a.state is A and a.reserved_by is None and agent not in offers
    decision = resolve(plan)
    free_skilled = [a for a in agents.values() if a.team == "support" and a.state is A and a.reserved_by is None
                    and a.agent not in offers and a.skills.get("de", 0) >= required.get("de", 0)]
    if free_skilled:
        assert decision.action is CcAction.DIAL
    else:
        assert decision.action in (CcAction.DIAL, CcAction.QUEUE)


@pytest.mark.parametrize("strategy", [Strategy.LEAST_LOADED, Strategy.LONGEST_IDLE, Strategy.FEWEST_CALLS])
def test_an_agent_with_no_call_yet_is_explained_in_words_not_decades(strategy: Strategy) -> None:
    """The explanation once said `idle 499062.7 h` (seconds since 1970) for an agent who had had no call."""
    unknown_since = AgentView(agent="1002", team="support", state=A)  # state known, start of it not
    fresh = v("1003")  # available for 10 minutes, no call yet
    for agent, expected in ((unknown_since, "no call yet"), (fresh, "no call yet, available for 10 min")):
        _, decision = run(Case("idle text", [agent], "least-loaded", team={"strategy": strategy}))
        assert expected in decision.explanation, decision.explanation
        assert not re.search(r"\d h\b", decision.explanation)
    worked = v("1004", last_busy_end_s=MONDAY_10 - 90)
    _, decision = run(Case("idle text", [worked], "least-loaded", team={"strategy": strategy}))
    assert "idle 90 s" in decision.explanation, decision.explanation
