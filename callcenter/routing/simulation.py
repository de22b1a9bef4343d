"""Seeded discrete-event simulation of a contact-center day that drives the REAL routing code (the engine of
bench/routing_sim.py, here so that the service can run it: the staffing what-if replays a real day through it).

What runs is the production path, not a reimplementation: every FastAGI decision is ``RoutingService.route`` (the
DID's team, the CRM facts, ``MemoryRoutingStore.snapshot``, ``note_no_answer``, ``plan_route``, the atomic
``reserve``), and the store follows the same domain events it follows in production (AgentStateChanged,
CallRinging, CallAnswered). The coroutines never suspend (memory store, CRM facts answered from the cache), so they
are stepped synchronously with ``coro.send(None)``: no event loop, no wall clock; the service's clock is the
simulation's. Pure CPU: callers inside an event loop run it in a thread (``asyncio.to_thread``).

The simulation plays the PBX and the people:

* Calls come from a ``Traffic``: arrival instants with each caller's talk, wrap-up and patience (an unanswered
  caller hangs up at their patience), and each agent's absences from the desk. ``make_traffic`` draws a synthetic
  day (Poisson arrivals, lognormal talk and wrap-up, exponential patience); the staffing what-if builds one from a
  real day's calls.
* Agents take a lognormal pick-up time (median ``answer_median_s``), miss a share ``miss_p`` of rings while at the
  desk, and ring out for the full timeout while away without pausing (the classic ring-no-answer).
* ``RunSpec.direct`` set: the shipped dialplan. FastAGI decides (up to CC_MAX_ATTEMPTS Dial attempts, an agent is
  never offered the same call twice, auto-pause after N consecutive no-answers); when nobody is free, or after the
  last attempt, the call waits in the team's Asterisk queue (``RunSpec.queue`` strategy, timeout, retry).
  ``direct`` None: no FastAGI, the call goes straight to Queue() with the ``queue`` strategy.

The Asterisk queue is modelled as app_queue behaves: a waiting caller checks for its turn every second (autofill:
callers ahead that are already ringing a member do not count); on its turn it rings the best free member by the
strategy's metric, freshly computed on every try, so a member who let the call ring out is NOT excluded from the
next try; after a ring-out it waits ``retry`` before the next try. The member choice itself goes through the same
policy code (``RoutingService.route`` with the equivalent strategy: leastrecent = longest-idle, fewestcalls =
fewest-calls, rrmemory = round-robin, ringall = ring-all) with a fresh call id per try, which gives exactly that
"no memory of who rang out" semantics.

Measured per run (``Result``): service level (answered within ``sl_threshold_s`` of arrival, over ALL offered calls,
abandoned ones included), average speed of answer (answered calls, ringing included), abandon rate, P(wait), talk
per agent, rings that went unanswered, and the handling time agents spent (for occupancy).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from callcenter.ami.agi import AgiRequest
from callcenter.ami.channel_vars import AgiRoute, CcAction
from callcenter.events import AgentState, AgentStateChanged, CallAnswered, CallRinging
from callcenter.routing.crm import CachedLookup, CrmMatch
from callcenter.routing.directory import AgentInfo, StaticDirectory
from callcenter.routing.policy import Decision
from callcenter.routing.rules import OwnerRouting, RoutingRules, Strategy, TeamPolicy
from callcenter.routing.service import RoutingService
from callcenter.routing.state import MemoryRoutingStore

SL_THRESHOLD_S = 20.0
TEAM, DID = "sales", "8000"
BASE_S = datetime(2026, 3, 3, 8, 0, tzinfo=UTC).timestamp()  # a Tuesday 08:00 UTC: the load window ("today") is one day
A, R, T, W, P = AgentState.AVAILABLE, AgentState.RINGING, AgentState.TALKING, AgentState.WRAP_UP, AgentState.PAUSED
X = TypeVar("X")


def run_sync(coro: Coroutine[Any, Any, X]) -> X:
    """Run a coroutine that never suspends (memory store, cached CRM) to completion, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the routing coroutine suspended: something in the path awaited real I/O")


