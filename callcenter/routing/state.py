"""Live routing state: agent availability, load and reservations. The interface and the in-memory store.

Two implementations pass one contract suite (tests/routing/test_state_contract.py): ``MemoryRoutingStore`` for one
process and ``RedisRoutingStore`` (callcenter/routing/state_redis.py) for several service instances.

Semantics shared by both:
* The store follows the domain events (``apply``): AgentStateChanged sets the state; leaving TALKING or WRAP_UP
  records that stretch as busy time (the load); CallRinging / CallAnswered confirm a reservation (the agent's own
  state now blocks them) and mark the agent as offered for that call; CallAnswered also counts the call and ends a
  no-answer streak; CallEnded releases whatever the call still holds. Applying an event twice changes nothing
  (several instances apply the same fanned-out events), and a state change older than the current one is ignored.
* ``reserve`` is atomic: among the candidates in order, it takes up to ``count`` that are AVAILABLE, not reserved
  (or whose reservation expired at ``now_s``) and never offered this call, and marks them offered at ``attempt``.
  It first releases this call's reservations on ``release`` (its previous attempt's Dial is over: Asterisk asks
  again only after Dial returned).
* ``snapshot_and_reserve`` is ``snapshot`` and ``reserve`` over a plan's tiers as ONE atomic step: release (and
  withdraw), then the snapshot, then, tier by tier, the first reservable candidates of the first tier that has any.
  It is what lets a decision cost one Redis round trip (see RoutingService.route for why that is still the pure
  policy's answer).
* Time is always passed in (``now_s``, event ``at_s``), so expiry is testable without sleeping.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from callcenter.events import AgentState, AgentStateChanged, CallAnswered, CallEnded, CallRinging

__all__ = ["AgentLive", "MemoryRoutingStore", "Reserved", "RoutingStore", "Snapshot", "TierAsk", "BUSY_STATES"]

BUSY_STATES = frozenset({AgentState.TALKING, AgentState.WRAP_UP})  # time spent in these is the agent's load
DEFAULT_HISTORY_S = 2 * 86_400.0  # busy stretches and answered calls older than this are dropped
DEFAULT_OFFERS_TTL_S = 6 * 3600  # a call's offer record outlives any real call


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLive:
    agent: str
    state: AgentState = AgentState.OFFLINE  # an agent the store never heard of cannot take calls
    since_s: float | None = None
    reason: str | None = None
    reserved_by: str | None = None  # only while the reservation is unexpired at the snapshot's now_s
    busy_s: float = 0.0  # talk + wrap-up ending after the window start, clipped to it
    calls: int = 0  # answered at or after the window start
    last_busy_end_s: float | None = None
    no_answer_streak: int = 0
    open_callbacks: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    agents: Mapping[str, AgentLive]
    offers: Mapping[str, int]  # this call: agent -> attempt it was offered at (0: rung by a queue)
    rr_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TierAsk:
    """One tier of a routing plan as the store sees it: candidates in the policy's order, how many to take."""

    candidates: tuple[str, ...]
    count: int = 1
    round_robin: bool = False  # the last agent taken becomes the team's round-robin cursor


@dataclass(frozen=True, slots=True)
class Reserved:
    snapshot: Snapshot  # the state after release / withdraw and just before the reservation, in the same step
    tier: int | None  # index of the tier whose candidates were taken; None: none could be
    agents: tuple[str, ...]  # taken, in candidate order


