"""RoutingService behind a real FastAgiServer on a real socket, with real stores fed through the real bus.

Asterisk's side is played by tests.agi.agi_peer.play_asterisk: it sends the agi_* block the shipped dialplan sends
(attempt, last DIALSTATUS, linkedid) and collects the SET VARIABLE answers exactly as Asterisk would parse them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.ami.agi import FastAgiServer
from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallOutcome,
    CallRinging,
    InProcessBus,
)
from callcenter.routing.crm import CrmMatch
from callcenter.routing.directory import AgentInfo, StaticDirectory
from callcenter.routing.follower import StoreFollower
from callcenter.routing.hours import WorkingHours
from callcenter.routing.rules import DidRoute, RoutingRules, TeamPolicy
from callcenter.routing.service import RoutingService
from callcenter.routing.state import MemoryRoutingStore, RoutingStore
from tests.agi.agi_peer import parse_set_variables, play_asterisk
from tests.routing.conftest import StoreFactory

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN).timestamp()
FAIL_OPEN_QUEUE = "fallback"  # the FastAGI server's own default: tells a fail-open answer from ours
CUSTOMER = "+12125550102"

DIRECTORY = StaticDirectory(
    [
        AgentInfo(agent="1002", team="support", user_id=7, name="Ada"),
        AgentInfo(agent="1003", team="support", user_id=8, name="Bo"),
        AgentInfo(agent="1004", team="support", user_id=9, name="Cy"),
        AgentInfo(agent="2001", team="sales", user_id=20, name="Di", dial_string="PJSIP/2001-desk"),
    ]
)
RULES = RoutingRules(
    teams={
        "support": TeamPolicy(
            name="support",
            queue="support",
            mailbox="support@default",
            hours=WorkingHours.parse(timezone="Europe/Berlin", week={"mon-fri": "08:00-18:00"}),
        ),
        "sales": TeamPolicy(name="sales", queue="sales"),
    },
    default_team="support",
    dids={"8002": DidRoute(did="8002", team="support"), "8003": DidRoute(did="8003", team="sales")},
)


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class FakeCrm:
    """The CrmLookup the lead implements on the database, with a gate to make it slow on purpose."""

    def __init__(self, matches: dict[str, CrmMatch]) -> None:
        self.matches = matches
        self.asked: list[str] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, number: str) -> CrmMatch | None:
        self.asked.append(number)
        if self.gate is not None:
            await self.gate.wait()
        return self.matches.get(number)


@dataclass
class Rig:
    store: RoutingStore
    bus: InProcessBus
    follower: StoreFollower
    service: RoutingService
    server: FastAgiServer
    clock: Clock
    crm: FakeCrm
    paused: list[tuple[str, str]] = field(default_factory=list)

    async def events(self, *events: object) -> None:
        for event in events:
            self.bus.publish(event)
        await self.follower.join()

    async def state(self, agent: str, state: AgentState, at_s: float | None = None) -> None:
        await self.events(AgentStateChanged(agent=agent, at_s=self.clock.now_s if at_s is None else at_s,
                                            state=state, previous=None))

    async def ask(self, *, uniqueid: str = "1795390509.2", caller: str = CUSTOMER, did: str = "8002",
                  attempt: int = 1, last: str = "NONE") -> dict[str, str]:
        lines = [
            "agi_network: yes",
            "agi_network_script: inbound",
            "agi_request: agi://127.0.0.1:4573/inbound",
            "agi_channel: PJSIP/trunk-00000002",
            "agi_language: en",
            "agi_type: PJSIP",
            f"agi_uniqueid: {uniqueid}",
            "agi_version: 20.20.1",
            f"agi_callerid: {caller}",
            "agi_calleridname: Customer",
            f"agi_dnid: {did}",
            "agi_rdnis: unknown",
            "agi_context: cc-inbound",
            f"agi_extension: {did}",
            "agi_priority: 8",
            f"agi_arg_1: {attempt}",
            f"agi_arg_2: {last}",
            f"agi_arg_3: {uniqueid}",
        ]
        result = await play_asterisk(self.server.port, "".join(f"{x}\n" for x in lines).encode() + b"\n")
        assert result.closed_by_server
        return dict(parse_set_variables(result.commands))

    async def rang_out(self, call_id: str, agent: str) -> None:
        """Asterisk rang ``agent`` for ``call_id`` and nobody picked up."""
        await self.events(
            CallRinging(call_id=call_id, at_s=self.clock.now_s, agent=agent, queue=None),
            AgentStateChanged(agent=agent, at_s=self.clock.now_s, state=AgentState.RINGING, previous=None),
        )
        self.clock.now_s += 20
        await self.state(agent, AgentState.AVAILABLE)


def call_ended(call_id: str, at_s: float) -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=at_s - 60, ended_s=at_s, direction=CallDirection.INBOUND,
        outcome=CallOutcome.ABANDONED, caller=CUSTOMER, caller_name=None, did="8002", customer=CUSTOMER,
        answered_by=None, agents_rung=(), agents_talked=(), attempts=(), wait_s=60.0, talk_s=0.0, hangup_cause=16,
        hangup_cause_txt=None, hung_up_by=None, recordings=(), queue=None,
    )


async def build_rig(store: RoutingStore, *, crm_budget_ms: int = 2000) -> AsyncIterator[Rig]:
    clock = Clock(MONDAY_10)
    crm = FakeCrm({CUSTOMER: CrmMatch(entity="contact", record_id=42, e164=CUSTOMER, responsible_user_id=7)})
    bus = InProcessBus()
    follower = StoreFollower(bus=bus, store=store)
    follower.start()
    paused: list[tuple[str, str]] = []

    async def pause_agent(agent: str, reason: str) -> None:
        paused.append((agent, reason))

    service = RoutingService(rules=RULES, store=store, directory=DIRECTORY, lookup=crm, pause_agent=pause_agent,
                             clock=clock, crm_budget_ms=crm_budget_ms)
    # a generous budget: these tests are about what is decided, the FastAGI budget has its own tests
    server = FastAgiServer(host="127.0.0.1", port=0, default_queue=FAIL_OPEN_QUEUE, queue_timeout_s=90,
                           time_budget_ms=10_000, decide=service.decide)
    await server.start()
    rig = Rig(store, bus, follower, service, server, clock, crm, paused)
    # Today so far: 1003 talked 10 min, 1004 20 min, 1002 30 min; all free since 09:40.
    start = MONDAY_10 - 7200
    for agent, talk_s in (("1002", 1800), ("1003", 600), ("1004", 1200), ("2001", 0)):
        await rig.state(agent, AgentState.AVAILABLE, start)
        await rig.state(agent, AgentState.TALKING, start + 60)
        await rig.state(agent, AgentState.AVAILABLE, start + 60 + talk_s)
    try:
        yield rig
    finally:
        await server.stop()
        await service.aclose()
        await follower.stop()


@pytest.fixture
async def rig(make_store: StoreFactory) -> AsyncIterator[Rig]:
    async for r in build_rig(await make_store()):
        yield r


async def test_a_returning_customer_reaches_their_manager(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "callcenter.routing")
    answer = await rig.ask()
    assert answer == {
        "CC_TARGET": "PJSIP/1002",
        "CC_RING_TIMEOUT_S": "20",
        "CC_DIAL_OPTS": "",
        "CC_QUEUE": "support",  # overflow after the last attempt
        "CC_QUEUE_TIMEOUT_S": "90",
        "CC_MAILBOX": "support@default",
        "CC_REASON": "owner",
        "CC_ACTION": "dial",
    }
    (decision,) = rig.service.decisions.for_call("1795390509.2")
    assert decision.explanation == "Known caller (contact 42): owner Ada (1002) is available; ringing for 20 s."
    lines = [r for r in caplog.records if r.getMessage().startswith("route ")]
    assert len(lines) == 1 and lines[0].call_id == "1795390509.2"  # type: ignore[attr-defined]
    assert "-> dial 1002 reason=owner" in lines[0].getMessage()


async def test_manager_busy_goes_to_the_least_loaded_teammate(rig: Rig) -> None:
    await rig.state("1002", AgentState.TALKING)
    answer = await rig.ask()
    assert (answer["CC_ACTION"], answer["CC_TARGET"], answer["CC_REASON"]) == (
        "dial", "PJSIP/1003", "owner-busy->teammate")
    (decision,) = rig.service.decisions.for_call("1795390509.2")
    assert decision.alternatives == ("1004",)
    assert "10.0 min talk+wrap-up" in decision.explanation


async def test_everyone_busy_goes_to_the_queue(rig: Rig) -> None:
    for agent in ("1002", "1003", "1004"):
        await rig.state(agent, AgentState.TALKING)
    answer = await rig.ask()
    assert (answer["CC_ACTION"], answer["CC_QUEUE"], answer["CC_REASON"], answer["CC_MAILBOX"], answer["CC_TARGET"]) == (
        "queue", "support", "no-agent->queue", "support@default", "")


async def test_after_hours_offers_a_callback(rig: Rig) -> None:
    rig.clock.now_s = datetime(2026, 3, 2, 20, 15, tzinfo=BERLIN).timestamp()
    answer = await rig.ask()
    assert (answer["CC_ACTION"], answer["CC_REASON"], answer["CC_MAILBOX"]) == (
        "callback", "after-hours", "support@default")


async def test_attempt_two_after_noanswer_never_reoffers_the_same_agent(rig: Rig) -> None:
    call = "1795390509.2"
    first = await rig.ask(caller="+12125550199")  # unknown caller: least loaded first
    assert (first["CC_TARGET"], first["CC_REASON"]) == ("PJSIP/1003", "least-loaded")
    await rig.rang_out(call, "1003")
    second = await rig.ask(caller="+12125550199", attempt=2, last="NOANSWER")
    assert (second["CC_TARGET"], second["CC_REASON"]) == ("PJSIP/1004", "least-loaded")  # 1003 is free, but tried
    await rig.rang_out(call, "1004")
    third = await rig.ask(caller="+12125550199", attempt=3, last="NOANSWER")
    assert third["CC_TARGET"] == "PJSIP/1002"
    await rig.rang_out(call, "1002")
    beyond = await rig.ask(caller="+12125550199", attempt=4, last="NOANSWER")  # a hand-written extra retry
    assert (beyond["CC_ACTION"], beyond["CC_REASON"]) == ("queue", "max-attempts->queue")
    other = await rig.ask(uniqueid="1795390600.9", caller="+12125550199")  # another call may have 1003 again
    assert other["CC_TARGET"] == "PJSIP/1003"
    assert [d.attempt for d in rig.service.decisions.for_call(call)] == [1, 2, 3, 4]


async def test_owner_no_answer_goes_to_a_teammate(rig: Rig) -> None:
    assert (await rig.ask())["CC_TARGET"] == "PJSIP/1002"
    await rig.rang_out("1795390509.2", "1002")
    answer = await rig.ask(attempt=2, last="NOANSWER")
    assert (answer["CC_TARGET"], answer["CC_REASON"]) == ("PJSIP/1003", "owner-noanswer->teammate")


async def test_fifty_simultaneous_calls_for_three_free_agents(rig: Rig) -> None:
    await rig.state("2001", AgentState.OFFLINE)
    answers = await asyncio.gather(
        *(rig.ask(uniqueid=f"1795390700.{i}", caller=f"+1212555{i:04d}") for i in range(50))
    )
    dialled = sorted(a["CC_TARGET"] for a in answers if a["CC_ACTION"] == "dial")
    assert dialled == ["PJSIP/1002", "PJSIP/1003", "PJSIP/1004"]
    queued = [a for a in answers if a["CC_ACTION"] == "queue"]
    assert len(queued) == 47 and {a["CC_QUEUE"] for a in queued} == {"support"}
    assert rig.server.counters.fail_open == 0


async def test_an_agent_going_busy_between_decision_and_dial(rig: Rig) -> None:
    call = "1795390509.2"
    assert (await rig.ask(caller="+12125550199"))["CC_TARGET"] == "PJSIP/1003"
    await rig.state("1003", AgentState.TALKING)  # picks up the desk phone for a personal call: Dial gets BUSY
    retry = await rig.ask(caller="+12125550199", attempt=2, last="BUSY")
    assert (retry["CC_TARGET"], retry["CC_REASON"]) == ("PJSIP/1004", "least-loaded")
    newcomer = await rig.ask(uniqueid="1795390800.1", caller="+12125550198")
    assert newcomer["CC_TARGET"] == "PJSIP/1002"  # 1003 talking, 1004 held for the first call
    await rig.events(call_ended(call, rig.clock.now_s))  # the first caller gives up before 1004 rings
    again = await rig.ask(uniqueid="1795390800.2", caller="+12125550197")
    assert again["CC_TARGET"] == "PJSIP/1004"


async def test_consecutive_no_answers_auto_pause_the_agent(rig: Rig) -> None:
    await rig.state("1002", AgentState.OFFLINE)
    await rig.state("1004", AgentState.OFFLINE)
    for n in range(3):
        call = f"1795390900.{n}"
        first = await rig.ask(uniqueid=call, caller="+12125550199")
        assert first["CC_TARGET"] == "PJSIP/1003"
        await rig.rang_out(call, "1003")
        retry = await rig.ask(uniqueid=call, caller="+12125550199", attempt=2, last="NOANSWER")
        assert retry["CC_REASON"] == "no-agent->queue"
        await rig.events(call_ended(call, rig.clock.now_s))
    await rig.service.drain()
    assert rig.paused == [("1003", "no answer")]
    (last_call,) = rig.service.decisions.recent(1)
    assert [e.agent for e in last_call.side_effects] == ["1003"]
    snap = await rig.store.snapshot(agents=["1003"], call_id="-", now_s=rig.clock.now_s, window_start_s=0)
    assert (snap.agents["1003"].state, snap.agents["1003"].reason) == (AgentState.PAUSED, "no answer")
    await rig.state("1004", AgentState.AVAILABLE)
    following = await rig.ask(uniqueid="1795390999.1", caller="+12125550199")
    assert following["CC_TARGET"] == "PJSIP/1004"


async def test_an_agent_who_let_a_call_ring_out_is_tried_after_the_others(rig: Rig) -> None:
    call = "1795390950.1"
    assert (await rig.ask(uniqueid=call, caller="+12125550199"))["CC_TARGET"] == "PJSIP/1003"
    await rig.rang_out(call, "1003")
    assert (await rig.ask(uniqueid=call, caller="+12125550199", attempt=2, last="NOANSWER"))["CC_TARGET"] == (
        "PJSIP/1004")
    await rig.events(CallAnswered(call_id=call, at_s=rig.clock.now_s, agent="1004", queue=None, wait_s=30))
    await rig.state("1004", AgentState.TALKING)
    # 1003 is still the least loaded, but its last offer rang out: 1002 first
    nxt = await rig.ask(uniqueid="1795390950.2", caller="+12125550198")
    assert nxt["CC_TARGET"] == "PJSIP/1002"
    (decision,) = rig.service.decisions.for_call("1795390950.2")
    assert decision.alternatives == ("1003",)


async def test_an_answer_resets_the_no_answer_streak(rig: Rig) -> None:
    await rig.state("1002", AgentState.OFFLINE)
    await rig.state("1004", AgentState.OFFLINE)
    for n in range(4):
        call = f"1795391000.{n}"
        assert (await rig.ask(uniqueid=call, caller="+12125550199"))["CC_TARGET"] == "PJSIP/1003"
        await rig.rang_out(call, "1003")
        await rig.ask(uniqueid=call, caller="+12125550199", attempt=2, last="NOANSWER")
        await rig.events(call_ended(call, rig.clock.now_s))
        if n == 1:
            await rig.events(CallAnswered(call_id="other", at_s=rig.clock.now_s, agent="1003", queue=None, wait_s=1))
    await rig.service.drain()
    assert rig.paused == []  # 2, then reset, then 2 again


async def test_crm_answers_are_cached_and_invalidated(rig: Rig) -> None:
    await rig.ask()
    await rig.ask(uniqueid="1795391100.1")
    assert rig.crm.asked == [CUSTOMER]
    rig.crm.matches[CUSTOMER] = CrmMatch(entity="contact", record_id=42, e164=CUSTOMER, responsible_user_id=9)
    rig.service.invalidate_caller(CUSTOMER)  # ownership moved to user 9 (1004)
    answer = await rig.ask(uniqueid="1795391100.2")
    assert (answer["CC_TARGET"], answer["CC_REASON"]) == ("PJSIP/1004", "owner")
    assert rig.crm.asked == [CUSTOMER, CUSTOMER]


async def test_a_slow_crm_costs_the_owner_not_the_call(make_store: StoreFactory) -> None:
    async for rig in build_rig(await make_store(), crm_budget_ms=20):
        rig.crm.gate = asyncio.Event()  # the CRM does not answer while this call is routed
        answer = await rig.ask()
        assert (answer["CC_TARGET"], answer["CC_REASON"]) == ("PJSIP/1003", "least-loaded")
        (decision,) = rig.service.decisions.for_call("1795390509.2")
        assert decision.explanation.startswith("CRM lookup took over 20 ms, caller facts skipped;")
        rig.crm.gate.set()
        assert rig.service.crm_cache is not None
        assert (await rig.service.crm_cache.get(CUSTOMER)) is not None  # the late answer was kept
        later = await rig.ask(uniqueid="1795391200.1")
        assert (later["CC_TARGET"], later["CC_REASON"]) == ("PJSIP/1002", "owner")
        assert rig.crm.asked == [CUSTOMER]


async def test_the_dids_team_and_dial_strings_come_from_config(rig: Rig) -> None:
    answer = await rig.ask(did="8003", caller="+12125550199")
    assert (answer["CC_TARGET"], answer["CC_QUEUE"], answer["CC_REASON"]) == ("PJSIP/2001-desk", "sales", "least-loaded")
    unknown = await rig.ask(did="8099", uniqueid="1795391300.1", caller="+12125550198")
    assert unknown["CC_QUEUE"] == "support"  # the default team


class _BrokenStore(MemoryRoutingStore):
    async def snapshot(self, **kwargs: object):  # type: ignore[no-untyped-def, override]
        raise ConnectionError("redis is down")


async def test_each_decision_is_the_policys_on_the_state_it_reserved_against(rig: Rig) -> None:
    """On Redis a first attempt plans on the previous decision's snapshot and reserves in one round trip; when the
    fresh state disagrees with that plan the speculative reservation is withdrawn. Either way the answer is the
    policy's on the state at the reservation (least loaded: 1003 10 min, 1004 20 min, 1002 30 min)."""
    stranger = "+12125550199"  # not in the CRM: the team's strategy decides

    async def target(call: str) -> str:
        return (await rig.ask(uniqueid=call, caller=stranger))["CC_TARGET"]

    assert await target("1.a") == "PJSIP/1003"
    assert await target("1.b") == "PJSIP/1004"  # 1003 is held for 1.a
    await rig.events(call_ended("1.a", rig.clock.now_s), call_ended("1.b", rig.clock.now_s))
    await rig.state("1003", AgentState.PAUSED)
    assert await target("1.c") == "PJSIP/1004"
    # 1003 comes back: the plan on 1.c's snapshot (1003 paused) would reserve 1004; the fresh one wants 1003.
    await rig.events(call_ended("1.c", rig.clock.now_s))
    await rig.state("1003", AgentState.AVAILABLE)
    assert await target("1.d") == "PJSIP/1003"
    snap = await rig.store.snapshot(agents=["1003", "1004"], call_id="1.d", now_s=rig.clock.now_s, window_start_s=0)
    assert snap.agents["1004"].reserved_by is None and snap.offers == {"1003": 1}  # as if never reserved
    assert "simultaneous" not in rig.service.decisions.for_call("1.d")[-1].explanation
    if rig.store.remote:
        assert rig.service.speculation == {"cold": 1, "confirmed": 2, "corrected": 1}
    else:
        assert rig.service.speculation == {}


