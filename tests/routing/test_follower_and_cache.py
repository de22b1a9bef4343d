"""The bus follower that feeds the store, the CRM cache, and the settings that build the rules."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from callcenter.events import AgentState, AgentStateChanged, CallDirection, CallEnded, CallOutcome, CallStarted, InProcessBus
from callcenter.routing.crm import CachedLookup, CrmMatch
from callcenter.routing.follower import StoreFollower
from callcenter.routing.rules import OwnerFallback, Strategy
from callcenter.routing.settings import RoutingSettings, build_rules
from callcenter.routing.state import MemoryRoutingStore, RoutingStore
from tests.routing.conftest import StoreFactory

T0 = 1_800_000_000.0


def ended(call_id: str) -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=T0, ended_s=T0 + 5, direction=CallDirection.INBOUND, outcome=CallOutcome.MISSED,
        caller="+12125550101", caller_name=None, did="8002", customer="+12125550101", answered_by=None,
        agents_rung=(), agents_talked=(), attempts=(), wait_s=5.0, talk_s=0.0, hangup_cause=16, hangup_cause_txt=None,
        hung_up_by=None, recordings=(), queue=None,
    )


async def test_the_follower_applies_bus_events_in_order(store: RoutingStore) -> None:
    bus = InProcessBus()
    seen: list[str] = []
    follower = StoreFollower(bus=bus, store=store, on_call_ended=lambda e: seen.append(e.call_id))
    follower.start()
    try:
        for i, state in enumerate((AgentState.AVAILABLE, AgentState.TALKING, AgentState.WRAP_UP, AgentState.AVAILABLE)):
            bus.publish(AgentStateChanged(agent="1002", at_s=T0 + 10 * i, state=state, previous=None))
        bus.publish(CallStarted(call_id="x", at_s=T0, direction=CallDirection.INBOUND, caller=None, caller_name=None,
                                did=None, customer=None))  # not followed
        bus.publish(ended("x"))
        await follower.join()
    finally:
        await follower.stop()
    live = (await store.snapshot(agents=["1002"], call_id="x", now_s=T0 + 60, window_start_s=0)).agents["1002"]
    assert (live.state, live.busy_s, live.since_s) == (AgentState.AVAILABLE, 20.0, T0 + 30)
    assert (follower.applied, follower.errors, seen) == (5, 0, ["x"])


class _Flaky(MemoryRoutingStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = True

    async def apply(self, event: object) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("blip")
        await super().apply(event)


async def test_a_failed_write_is_counted_and_following_goes_on() -> None:
    bus, store = InProcessBus(), _Flaky()
    follower = StoreFollower(bus=bus, store=store, queue_limit=3)
    follower.start()
    try:
        for i in range(5):  # the applier has not run yet: 3 fit, 2 are dropped
            bus.publish(AgentStateChanged(agent="1002", at_s=T0 + i, state=AgentState.AVAILABLE, previous=None,
                                          reason=str(i)))
        await follower.join()
    finally:
        await follower.stop()
    assert (follower.dropped, follower.errors, follower.applied) == (2, 1, 2)
    snap = await store.snapshot(agents=["1002"], call_id="-", now_s=T0, window_start_s=0)
    assert snap.agents["1002"].reason == "2"


async def test_after_a_failed_write_every_agents_latest_state_is_written_again() -> None:
    """A Redis restart loses everything: once the store answers again each agent's last state is back, before any
    agent changes state."""
    bus, store = InProcessBus(), MemoryRoutingStore()
    follower = StoreFollower(bus=bus, store=store)
    follower.start()
    try:
        for agent in ("1002", "1003"):
            bus.publish(AgentStateChanged(agent=agent, at_s=T0, state=AgentState.AVAILABLE, previous=None))
        await follower.join()
        forgetful = _Flaky()  # the restarted store: empty, and the first write to it fails
        follower._store = forgetful
        bus.publish(AgentStateChanged(agent="1002", at_s=T0 + 1, state=AgentState.PAUSED, previous=None))
        await follower.join()
        await asyncio.wait_for(follower.in_step.wait(), 5)
    finally:
        await follower.stop()
    snap = await forgetful.snapshot(agents=["1002", "1003"], call_id="-", now_s=T0 + 2, window_start_s=0)
    assert {a: live.state for a, live in snap.agents.items()} == {"1002": AgentState.PAUSED,
                                                                  "1003": AgentState.AVAILABLE}
    assert follower.errors == 1


class _Crm:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def __call__(self, number: str) -> CrmMatch | None:
        self.asked.append(number)
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database down")
        if number.endswith("0101"):
            return CrmMatch(entity="contact", record_id=1, e164="+12125550101", responsible_user_id=7)
        return None


class _Clock:
    now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


async def test_cache_ttl_negative_ttl_and_lru() -> None:
    crm, clock = _Crm(), _Clock()
    cache = CachedLookup(lookup=crm, ttl_s=60, negative_ttl_s=10, max_entries=2, clock=clock)
    assert (await cache.get("+1 212 555 0101")).record_id == 1  # type: ignore[union-attr]
    assert (await cache.get("+12125550101")) is not None  # same key once spaces are gone
    assert await cache.get("+12125550199") is None
    assert crm.asked == ["+1 212 555 0101", "+12125550199"]
    clock.now_s = 10.0
    assert await cache.get("+12125550199") is None  # negative entry expired: asked again
    clock.now_s = 59.9
    await cache.get("+12125550101")
    assert len(crm.asked) == 3 and cache.hits == 2
    await cache.get("+12125550111")  # third key: the least recently used goes
    assert len(cache) == 2
    clock.now_s = 60.0
    await cache.get("+12125550101")
    assert crm.asked[-1] == "+12125550101"


async def test_simultaneous_lookups_share_one_flight_and_invalidation_wins() -> None:
    crm = _Crm()
    crm.gate.clear()
    cache = CachedLookup(lookup=crm)
    results = asyncio.gather(*(cache.get("+12125550101") for _ in range(20)))
    flight = cache.lookup_task("+12125550101")
    assert all(cache.lookup_task("+12125550101") is flight for _ in range(3))
    crm.gate.set()
    assert all(r is not None for r in await results)
    assert len(crm.asked) == 1 and len(cache) == 1

    crm.gate.clear()
    cache.invalidate()
    flight = cache.lookup_task("+12125550101")
    cache.invalidate("+12125550101")  # ownership changed while the lookup was in flight
    crm.gate.set()
    await flight
    assert len(cache) == 0  # that answer may predate the change: not cached
    await cache.get("+12125550101")
    assert len(cache) == 1
    cache.invalidate("+12125550101")
    assert len(cache) == 0


async def test_lookup_errors_are_not_cached() -> None:
    crm = _Crm()
    crm.fail = True
    cache = CachedLookup(lookup=crm)
    with pytest.raises(RuntimeError):
        await cache.get("+12125550101")
    crm.fail = False
    assert await cache.get("+12125550101") is not None
    assert (cache.errors, len(crm.asked)) == (1, 2)


def test_settings_build_the_rules() -> None:
    settings = RoutingSettings.model_validate(
        {
            "default_team": "support",
            "teams": {
                "support": {"strategy": "skills", "timezone": "Europe/Berlin", "hours": {"mon-fri": "08:00-18:00"},
                            "holidays": "2026-12-25,2026-12-26", "vip_numbers": "+12125550101",
                            "owner": {"when_busy": "queue", "last_agent_window_days": 7}},
                "sales": {"queue": "sales-q"},
            },
            "dids": {"8003": {"team": "sales", "skills": {"de": 2}}},
            "ivr_skills": {"2": {"billing": 1}},
        }
    )
    rules = build_rules(settings, default_queue="support-default")
    support = rules.teams["support"]
    assert (support.queue, support.strategy, support.owner.when_busy) == ("support-default", Strategy.SKILLS,
                                                                         OwnerFallback.QUEUE)
    assert support.owner.last_agent_window_s == 7 * 86400 and support.vip_numbers == {"+12125550101"}
    assert not support.hours.status(1_798_192_800.0).open  # 2026-12-25 10:00 Berlin
    team, skills = rules.route_for("8003", ivr_choice="2")
    assert (team.queue, dict(skills)) == ("sales-q", {"de": 2, "billing": 1})
    assert rules.route_for("9999")[0].name == "support"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"teams": {"support": {"timezone": "Mars/Olympus"}}}, "routing.teams.support: hours/timezone"),
        ({"teams": {"support": {"queue": "bad queue"}}}, "routing.teams.support: queue name"),
        ({"teams": {"support": {"after_hours": "voicemail"}}}, "needs a mailbox"),
        ({"dids": {"8002": {"team": "nobody"}}}, "team 'nobody' is not configured"),
        ({"teams": {"support": {"strategy": "random"}}}, "strategy"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RoutingSettings.model_validate(data)