# -- traffic ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    agents: int = 12
    hours: float = 8.0
    occupancy: float = 0.80  # offered load / agents
    talk_mean_s: float = 240.0
    talk_sigma: float | None = 0.8  # lognormal sigma; None: exponential
    wrap_mean_s: float = 30.0
    patience_mean_s: float = 120.0  # math.inf: nobody abandons
    answer_median_s: float = 4.0  # 0: pick up at once
    miss_p: float = 0.02  # an agent at the desk lets a ring run out
    wanderers: int = 2  # agents who step away often without pausing
    away: bool = True  # False: nobody ever leaves the desk
    repeat_share: float = 0.4  # calls from customers with an assigned manager (uniform over the agents)
    warmup_s: float = 0.0  # calls arriving before this are simulated but not counted (steady-state checks)
    notice_s: float = 90.0  # an agent at the desk who was auto-paused notices and unpauses after this
    direct_ring_s: int = 20  # FastAGI ring timeout (team and owner)
    max_attempts: int = 3  # CC_MAX_ATTEMPTS
    queue_timeout_s: int = 15  # queues.conf timeout
    queue_retry_s: float = 2.0  # queues.conf retry
    queue_recheck_s: float = 1.0  # app_queue's RECHECK: a waiting caller looks for its turn this often
    sl_threshold_s: float = SL_THRESHOLD_S  # answered within this many seconds of arrival counts towards the SL
    base_s: float = BASE_S  # the wall-clock instant of simulated time 0 (the routing's clock and "today")

    @property
    def aht_s(self) -> float:
        return self.talk_mean_s + self.wrap_mean_s

    @property
    def rate_per_s(self) -> float:
        return self.occupancy * self.agents / self.aht_s


VALIDATION = dict(talk_mean_s=270.0, talk_sigma=None, wrap_mean_s=0.0, patience_mean_s=math.inf, answer_median_s=0.0,
                  miss_p=0.0, wanderers=0, away=False, queue_retry_s=0.0, queue_recheck_s=0.0)


def lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


@dataclass(frozen=True)
class Arrival:
    at: float
    talk: float
    wrap: float
    patience: float
    customer: int  # -1: not a customer with a manager


@dataclass(frozen=True)
class Traffic:
    arrivals: tuple[Arrival, ...]
    away: tuple[tuple[tuple[float, float], ...], ...]  # per agent: (leave, back) intervals
    owners: dict[int, int]  # customer -> agent index


def make_traffic(p: Params, seed: int) -> Traffic:
    rng = random.Random(seed)
    horizon = p.hours * 3600
    customers = max(1, int(p.rate_per_s * horizon * 0.6))
    arrivals = []
    t = 0.0
    while True:
        t += rng.expovariate(p.rate_per_s)
        if t >= horizon:
            break
        talk = lognormal(rng, p.talk_mean_s, p.talk_sigma) if p.talk_sigma else rng.expovariate(1 / p.talk_mean_s)
        wrap = lognormal(rng, p.wrap_mean_s, 0.4) if p.wrap_mean_s > 0 else 0.0
        patience = rng.expovariate(1 / p.patience_mean_s) if math.isfinite(p.patience_mean_s) else math.inf
        repeat = rng.random() < p.repeat_share
        customer = rng.randrange(customers)  # drawn either way: the stream does not depend on repeat_share
        arrivals.append(Arrival(t, talk, wrap, patience, customer if repeat else -1))
    away = []
    for i in range(p.agents):
        present_mean, absent_mean = (40 * 60, 10 * 60) if i < p.wanderers else (3 * 3600, 5 * 60)
        intervals = []
        t = rng.expovariate(1 / present_mean)
        while p.away and t < horizon:
            back = t + rng.expovariate(1 / absent_mean)
            intervals.append((t, back))
            t = back + rng.expovariate(1 / present_mean)
        away.append(tuple(intervals))
    owners = {c: rng.randrange(p.agents) for c in range(customers)}
    return Traffic(tuple(arrivals), tuple(away), owners)


def customer_number(c: int) -> str:
    return f"+1415{c:07d}"


def anonymous_number(i: int) -> str:
    return f"+1646{i:07d}"