@runtime_checkable
class RoutingStore(Protocol):
    # True when each call is a network round trip: the service then saves one per decision by planning on the
    # previous decision's snapshot (RoutingService.route).
    remote: bool

    async def apply(self, event: object) -> None:
        """Follow one domain event (others are ignored)."""
        ...

    async def set_state(self, agent: str, state: AgentState, *, at_s: float, reason: str | None = None) -> None:
        """Seed or override an agent's state (resync, or an auto-pause we just executed)."""
        ...

    async def set_open_callbacks(self, counts: Mapping[str, int]) -> None:
        """Open callback tasks per agent (part of their load), for many agents in one call."""
        ...

    async def snapshot(
        self, *, agents: Sequence[str], call_id: str, now_s: float, window_start_s: float, rr_team: str | None = None
    ) -> Snapshot: ...

    async def note_no_answer(self, *, call_id: str, attempt: int, agents: Sequence[str]) -> Mapping[str, int]:
        """Count one no-answer for ``agents`` (the previous attempt's targets), once per (call, attempt); returns
        their streaks."""
        ...

    async def reserve(
        self,
        *,
        call_id: str,
        attempt: int,
        candidates: Sequence[str],
        now_s: float,
        ttl_s: float,
        count: int = 1,
        release: Sequence[str] = (),
        rr_team: str | None = None,
    ) -> tuple[str, ...]: ...

    async def snapshot_and_reserve(
        self,
        *,
        agents: Sequence[str],
        call_id: str,
        attempt: int,
        now_s: float,
        window_start_s: float,
        ttl_s: float,
        tiers: Sequence[TierAsk],
        release: Sequence[str] = (),
        withdraw: Sequence[str] = (),
        rr_team: str | None = None,
        rr_before: str | None = None,
    ) -> Reserved:
        """Atomically: release this call's reservations on ``release`` and ``withdraw``; ``withdraw`` also forgets
        their offer at ``attempt`` (a reservation the policy did not confirm: as if never offered) and puts
        ``rr_team``'s cursor back to ``rr_before``; then the snapshot of ``agents`` (none: an empty one); then the
        first reservable candidates (``reserve``'s rule) of the first tier that has any."""
        ...

    async def aclose(self) -> None: ...


class _Timeline:
    """One agent's stretches [start, end) in time order with running sums, so "how much since t" is a binary search
    instead of a scan over days of history (routing asks it for every candidate of every call)."""

    __slots__ = ("starts", "ends", "cumulative_s", "first")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.cumulative_s: list[float] = []  # cumulative_s[i]: summed length of stretches 0..i
        self.first = 0  # stretches before this one are pruned; the lists shrink once half of them are

    def add(self, start_s: float, end_s: float) -> None:
        if not self.ends or end_s >= self.ends[-1]:
            self.starts.append(start_s)
            self.ends.append(end_s)
            self.cumulative_s.append((self.cumulative_s[-1] if self.cumulative_s else 0.0) + (end_s - start_s))
            return
        # Late (another instance's event): insert in place and redo the sums from there; rare, so linear is fine.
        i = bisect.bisect_right(self.ends, end_s)
        if i < self.first:
            return  # older than the history kept
        self.starts.insert(i, start_s)
        self.ends.insert(i, end_s)
        self.cumulative_s.insert(i, 0.0)
        for j in range(i, len(self.ends)):
            self.cumulative_s[j] = (self.cumulative_s[j - 1] if j else 0.0) + (self.ends[j] - self.starts[j])

    def since(self, since_s: float) -> tuple[float, int]:
        """Length of the stretches clipped to [since_s, ..), and how many of them end at or after since_s."""
        i = bisect.bisect_left(self.ends, since_s, self.first)
        if i == len(self.ends):
            return 0.0, 0
        before_s = self.cumulative_s[i - 1] if i > 0 else 0.0
        total_s = self.cumulative_s[-1] - before_s - max(0.0, since_s - self.starts[i])
        return total_s, len(self.ends) - i

    def prune(self, horizon_s: float) -> None:
        """Forget stretches that ended before horizon_s."""
        self.first = bisect.bisect_left(self.ends, horizon_s, self.first)
        if self.first * 2 > len(self.ends):
            base_s = self.cumulative_s[self.first - 1]
            del self.starts[: self.first], self.ends[: self.first]
            self.cumulative_s = [c - base_s for c in self.cumulative_s[self.first :]]
            self.first = 0


@dataclass(slots=True)
class _Agent:
    state: AgentState | None = None
    since_s: float | None = None
    reason: str | None = None
    reserved_call: str | None = None
    reserved_until_s: float = 0.0
    last_busy_end_s: float | None = None
    streak: int = 0
    callbacks: int = 0
    busy: _Timeline = field(default_factory=_Timeline)  # talk + wrap-up stretches
    answered: _Timeline = field(default_factory=_Timeline)  # answered calls, as instants
    answered_calls: dict[str, float] = field(default_factory=dict)  # call id -> answered at (a replay counts once)


