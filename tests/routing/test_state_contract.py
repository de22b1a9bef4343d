"""One contract, two stores: every test runs on MemoryRoutingStore and on RedisRoutingStore (real server)."""

from __future__ import annotations

import asyncio
import random

from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallOutcome,
    CallRinging,
)
from callcenter.routing.state import RoutingStore, TierAsk
from tests.routing.conftest import StoreFactory

A, T, W, P, R, O = (
    AgentState.AVAILABLE,
    AgentState.TALKING,
    AgentState.WRAP_UP,
    AgentState.PAUSED,
    AgentState.RINGING,
    AgentState.OFFLINE,
)
T0 = 1_800_000_000.0


def changed(agent: str, state: AgentState, at_s: float, reason: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(agent=agent, at_s=at_s, state=state, previous=None, reason=reason)


def ended(call_id: str, at_s: float = T0) -> CallEnded:
    return CallEnded(
        call_id=call_id, started_s=at_s - 10, ended_s=at_s, direction=CallDirection.INBOUND,
        outcome=CallOutcome.MISSED, caller="+12125550101", caller_name=None, did="8002", customer="+12125550101",
        answered_by=None, agents_rung=(), agents_talked=(), attempts=(), wait_s=10.0, talk_s=0.0, hangup_cause=16,
        hangup_cause_txt="Normal Clearing", hung_up_by=None, recordings=(), queue=None,
    )


async def available(store: RoutingStore, *agents: str, at_s: float = T0 - 3600) -> None:
    for agent in agents:
        await store.apply(changed(agent, A, at_s))


async def snap(store: RoutingStore, *agents: str, call_id: str = "c", now_s: float = T0, window_start_s: float = 0.0,
               rr_team: str | None = None):  # type: ignore[no-untyped-def]
    return await store.snapshot(agents=agents, call_id=call_id, now_s=now_s, window_start_s=window_start_s,
                                rr_team=rr_team)


async def reserve(store: RoutingStore, call_id: str, *candidates: str, attempt: int = 1, now_s: float = T0,
                  ttl_s: float = 15.0, count: int = 1, release: tuple[str, ...] = (),
                  rr_team: str | None = None) -> tuple[str, ...]:
    return await store.reserve(call_id=call_id, attempt=attempt, candidates=candidates, now_s=now_s, ttl_s=ttl_s,
                               count=count, release=release, rr_team=rr_team)


async def test_an_unknown_agent_is_offline_with_nothing_on_record(store: RoutingStore) -> None:
    s = await snap(store, "1009")
    live = s.agents["1009"]
    assert (live.state, live.since_s, live.reserved_by, live.busy_s, live.calls, live.no_answer_streak) == (
        O, None, None, 0.0, 0, 0)
    assert s.offers == {} and s.rr_cursor is None


async def test_state_reason_and_since_follow_the_events(store: RoutingStore) -> None:
    await store.apply(changed("1002", A, T0 - 50))
    await store.apply(changed("1002", P, T0 - 20, reason="lunch"))
    live = (await snap(store, "1002")).agents["1002"]
    assert (live.state, live.reason, live.since_s) == (P, "lunch", T0 - 20)
    await store.apply(changed("1002", P, T0 - 10, reason="training"))  # same state, new reason
    live = (await snap(store, "1002")).agents["1002"]
    assert (live.state, live.reason, live.since_s) == (P, "training", T0 - 10)


async def test_talk_and_wrap_up_are_load_clipped_to_the_window(store: RoutingStore) -> None:
    for state, at in ((A, T0 - 1000), (T, T0 - 900), (W, T0 - 840), (A, T0 - 810), (R, T0 - 500), (T, T0 - 495),
                      (A, T0 - 400.5)):
        await store.apply(changed("1002", state, at))
    full = (await snap(store, "1002")).agents["1002"]
    assert full.busy_s == 60 + 30 + 94.5  # ringing is not load
    assert full.last_busy_end_s == T0 - 400.5
    clipped = (await snap(store, "1002", window_start_s=T0 - 850)).agents["1002"]
    assert clipped.busy_s == 10 + 30 + 94.5
    assert (await snap(store, "1002", window_start_s=T0 - 400)).agents["1002"].busy_s == 0.0


async def test_events_applied_twice_or_late_change_nothing(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()  # two instances applying the same fanned-out stream
    events = [changed("1002", A, T0 - 100), changed("1002", T, T0 - 90), changed("1002", W, T0 - 30),
              changed("1002", A, T0 - 20)]
    for event in events:
        await first.apply(event)
    for event in events:
        await second.apply(event)  # all older or equal: ignored
    await first.apply(CallAnswered(call_id="x", at_s=T0 - 90, agent="1002", queue=None, wait_s=1.0))
    await second.apply(CallAnswered(call_id="x", at_s=T0 - 90, agent="1002", queue=None, wait_s=1.0))
    live = (await snap(first, "1002")).agents["1002"]
    assert (live.state, live.since_s, live.busy_s, live.calls) == (A, T0 - 20, 70.0, 1)
    await first.apply(changed("1002", P, T0 - 60))  # older than what is known
    assert (await snap(second, "1002")).agents["1002"].state is A


async def test_answered_calls_are_counted_once_per_call_inside_the_window(store: RoutingStore) -> None:
    for call_id, at in (("a", T0 - 7200), ("b", T0 - 600), ("c", T0 - 60), ("c", T0 - 60)):
        await store.apply(CallAnswered(call_id=call_id, at_s=at, agent="1002", queue=None, wait_s=0.0))
    assert (await snap(store, "1002")).agents["1002"].calls == 3
    assert (await snap(store, "1002", window_start_s=T0 - 3600)).agents["1002"].calls == 2


async def test_reserve_takes_the_first_free_candidate_and_marks_it_offered(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    await store.apply(changed("1004", T, T0 - 10))
    assert await reserve(store, "c1", "1004", "1009", "1003", "1002") == ("1003",)
    s = await snap(store, "1002", "1003", call_id="c1")
    assert s.agents["1003"].reserved_by == "c1" and s.agents["1002"].reserved_by is None
    assert s.offers == {"1003": 1}
    assert await reserve(store, "c2", "1003", "1002") == ("1002",)  # 1003 is held for c1


async def test_a_reservation_expires_at_its_ttl(store: RoutingStore) -> None:
    await available(store, "1002")
    assert await reserve(store, "c1", "1002", now_s=T0, ttl_s=15) == ("1002",)
    assert await reserve(store, "c2", "1002", now_s=T0 + 14.9) == ()
    assert (await snap(store, "1002", now_s=T0 + 14.9)).agents["1002"].reserved_by == "c1"
    assert (await snap(store, "1002", now_s=T0 + 15)).agents["1002"].reserved_by is None
    assert await reserve(store, "c2", "1002", now_s=T0 + 15) == ("1002",)


async def test_ringing_confirms_and_call_end_releases(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    assert await reserve(store, "c1", "1002") == ("1002",)
    await store.apply(CallRinging(call_id="c1", at_s=T0, agent="1002", queue=None))
    await store.apply(changed("1002", R, T0))
    live = (await snap(store, "1002", call_id="c1")).agents["1002"]
    assert (live.state, live.reserved_by) == (R, None)  # its own state blocks it now

    assert await reserve(store, "c2", "1003") == ("1003",)
    await store.apply(ended("c2"))  # caller hung up before the Dial
    s = await snap(store, "1003", call_id="c2")
    assert s.agents["1003"].reserved_by is None and s.offers == {}
    assert await reserve(store, "c3", "1003") == ("1003",)


async def test_a_ringing_event_for_another_call_keeps_the_reservation(store: RoutingStore) -> None:
    await available(store, "1002")
    assert await reserve(store, "c1", "1002") == ("1002",)
    await store.apply(CallRinging(call_id="queue-call", at_s=T0, agent="1002", queue="support"))
    assert (await snap(store, "1002", call_id="c1")).agents["1002"].reserved_by == "c1"
    assert (await snap(store, "1002", call_id="queue-call")).offers == {"1002": 0}


async def test_one_call_is_never_offered_the_same_agent_twice(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    assert await reserve(store, "c1", "1002", "1003") == ("1002",)
    await store.apply(CallRinging(call_id="c1", at_s=T0, agent="1002", queue=None))
    await store.apply(changed("1002", A, T0 + 20))  # rang out
    # attempt 2 releases what attempt 1 still held and never takes 1002 again
    assert await reserve(store, "c1", "1002", "1003", attempt=2, release=("1002",), now_s=T0 + 20) == ("1003",)
    assert (await snap(store, "1002", call_id="c1")).offers == {"1002": 1, "1003": 2}
    assert await reserve(store, "c1", "1002", attempt=3, release=("1002", "1003"), now_s=T0 + 40) == ()
    assert await reserve(store, "other", "1002", now_s=T0 + 40) == ("1002",)  # other calls still may


async def test_release_frees_only_this_calls_reservations(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    assert await reserve(store, "c1", "1002") == ("1002",)
    assert await reserve(store, "c2", "1003") == ("1003",)
    await reserve(store, "c1", attempt=2, release=("1002", "1003"))
    s = await snap(store, "1002", "1003")
    assert (s.agents["1002"].reserved_by, s.agents["1003"].reserved_by) == (None, "c2")


async def test_ring_all_reserves_several_at_once(store: RoutingStore) -> None:
    await available(store, "1002", "1003", "1004")
    await store.apply(changed("1003", W, T0 - 5))
    assert await reserve(store, "c1", "1002", "1003", "1004", count=3) == ("1002", "1004")


async def test_no_answers_are_counted_once_per_attempt_and_reset(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    assert await store.note_no_answer(call_id="c1", attempt=2, agents=["1002", "1003"]) == {"1002": 1, "1003": 1}
    assert await store.note_no_answer(call_id="c1", attempt=2, agents=["1002", "1003"]) == {"1002": 1, "1003": 1}
    assert await store.note_no_answer(call_id="c2", attempt=2, agents=["1002"]) == {"1002": 2}
    assert (await snap(store, "1002")).agents["1002"].no_answer_streak == 2
    await store.apply(CallAnswered(call_id="c3", at_s=T0, agent="1002", queue=None, wait_s=2.0))
    assert (await snap(store, "1002")).agents["1002"].no_answer_streak == 0
    await store.set_state("1003", P, at_s=T0, reason="no answer")
    assert (await snap(store, "1003")).agents["1003"].no_answer_streak == 1  # paused keeps the count
    await store.apply(changed("1003", A, T0 + 60))
    assert (await snap(store, "1003")).agents["1003"].no_answer_streak == 0  # back: a fresh start
    assert "#noanswer" not in (await snap(store, call_id="c1")).offers


async def test_open_callbacks_and_round_robin_memory(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    await store.set_open_callbacks({"1002": 4, "1003": 1})
    await store.set_open_callbacks({"1002": 2})
    assert await reserve(store, "c1", "1003", rr_team="support") == ("1003",)
    s = await snap(store, "1002", rr_team="support")
    assert s.agents["1002"].open_callbacks == 2 and s.rr_cursor == "1003"
    assert (await snap(store, "1003")).agents["1003"].open_callbacks == 1  # untouched by the second batch
    assert (await snap(store, "1002")).rr_cursor is None  # only asked for when wanted


async def test_fifty_simultaneous_calls_get_exactly_three_distinct_agents(make_store: StoreFactory) -> None:
    stores = [await make_store() for _ in range(5)]  # with Redis: five clients, like five service instances
    await available(stores[0], "1002", "1003", "1004")
    await stores[0].apply(changed("1005", T, T0 - 5))
    rng = random.Random(7)
    candidates = ["1002", "1003", "1004", "1005"]

    async def one(i: int) -> tuple[str, ...]:
        order = candidates[:]
        rng.shuffle(order)
        return await reserve(stores[i % len(stores)], f"call-{i}", *order)

    results = await asyncio.gather(*(one(i) for i in range(50)))
    winners = [r[0] for r in results if r]
    assert sorted(winners) == ["1002", "1003", "1004"]
    assert sum(1 for r in results if not r) == 47


async def test_an_agent_going_busy_after_the_snapshot_is_skipped(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    s = await snap(store, "1002", "1003")
    assert s.agents["1002"].state is A
    await store.apply(changed("1002", T, T0 - 1))  # a personal call starts between snapshot and reservation
    assert await reserve(store, "c1", "1002", "1003") == ("1003",)


async def test_old_load_is_dropped_after_the_history(make_store: StoreFactory) -> None:
    store = await make_store(history_s=3600.0)
    for state, at in ((T, T0 - 7300), (A, T0 - 7200), (T, T0 - 100), (A, T0 - 50)):
        await store.apply(changed("1002", state, at))
    assert (await snap(store, "1002")).agents["1002"].busy_s == 50.0


async def test_snapshot_and_reserve_reads_the_state_it_reserves_against(store: RoutingStore) -> None:
    await available(store, "1002", "1003", "1004")
    await store.apply(changed("1005", T, T0 - 100))
    await store.apply(changed("1005", A, T0 - 40))  # 60 s of load
    assert await reserve(store, "other", "1002") == ("1002",)
    got = await store.snapshot_and_reserve(
        agents=["1002", "1003", "1005"], call_id="c1", attempt=1, now_s=T0, window_start_s=0.0, ttl_s=15.0,
        tiers=[TierAsk(("1002",)), TierAsk(("1002", "1005", "1003"))],
    )
    # The first tier had nobody reservable; the second tier's first reservable one is taken.
    assert (got.tier, got.agents) == (1, ("1005",))
    s = got.snapshot
    assert s.agents["1002"].reserved_by == "other" and s.agents["1005"].reserved_by is None  # read before reserving
    assert s.agents["1005"].busy_s == 60.0 and s.offers == {} and set(s.agents) == {"1002", "1003", "1005"}
    after = await snap(store, "1005", call_id="c1")
    assert after.agents["1005"].reserved_by == "c1" and after.offers == {"1005": 1}


async def test_snapshot_and_reserve_with_nothing_reservable_takes_nothing(store: RoutingStore) -> None:
    await store.apply(changed("1002", P, T0 - 10))
    got = await store.snapshot_and_reserve(
        agents=[], call_id="c1", attempt=1, now_s=T0, window_start_s=0.0, ttl_s=15.0,
        tiers=[TierAsk(("1002",), count=2)],
    )
    assert (got.tier, got.agents, dict(got.snapshot.agents), got.snapshot.offers) == (None, (), {}, {})


async def test_snapshot_and_reserve_rings_all_and_moves_the_round_robin_cursor(store: RoutingStore) -> None:
    await available(store, "1002", "1003", "1004")
    got = await store.snapshot_and_reserve(
        agents=[], call_id="c1", attempt=1, now_s=T0, window_start_s=0.0, ttl_s=15.0, rr_team="support",
        tiers=[TierAsk(("1004", "1002", "1003"), count=2, round_robin=True)],
    )
    assert got.agents == ("1004", "1002") and (await snap(store, rr_team="support")).rr_cursor == "1002"


async def test_a_withdrawn_reservation_is_as_if_never_made(store: RoutingStore) -> None:
    await available(store, "1002", "1003")
    assert await reserve(store, "c0", "1003", rr_team="support") == ("1003",)
    first = await store.snapshot_and_reserve(
        agents=["1002"], call_id="c1", attempt=1, now_s=T0, window_start_s=0.0, ttl_s=15.0, rr_team="support",
        tiers=[TierAsk(("1002",), round_robin=True)],
    )
    assert first.agents == ("1002",) and first.snapshot.rr_cursor == "1003"
    # The policy wanted someone else (here: nobody reservable): 1002 is free again, not offered, cursor back.
    again = await store.snapshot_and_reserve(
        agents=["1002"], call_id="c1", attempt=1, now_s=T0, window_start_s=0.0, ttl_s=15.0, rr_team="support",
        tiers=[TierAsk(("1003",), round_robin=True)], withdraw=("1002",), rr_before="1003",
    )
    assert again.agents == () and again.snapshot.offers == {}
    assert again.snapshot.agents["1002"].reserved_by is None and again.snapshot.rr_cursor == "1003"
    assert await reserve(store, "c1", "1002") == ("1002",)  # may still be offered this call


async def test_snapshot_and_reserve_releases_and_is_atomic_across_instances(make_store: StoreFactory) -> None:
    stores = [await make_store() for _ in range(5)]
    await available(stores[0], "1002", "1003", "1004")
    assert await reserve(stores[0], "c0", "1002") == ("1002",)
    got = await stores[1].snapshot_and_reserve(
        agents=["1002"], call_id="c0", attempt=2, now_s=T0 + 20, window_start_s=0.0, ttl_s=15.0,
        tiers=[TierAsk(("1002", "1003"))], release=("1002",),
    )
    assert got.snapshot.agents["1002"].reserved_by is None and got.agents == ("1003",)  # released, not re-offered

    async def one(i: int) -> tuple[str, ...]:
        got = await stores[i % len(stores)].snapshot_and_reserve(
            agents=["1002", "1004"], call_id=f"call-{i}", attempt=1, now_s=T0 + 20, window_start_s=0.0, ttl_s=15.0,
            tiers=[TierAsk(("1004",)), TierAsk(("1002", "1003", "1004"))],
        )
        return got.agents

    results = await asyncio.gather(*(one(i) for i in range(30)))
    assert sorted(r[0] for r in results if r) == ["1002", "1004"]