async def test_a_broken_store_still_queues_the_caller_with_the_reason() -> None:
    async for rig in build_rig(_BrokenStore()):
        answer = await rig.ask()
        assert (answer["CC_ACTION"], answer["CC_QUEUE"], answer["CC_REASON"]) == (
            "queue", "support", "state-error->queue")
        assert rig.server.counters.fail_open == 0  # our own answer, logged with its reason
        assert rig.service.reason_counts["state-error->queue"] == 1


async def test_a_round_robin_team_takes_turns_one_round_trip_each(make_store: StoreFactory) -> None:
    """The snapshot remembered after a round-robin decision carries the cursor that decision moved, so the next
    plan on it is the fresh state's plan (on Redis: confirmed, one round trip)."""
    from callcenter.ami.agi import AgiRequest, AgiRoute
    from callcenter.routing.rules import Strategy

    store = await make_store()
    rules = RoutingRules(teams={"support": TeamPolicy(name="support", queue="support", strategy=Strategy.ROUND_ROBIN)},
                         default_team="support")
    service = RoutingService(rules=rules, store=store, directory=DIRECTORY, clock=lambda: MONDAY_10)
    for agent in ("1002", "1003", "1004"):
        await store.set_state(agent, AgentState.AVAILABLE, at_s=MONDAY_10 - 60)
    picks = []
    for n in range(5):
        request = AgiRequest(route=AgiRoute.INBOUND, channel="PJSIP/trunk-1", uniqueid=f"rr.{n}", linkedid=f"rr.{n}",
                             callerid_num=None, callerid_name=None, dnid="8002", extension="8002",
                             context="cc-inbound", attempt=1, last_dial_status=None, args=())
        decision = await service.route(request)
        picks.append(decision.targets)
        await store.apply(call_ended(f"rr.{n}", MONDAY_10))
    assert picks == [("1002",), ("1003",), ("1004",), ("1002",), ("1003",)]
    assert service.speculation == ({"cold": 1, "confirmed": 4} if store.remote else {})