class InstantCrm(CachedLookup):
    """The CRM's answer for every number is already cached (this bench is about routing, not the database)."""

    def __init__(self, matches: dict[str, CrmMatch]) -> None:
        async def never(number: str) -> CrmMatch | None:
            raise AssertionError("not called")

        super().__init__(lookup=never)
        self._matches = matches

    def cached(self, number: str) -> tuple[bool, CrmMatch | None]:
        self.hits += 1
        return True, self._matches.get(self.key(number))


# -- one run --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    name: str
    direct: Strategy | None  # FastAGI strategy; None: straight to the Asterisk queue
    queue: Strategy  # the queue's strategy
    pause_after: int = 3  # our auto-pause after N consecutive no-answers (0: off)
    queue_autopause: bool = False  # Asterisk autopause=yes: a member who rings out is paused
    owner: bool = False  # owner routing on


@dataclass
class Agent:
    idx: int
    name: str
    rng: random.Random
    state: AgentState = A
    ring_call: Call | None = None
    talk_s: float = 0.0
    calls: int = 0


@dataclass(eq=False)
class Call:
    idx: int
    arrival: Arrival
    number: str
    attempt: int = 0  # FastAGI attempts so far
    last_status: str | None = None
    ringing: tuple[Agent, ...] = ()
    ring_id: str = ""  # call id the current ring was reserved under
    token: int = 0  # bumps whenever the current ring ends
    in_queue: bool = False
    ready_at: float = 0.0  # queue: when the caller may try again (joined, or retry over)
    check_at: float = -1.0  # queue: time of the pending turn check
    tries: int = 0  # queue tries
    done: bool = False
    answered_at: float | None = None
    answered_by: Agent | None = None


@dataclass
class Result:
    name: str
    calls: int = 0
    answered: int = 0
    within_sl: int = 0
    immediate: int = 0  # answered with no wait (<= 0.5 s): P(wait) = 1 - immediate / calls
    wait_sum: float = 0.0
    talk_by_agent: list[float] = field(default_factory=list)
    manager_calls: int = 0
    manager_answered: int = 0
    pauses: int = 0
    rna: int = 0  # rings that ran out
    decisions: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    per_seed: list[dict[str, float]] = field(default_factory=list)  # each run's sl, p_wait, abandon, asa_s
    busy_s: float = 0.0  # talk + wrap-up of the answered calls counted: agents' handling time
    first_arrival_s: float = math.inf  # first counted arrival and the end of the last handling: the busy span
    last_end_s: float = 0.0
    runs: list[Result] = field(default_factory=list)  # the merged single runs

    @property
    def sl(self) -> float:
        return self.within_sl / self.calls

    @property
    def asa_s(self) -> float:
        return self.wait_sum / self.answered if self.answered else 0.0

    @property
    def abandon(self) -> float:
        return 1 - self.answered / self.calls

    @property
    def p_wait(self) -> float:
        return 1 - self.immediate / self.calls

    @property
    def occupancy(self) -> float | None:
        """Handling time over the agents' time from the first arrival to the end of the last handling (one run)."""
        span, agents = self.last_end_s - self.first_arrival_s, len(self.talk_by_agent)
        return self.busy_s / (agents * span) if agents and span > 0 else None

    def merge(self, r: Result) -> None:
        self.calls += r.calls
        self.answered += r.answered
        self.within_sl += r.within_sl
        self.immediate += r.immediate
        self.wait_sum += r.wait_sum
        self.talk_by_agent = ([x + y for x, y in zip(self.talk_by_agent, r.talk_by_agent, strict=True)]
                              if self.talk_by_agent else list(r.talk_by_agent))
        self.manager_calls += r.manager_calls
        self.manager_answered += r.manager_answered
        self.pauses += r.pauses
        self.rna += r.rna
        self.busy_s += r.busy_s
        self.first_arrival_s = min(self.first_arrival_s, r.first_arrival_s)
        self.last_end_s = max(self.last_end_s, r.last_end_s)
        self.decisions += r.decisions
        self.reasons.update(r.reasons)
        self.per_seed += r.per_seed
        self.runs.append(r)

    def ci95(self, key: str) -> float:
        """Half-width of the 95% confidence interval of the per-seed mean of ``key``."""
        xs = [run[key] for run in self.per_seed]
        return 1.96 * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan


def team_policy(strategy: Strategy, *, p: Params, ring_s: int, pause_after: int, owner: bool) -> TeamPolicy:
    return TeamPolicy(name=TEAM, queue=TEAM, strategy=strategy, ring_timeout_s=ring_s, max_attempts=p.max_attempts,
                      no_answer_pause_after=pause_after,
                      owner=OwnerRouting(enabled=owner, ring_timeout_s=p.direct_ring_s))


class Sim:
    def __init__(self, *, p: Params, traffic: Traffic, spec: RunSpec, seed: int) -> None:
        self.p, self.traffic, self.spec = p, traffic, spec
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.agents = [Agent(i, f"{1001 + i}", random.Random(seed * 1000 + i)) for i in range(p.agents)]
        self.by_name = {a.name: a for a in self.agents}
        self.waiting: list[Call] = []  # the Asterisk queue, FIFO
        self.result = Result(spec.name)
        self.store = MemoryRoutingStore()
        directory = StaticDirectory(AgentInfo(agent=a.name, team=TEAM, user_id=100 + a.idx) for a in self.agents)
        matches = {
            customer_number(c): CrmMatch(entity="contact", record_id=c + 1, e164=customer_number(c),
                                         responsible_user_id=100 + owner)
            for c, owner in traffic.owners.items()
        } if p.repeat_share > 0 else {}

        def clock() -> float:
            return p.base_s + self.now

        self.fastagi: RoutingService | None = None
        if spec.direct is not None:
            team = team_policy(spec.direct, p=p, ring_s=p.direct_ring_s, pause_after=spec.pause_after,
                               owner=spec.owner)
            self.fastagi = RoutingService(rules=RoutingRules(teams={TEAM: team}, default_team=TEAM), store=self.store,
                                          directory=directory, lookup=InstantCrm(matches), clock=clock)
        # The Asterisk queue's member choice, through the same code (no owner, no auto-pause, fresh call id per try).
        qteam = team_policy(spec.queue, p=p, ring_s=p.queue_timeout_s, pause_after=0, owner=False)
        self.queue = RoutingService(rules=RoutingRules(teams={TEAM: qteam}, default_team=TEAM), store=self.store,
                                    directory=directory, lookup=None, clock=clock)
        for a in self.agents:
            run_sync(self.store.apply(AgentStateChanged(agent=a.name, at_s=p.base_s, state=A, previous=None)))

    # -- plumbing -------------------------------------------------------------------------------------------------

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, fn, args))

    def present(self, agent: Agent) -> bool:
        return not any(leave <= self.now < back for leave, back in self.traffic.away[agent.idx])

    def back_at(self, agent: Agent) -> float:
        for leave, back in self.traffic.away[agent.idx]:
            if leave <= self.now < back:
                return back
        return self.now + self.p.notice_s

    def set_state(self, agent: Agent, state: AgentState, reason: str | None = None) -> None:
        previous, agent.state = agent.state, state
        run_sync(self.store.apply(AgentStateChanged(agent=agent.name, at_s=self.p.base_s + self.now, state=state,
                                                    previous=previous, reason=reason)))
        if state is A:
            self.kick()

    def pause(self, agent: Agent, reason: str) -> None:
        if agent.state is A:
            self.result.pauses += 1
            self.set_state(agent, P, reason)
            self.at(self.back_at(agent), self.on_unpause, agent)

    def request(self, call: Call, *, call_id: str, attempt: int, status: str | None) -> AgiRequest:
        return AgiRequest(route=AgiRoute.INBOUND, channel=f"PJSIP/trunk-{call.idx:08x}", uniqueid=f"{call.idx}.0",
                          linkedid=call_id, callerid_num=call.number, callerid_name=None, dnid=DID, extension=DID,
                          context="cc-inbound", attempt=attempt, last_dial_status=status,
                          args=(str(attempt), status or "NONE", call_id))

    def ring(self, call: Call, decision: Decision, ring_s: int, call_id: str) -> None:
        call.ringing = tuple(self.by_name[n] for n in decision.targets)
        call.ring_id = call_id
        for agent in call.ringing:
            assert agent.state is A, (self.spec.name, agent, decision)
            agent.ring_call = call
            self.set_state(agent, R)
            run_sync(self.store.apply(CallRinging(call_id=call_id, at_s=self.p.base_s + self.now, agent=agent.name,
                                                  queue=None if call_id.isdigit() else TEAM)))
            median = self.p.answer_median_s
            delay = lognormal(agent.rng, median * math.exp(0.125), 0.5) if median else 0.0  # mean from the median
            misses = agent.rng.random() < self.p.miss_p
            if not misses and delay < ring_s and self.present(agent):
                self.at(self.now + delay, self.on_answer, call, agent, call.token)
        self.at(self.now + ring_s, self.on_ring_out, call, call.token)

    def stop_ringing(self, call: Call, keep: Agent | None = None) -> list[Agent]:
        rung = list(call.ringing)
        call.ringing = ()
        call.token += 1
        for agent in rung:
            if agent is not keep and agent.ring_call is call:
                agent.ring_call = None
                self.set_state(agent, A)
        return rung

    # -- FastAGI (ours) -------------------------------------------------------------------------------------------

    def fastagi_attempt(self, call: Call) -> None:
        assert self.fastagi is not None
        call.attempt += 1
        decision = run_sync(self.fastagi.route(
            self.request(call, call_id=str(call.idx), attempt=call.attempt, status=call.last_status)))
        self.result.decisions += 1
        self.result.reasons[decision.reason] += 1
        for effect in decision.side_effects:  # the service would send QueuePause over AMI
            self.pause(self.by_name[effect.agent], effect.reason)
        if decision.action is CcAction.DIAL:
            assert decision.ring_timeout_s is not None
            self.ring(call, decision, decision.ring_timeout_s, str(call.idx))
        else:
            assert decision.action is CcAction.QUEUE, decision
            self.join_queue(call)

    # -- Asterisk queue --------------------------------------------------------------------------------------------

    def join_queue(self, call: Call) -> None:
        call.in_queue = True
        call.ready_at = self.now
        self.waiting.append(call)
        self.schedule_check(call)

    def schedule_check(self, call: Call) -> None:
        """The caller's next turn check at or after now (checks every RECHECK from ``ready_at``)."""
        t = max(self.now, call.ready_at)
        step = self.p.queue_recheck_s
        if step > 0 and t > call.ready_at:
            t = call.ready_at + math.ceil((t - call.ready_at) / step - 1e-9) * step
        if call.check_at >= self.now and call.check_at <= t:
            return  # one is already due by then
        call.check_at = t
        self.at(t, self.on_check, call)

    def free_count(self) -> int:
        return sum(1 for a in self.agents if a.state is A)

    def kick(self) -> None:
        """Something changed (a member became free, a caller started ringing): the callers that may now have a turn
        look at their next check."""
        if not self.waiting:
            return
        free = self.free_count()
        if not free:
            return
        for call in self.waiting:  # as is_our_turn: every caller ahead that is not ringing takes a free member
            if free <= 0:
                break
            if call.ringing or call.done:
                continue
            free -= 1
            if call.ready_at <= self.now:
                self.schedule_check(call)  # else its check at ready_at is already due

    def on_check(self, call: Call) -> None:
        if call.done or call.ringing or call.check_at != self.now:
            return
        call.check_at = -1.0
        if call.ready_at > self.now:
            return
        free = self.free_count()
        ahead = 0
        for other in self.waiting:  # autofill: callers ahead that are ringing someone already do not count
            if other is call:
                break
            if not other.ringing:
                ahead += 1
        if ahead >= free:
            return  # not our turn; a member becoming free kicks us again
        call.tries += 1
        call_id = f"{call.idx}.q{call.tries}"  # app_queue keeps no memory of who rang out: a fresh call per try
        decision = run_sync(self.queue.route(self.request(call, call_id=call_id, attempt=1, status=None)))
        self.result.decisions += 1
        if decision.action is CcAction.DIAL:
            self.ring(call, decision, self.p.queue_timeout_s, call_id)
            self.kick()  # callers behind us may have a turn now
        else:
            call.ready_at = self.now + max(self.p.queue_retry_s, 0.001)
            self.schedule_check(call)

    # -- events ---------------------------------------------------------------------------------------------------

    def on_arrive(self, call: Call) -> None:
        if self.fastagi is None:
            self.join_queue(call)
        else:
            self.fastagi_attempt(call)

    def on_answer(self, call: Call, agent: Agent, token: int) -> None:
        if call.done or token != call.token or agent.ring_call is not call:
            return
        ring_id = call.ring_id
        call.done, call.answered_at, call.answered_by = True, self.now, agent
        if call.in_queue:
            self.waiting.remove(call)
        self.stop_ringing(call, keep=agent)
        agent.ring_call = None
        agent.calls += 1
        agent.talk_s += call.arrival.talk
        run_sync(self.store.apply(CallAnswered(call_id=ring_id, at_s=self.p.base_s + self.now, agent=agent.name,
                                               queue=None if ring_id.isdigit() else TEAM,
                                               wait_s=self.now - call.arrival.at)))
        self.set_state(agent, T)
        self.at(self.now + call.arrival.talk, self.on_talk_end, agent, call)

    def on_ring_out(self, call: Call, token: int) -> None:
        if call.done or token != call.token:
            return
        rung = self.stop_ringing(call)
        self.result.rna += len(rung)
        if call.in_queue:
            if self.spec.queue_autopause:
                for agent in rung:
                    self.pause(agent, "autopause")
            call.ready_at = self.now + self.p.queue_retry_s
            self.schedule_check(call)
            return
        call.last_status = "NOANSWER"
        if call.attempt < self.p.max_attempts:
            self.fastagi_attempt(call)  # the dialplan asks FastAGI again at once
        else:
            self.join_queue(call)  # overflow: Queue(CC_QUEUE)

    def on_abandon(self, call: Call) -> None:
        if call.done:
            return
        call.done = True
        if call.in_queue:
            self.waiting.remove(call)
        self.stop_ringing(call)

    def on_talk_end(self, agent: Agent, call: Call) -> None:
        if call.arrival.wrap > 0:
            self.set_state(agent, W)
            self.at(self.now + call.arrival.wrap, self.on_wrap_end, agent)
        else:
            self.set_state(agent, A)

    def on_wrap_end(self, agent: Agent) -> None:
        self.set_state(agent, A)

    def on_unpause(self, agent: Agent) -> None:
        if agent.state is P:
            self.set_state(agent, A)

    # -- run ------------------------------------------------------------------------------------------------------

    def run(self) -> Result:
        calls = []
        for i, arrival in enumerate(self.traffic.arrivals):
            number = customer_number(arrival.customer) if arrival.customer >= 0 else anonymous_number(i)
            call = Call(i, arrival, number)
            calls.append(call)
            self.at(arrival.at, self.on_arrive, call)
            if math.isfinite(arrival.patience):
                self.at(arrival.at + arrival.patience, self.on_abandon, call)
        while self.events:
            self.now, _, fn, args = heapq.heappop(self.events)
            fn(*args)
        r = self.result
        calls = [c for c in calls if c.arrival.at >= self.p.warmup_s]
        r.calls = len(calls)
        r.talk_by_agent = [a.talk_s for a in self.agents]
        for call in calls:
            if call.answered_at is None:
                continue
            wait = call.answered_at - call.arrival.at
            r.answered += 1
            r.wait_sum += wait
            r.within_sl += wait <= self.p.sl_threshold_s
            r.immediate += wait <= 0.5
            r.busy_s += call.arrival.talk + call.arrival.wrap
            r.last_end_s = max(r.last_end_s, call.answered_at + call.arrival.talk + call.arrival.wrap)
        if calls:
            r.first_arrival_s = min(c.arrival.at for c in calls)
        for call in calls:
            if call.arrival.customer >= 0:
                r.manager_calls += 1
                owner = self.agents[self.traffic.owners[call.arrival.customer]]
                r.manager_answered += call.answered_by is owner
        r.per_seed = [{"sl": r.sl, "p_wait": r.p_wait, "abandon": r.abandon, "asa_s": r.asa_s}]
        return r


def simulate(p: Params, seeds: Sequence[int], specs: Sequence[RunSpec]) -> dict[str, Result]:
    merged: dict[str, Result] = {}
    for seed in seeds:
        traffic = make_traffic(p, seed)
        for spec in specs:
            r = Sim(p=p, traffic=traffic, spec=spec, seed=seed).run()
            merged.setdefault(spec.name, Result(spec.name)).merge(r)
    return merged