@dataclass(slots=True)
class _Call:
    offers: dict[str, int] = field(default_factory=dict)
    no_answer_counted: int = 0


class MemoryRoutingStore:
    """One process. Every method runs without awaiting anything, so each is atomic on the event loop."""

    remote = False  # a call costs no round trip: the service snapshots, plans and reserves in turn

    def __init__(self, *, history_s: float = DEFAULT_HISTORY_S, max_calls: int = 100_000) -> None:
        self._agents: dict[str, _Agent] = {}
        self._calls: collections.OrderedDict[str, _Call] = collections.OrderedDict()
        self._rr: dict[str, str] = {}
        self._history_s = history_s
        self._max_calls = max_calls

    def _agent(self, agent: str) -> _Agent:
        rec = self._agents.get(agent)
        if rec is None:
            rec = self._agents[agent] = _Agent()
        return rec

    def _call(self, call_id: str) -> _Call:
        rec = self._calls.get(call_id)
        if rec is None:
            rec = self._calls[call_id] = _Call()
            while len(self._calls) > self._max_calls:
                self._calls.popitem(last=False)
        return rec

    # -- events -------------------------------------------------------------------------------------------------

    async def apply(self, event: object) -> None:
        if isinstance(event, AgentStateChanged):
            self._set_state(event.agent, event.state, event.at_s, event.reason)
        elif isinstance(event, CallRinging):
            self._offered_event(event.call_id, event.agent)
        elif isinstance(event, CallAnswered):
            rec = self._offered_event(event.call_id, event.agent)
            rec.streak = 0
            if event.call_id not in rec.answered_calls:
                rec.answered_calls[event.call_id] = event.at_s
                rec.answered.add(event.at_s, event.at_s)
                horizon = event.at_s - self._history_s
                rec.answered.prune(horizon)
                while rec.answered_calls and next(iter(rec.answered_calls.values())) < horizon:
                    del rec.answered_calls[next(iter(rec.answered_calls))]
        elif isinstance(event, CallEnded):
            call = self._calls.pop(event.call_id, None)
            if call is not None:
                for agent in call.offers:
                    rec = self._agents.get(agent)
                    if rec is not None and rec.reserved_call == event.call_id:
                        rec.reserved_call = None

    def _offered_event(self, call_id: str, agent: str) -> _Agent:
        rec = self._agent(agent)
        if rec.reserved_call == call_id:
            rec.reserved_call = None  # the agent's own state (ringing/talking) blocks them from now on
        self._call(call_id).offers.setdefault(agent, 0)
        return rec

    def _set_state(self, agent: str, state: AgentState, at_s: float, reason: str | None) -> None:
        rec = self._agent(agent)
        reason = reason or None
        if rec.since_s is not None and at_s < rec.since_s:
            return  # older than what we know: a late duplicate from another instance
        if rec.state is state and rec.reason == reason:
            return
        if rec.state in BUSY_STATES and rec.since_s is not None and at_s > rec.since_s:
            rec.busy.add(rec.since_s, at_s)
            rec.busy.prune(at_s - self._history_s)
            rec.last_busy_end_s = at_s
        if rec.state is AgentState.PAUSED and state is not AgentState.PAUSED:
            rec.streak = 0  # back from a pause: a fresh start
        rec.state, rec.since_s, rec.reason = state, at_s, reason

    async def set_state(self, agent: str, state: AgentState, *, at_s: float, reason: str | None = None) -> None:
        self._set_state(agent, state, at_s, reason)

    async def set_open_callbacks(self, counts: Mapping[str, int]) -> None:
        for agent, count in counts.items():
            self._agent(agent).callbacks = max(0, count)

    # -- routing ------------------------------------------------------------------------------------------------

    async def snapshot(
        self, *, agents: Sequence[str], call_id: str, now_s: float, window_start_s: float, rr_team: str | None = None
    ) -> Snapshot:
        return self._snapshot(agents, call_id, now_s, window_start_s, rr_team)

    def _snapshot(
        self, agents: Sequence[str], call_id: str, now_s: float, window_start_s: float, rr_team: str | None
    ) -> Snapshot:
        out: dict[str, AgentLive] = {}
        for agent in agents:
            rec = self._agents.get(agent)
            if rec is None:
                out[agent] = AgentLive(agent=agent)
                continue
            busy_s, _ = rec.busy.since(window_start_s)
            reserved = rec.reserved_call if rec.reserved_call and rec.reserved_until_s > now_s else None
            out[agent] = AgentLive(
                agent=agent,
                state=rec.state or AgentState.OFFLINE,
                since_s=rec.since_s,
                reason=rec.reason,
                reserved_by=reserved,
                busy_s=busy_s,
                calls=rec.answered.since(window_start_s)[1],
                last_busy_end_s=rec.last_busy_end_s,
                no_answer_streak=rec.streak,
                open_callbacks=rec.callbacks,
            )
        call = self._calls.get(call_id)
        return Snapshot(
            agents=out,
            offers=dict(call.offers) if call else {},
            rr_cursor=self._rr.get(rr_team) if rr_team else None,
        )

    async def note_no_answer(self, *, call_id: str, attempt: int, agents: Sequence[str]) -> Mapping[str, int]:
        call = self._call(call_id)
        counting = call.no_answer_counted < attempt
        if counting:
            call.no_answer_counted = attempt
        out = {}
        for agent in agents:
            rec = self._agent(agent)
            if counting:
                rec.streak += 1
            out[agent] = rec.streak
        return out

    async def reserve(
        self,
        *,
        call_id: str,
        attempt: int,
        candidates: Sequence[str],
        now_s: float,
        ttl_s: float,
        count: int = 1,
        release: Sequence[str] = (),
        rr_team: str | None = None,
    ) -> tuple[str, ...]:
        self._release(call_id, release)
        return self._reserve(call_id, attempt, candidates, now_s, ttl_s, count, rr_team)

    async def snapshot_and_reserve(
        self,
        *,
        agents: Sequence[str],
        call_id: str,
        attempt: int,
        now_s: float,
        window_start_s: float,
        ttl_s: float,
        tiers: Sequence[TierAsk],
        release: Sequence[str] = (),
        withdraw: Sequence[str] = (),
        rr_team: str | None = None,
        rr_before: str | None = None,
    ) -> Reserved:
        self._release(call_id, (*release, *withdraw))
        if withdraw:
            call = self._calls.get(call_id)
            for agent in withdraw:
                if call is not None and call.offers.get(agent) == attempt:
                    del call.offers[agent]
            if rr_team:
                if rr_before is None:
                    self._rr.pop(rr_team, None)
                else:
                    self._rr[rr_team] = rr_before
        snap = self._snapshot(agents, call_id, now_s, window_start_s, rr_team)
        for index, tier in enumerate(tiers):
            won = self._reserve(
                call_id, attempt, tier.candidates, now_s, ttl_s, tier.count, rr_team if tier.round_robin else None
            )
            if won:
                return Reserved(snapshot=snap, tier=index, agents=won)
        return Reserved(snapshot=snap, tier=None, agents=())

    def _release(self, call_id: str, agents: Sequence[str]) -> None:
        for agent in agents:
            rec = self._agents.get(agent)
            if rec is not None and rec.reserved_call == call_id:
                rec.reserved_call = None

    def _reserve(
        self,
        call_id: str,
        attempt: int,
        candidates: Sequence[str],
        now_s: float,
        ttl_s: float,
        count: int,
        rr_team: str | None,
    ) -> tuple[str, ...]:
        call = self._call(call_id)
        won: list[str] = []
        for agent in candidates:
            rec = self._agents.get(agent)
            if (
                rec is None
                or rec.state is not AgentState.AVAILABLE
                or (rec.reserved_call is not None and rec.reserved_until_s > now_s)
                or agent in call.offers
            ):
                continue
            rec.reserved_call, rec.reserved_until_s = call_id, now_s + ttl_s
            call.offers[agent] = attempt
            won.append(agent)
            if len(won) >= count:
                break
        if won and rr_team:
            self._rr[rr_team] = won[-1]
        return tuple(won)

    async def aclose(self) -> None:
        return None
