"""Seeded discrete-event simulation of a contact-center day, driving the REAL routing code.

What runs is the production path, not a reimplementation: every FastAGI decision is ``RoutingService.route`` (the
DID's team, the CRM facts, ``MemoryRoutingStore.snapshot``, ``note_no_answer``, ``plan_route``, the atomic
``reserve``), and the store follows the same domain events it follows in production (AgentStateChanged,
CallRinging, CallAnswered). The coroutines never suspend (memory store, CRM facts answered from the cache), so they
are stepped synchronously with ``coro.send(None)``: no event loop, no wall clock; the service's clock is the
simulation's.

The simulation plays the PBX and the people:

* Calls arrive as a Poisson process; talk times are lognormal (mean 240 s, sigma 0.8: long right tail), wrap-up
  lognormal (mean 30 s), caller patience exponential (mean 120 s). An unanswered caller hangs up at their patience.
* Agents take a lognormal ~4 s to pick up, miss 2% of rings while at the desk, and step away from the desk without
  pausing now and then (two "wanderers" often, everybody sometimes): while away, a ring goes unanswered for its full
  timeout (the classic ring-no-answer).
* "ours": the shipped dialplan. FastAGI decides (up to CC_MAX_ATTEMPTS=3 Dial attempts of 20 s, an agent is never
  offered the same call twice, auto-pause after 3 consecutive no-answers); when nobody is free, or after the last
  attempt, the call waits in the team's Asterisk queue as shipped in dialplans/queues.conf (strategy leastrecent,
  timeout 15 s, retry 2 s, autopause off).
* "asterisk X": no FastAGI, the call goes straight to Queue() with strategy X (ringall, leastrecent, fewestcalls,
  rrmemory), timeout 15 s, retry 2 s, autopause=no (Asterisk's default; one extra row with autopause=yes).

The Asterisk queue is modelled as app_queue behaves: a waiting caller checks for its turn every second (autofill:
callers ahead that are already ringing a member do not count); on its turn it rings the best free member by the
strategy's metric, freshly computed on every try, so a member who let the call ring out is NOT excluded from the
next try (leastrecent and fewestcalls ring the same absent member again and again; rrmemory moves on); after a
ring-out it waits ``retry`` before the next try. The member choice itself goes through the same policy code
(``RoutingService.route`` with the equivalent strategy: leastrecent = longest-idle, fewestcalls = fewest-calls,
rrmemory = round-robin, ringall = ring-all) with a fresh call id per try, which gives exactly that "no memory of
who rang out" semantics.

Every strategy sees identical traffic per seed (arrivals, talk/wrap/patience, absences; each agent's pick-up delay
and miss draws come from the agent's own seeded stream). Measured: service level (answered within 20 s of
arrival, over ALL offered calls, abandoned ones included), average speed of answer (answered calls, ringing
included), abandon rate, fairness of talk time across agents (max/min, Gini) and rings that went unanswered.

Checks: (1) a validation scenario built to satisfy Erlang C's assumptions (exponential handling time, no wrap-up,
no abandonment, instant pick-up, nobody away, queue reacting at once) must reproduce Erlang C's P(wait), SL and
ASA for every strategy, within noise (all work-conserving strategies are the same M/M/c queue); (2) the realistic
scenario is then compared with Erlang C for the same staffing and offered load, and the gap is explained by what
Erlang C leaves out (abandonment helps, ringing time, absences and ring-outs hurt).

Owner routing: a second traffic mix where 40% of calls come from customers with an assigned manager (uniform over
the agents); ours with owner routing on vs off, on the same traffic: share of those calls answered by their
manager, and the service level it costs.

Prints tables, then ONE JSON line. Usage: python bench/routing_sim.py [--seeds 5] [--agents 12] [--hours 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.ami.agi import AgiRequest  # noqa: E402
from callcenter.ami.channel_vars import AgiRoute, CcAction  # noqa: E402
from callcenter.events import AgentState, AgentStateChanged, CallAnswered, CallRinging  # noqa: E402
from callcenter.routing.crm import CachedLookup, CrmMatch  # noqa: E402
from callcenter.routing.directory import AgentInfo, StaticDirectory  # noqa: E402
from callcenter.routing.policy import Decision  # noqa: E402
from callcenter.routing.rules import OwnerRouting, RoutingRules, Strategy, TeamPolicy  # noqa: E402
from callcenter.routing.service import RoutingService  # noqa: E402
from callcenter.routing.state import MemoryRoutingStore  # noqa: E402

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
            return BASE_S + self.now

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
            run_sync(self.store.apply(AgentStateChanged(agent=a.name, at_s=BASE_S, state=A, previous=None)))

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
        run_sync(self.store.apply(AgentStateChanged(agent=agent.name, at_s=BASE_S + self.now, state=state,
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
            run_sync(self.store.apply(CallRinging(call_id=call_id, at_s=BASE_S + self.now, agent=agent.name,
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
        run_sync(self.store.apply(CallAnswered(call_id=ring_id, at_s=BASE_S + self.now, agent=agent.name,
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
            r.within_sl += wait <= SL_THRESHOLD_S
            r.immediate += wait <= 0.5
        for call in calls:
            if call.arrival.customer >= 0:
                r.manager_calls += 1
                owner = self.agents[self.traffic.owners[call.arrival.customer]]
                r.manager_answered += call.answered_by is owner
        r.per_seed = [{"sl": r.sl, "p_wait": r.p_wait, "abandon": r.abandon, "asa_s": r.asa_s}]
        return r


# -- reporting --------------------------------------------------------------------------------------------------


def gini(values: Sequence[float]) -> float:
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    cum = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * cum) / (n * total) - (n + 1) / n


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits in an M/M/c queue with ``load`` Erlang offered to ``agents`` servers."""
    if load >= agents:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= load / k
        total += term
    last = term * load / agents * agents / (agents - load)
    return last / (total + last)


def erlang_c_figures(p: Params) -> dict[str, float]:
    load = p.rate_per_s * p.aht_s
    pw = erlang_c(p.agents, load)
    return {
        "load_erlang": round(load, 3),
        "p_wait": pw,
        "sl": 1 - pw * math.exp(-(p.agents - load) * SL_THRESHOLD_S / p.aht_s),
        "asa_s": pw * p.aht_s / (p.agents - load),
    }


def erlang_a_figures(p: Params, *, cap: int = 200, dt: float = 0.005) -> dict[str, float]:
    """M/M/c+M (Erlang A: exponential patience) by its birth-death chain: P(wait), abandon rate and SL.

    SL: an arrival that finds j callers waiting ahead is served after j+1 "moves" (a service completion, rate c*mu,
    or the abandonment of one of the i callers still ahead, rate i*theta) unless it abandons first (rate theta);
    P(served within the SL threshold) is integrated over the states it can find (PASTA)."""
    c, lam, mu, theta = p.agents, p.rate_per_s, 1 / p.aht_s, 1 / p.patience_mean_s
    weights = [1.0]
    for n in range(1, cap):
        weights.append(weights[-1] * lam / (min(n, c) * mu + max(0, n - c) * theta))
    total = sum(weights)
    pi = [w / total for w in weights]
    waiting = cap - c
    u = [0.0] * waiting  # u[j]: P(served within t | j waiting ahead on arrival), by forward Euler on t
    for _ in range(int(SL_THRESHOLD_S / dt)):
        prev = u
        u = [prev[j] + dt * ((c * mu + j * theta) * ((prev[j - 1] if j else 1.0) - prev[j]) - theta * prev[j])
             for j in range(waiting)]
    return {
        "p_wait": sum(pi[c:]),
        "abandon": theta * sum((n - c) * pi[n] for n in range(c, cap)) / lam,
        "sl": sum(pi[:c]) + sum(pi[c + j] * u[j] for j in range(waiting)),
    }


def fifo_reference(arrivals: Sequence[Arrival], agents: int, warmup_s: float) -> tuple[int, int, int, int, float]:
    """The textbook FIFO c-server queue on the same arrivals, by the recursion "start = max(arrival, earliest free
    server)" (a caller whose patience ends first leaves without taking a server). Independent of the routing code:
    with instant pick-up it must give exactly the simulation's figures. (calls, immediate, within SL, abandoned,
    wait sum of the answered)."""
    free_at = [0.0] * agents
    calls = immediate = within = abandoned = 0
    wait_sum = 0.0
    for a in arrivals:
        start = max(a.at, free_at[0])
        counted = a.at >= warmup_s
        calls += counted
        if start - a.at > a.patience:
            abandoned += counted
            continue
        heapq.heapreplace(free_at, start + a.talk + a.wrap)
        if counted:
            wait = start - a.at
            immediate += wait <= 0.5
            within += wait <= SL_THRESHOLD_S
            wait_sum += wait
    return calls, immediate, within, abandoned, wait_sum


def reference_figures(p: Params, seeds: Sequence[int]) -> dict[str, float]:
    calls = immediate = within = abandoned = 0
    wait_sum = 0.0
    for seed in seeds:
        c, i, w, a, ws = fifo_reference(make_traffic(p, seed).arrivals, p.agents, p.warmup_s)
        calls, immediate, within, abandoned = calls + c, immediate + i, within + w, abandoned + a
        wait_sum += ws
    return {"p_wait": 1 - immediate / calls, "sl": within / calls, "asa_s": wait_sum / (calls - abandoned),
            "abandon": abandoned / calls, "calls": calls}


def simulate(p: Params, seeds: Sequence[int], specs: Sequence[RunSpec]) -> dict[str, Result]:
    merged: dict[str, Result] = {}
    for seed in seeds:
        traffic = make_traffic(p, seed)
        for spec in specs:
            r = Sim(p=p, traffic=traffic, spec=spec, seed=seed).run()
            merged.setdefault(spec.name, Result(spec.name)).merge(r)
    return merged


def paired_sl_points(a: Result, b: Result) -> tuple[float, float]:
    """SL of ``b`` minus SL of ``a`` in points, per seed on the same traffic: (mean, 95% CI half-width)."""
    diffs = [100 * (y["sl"] - x["sl"]) for x, y in zip(a.per_seed, b.per_seed, strict=True)]
    ci = 1.96 * statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    return statistics.fmean(diffs), ci


def fairness(r: Result) -> tuple[float, float]:
    talk = r.talk_by_agent
    return (max(talk) / min(talk) if min(talk) > 0 else math.inf), gini(talk)


def figures(r: Result) -> dict[str, float]:
    ratio, g = fairness(r)
    return {"sl": round(r.sl, 4), "asa_s": round(r.asa_s, 2), "abandon": round(r.abandon, 4),
            "talk_max_min": round(ratio, 3), "gini": round(g, 4), "rna_per_100": round(100 * r.rna / r.calls, 2),
            "pauses": r.pauses}


OURS = "ours least-loaded"
OWNER_ON = "ours least-loaded, owner routing on"
ASTERISK = {
    "asterisk ringall": Strategy.RING_ALL,
    "asterisk leastrecent": Strategy.LONGEST_IDLE,
    "asterisk fewestcalls": Strategy.FEWEST_CALLS,
    "asterisk rrmemory": Strategy.ROUND_ROBIN,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--occupancy", type=float, default=0.80)
    ap.add_argument("--validation-seeds", type=int, default=10)
    ap.add_argument("--reference-seeds", type=int, default=400, help="textbook FIFO recursion (cheap)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    seeds = list(range(1, args.seeds + 1))
    base = Params(agents=args.agents, hours=args.hours, occupancy=args.occupancy)

    # 1. validation: with Erlang C's (then Erlang A's) own assumptions, the simulation must land on the formula.
    #    Steady state: 1 h warm-up from the empty start, then 8 h counted, per seed.
    vc = dataclasses.replace(base, **VALIDATION, hours=9.0, warmup_s=3600.0)  # type: ignore[arg-type]
    va = dataclasses.replace(vc, patience_mean_s=base.patience_mean_s)
    vseeds = list(range(101, 101 + args.validation_seeds))
    ref_seeds = list(range(10_001, 10_001 + args.reference_seeds))
    every = [RunSpec(OURS, Strategy.LEAST_LOADED, Strategy.LONGEST_IDLE)]
    every += [RunSpec(name, None, s) for name, s in ASTERISK.items()]
    same = simulate(vc, vseeds[:1], every)  # every strategy: the same M/M/c queue, so identical figures
    identical = len({(r.immediate, r.within_sl, round(r.wait_sum, 6)) for r in same.values()}) == 1
    mmc = simulate(vc, vseeds, every[:1])[OURS]
    mmcm = simulate(va, vseeds, every[:1])[OURS]
    # the routing simulation against the textbook recursion on the very same traffic: must be equal, call for call
    exact = all(
        fifo_reference(make_traffic(v, seed).arrivals, v.agents, v.warmup_s)[:4]
        == (run.calls, run.immediate, run.within_sl, run.calls - run.answered)
        for v, r in ((vc, mmc), (va, mmcm)) for seed, run in zip(vseeds, r.runs, strict=True)
    )
    ref_c, ref_a = reference_figures(vc, ref_seeds), reference_figures(va, ref_seeds)
    ec_v, ea_v = erlang_c_figures(vc), erlang_a_figures(va)
    print(f"validation: {vc.agents} agents, exponential handling time {vc.aht_s:.0f} s (no wrap-up), offered "
          f"{ec_v['load_erlang']:.2f} Erlang, instant pick-up, no misses, nobody away, queue reacts at once; "
          f"per seed 8 h counted after a 1 h warm-up; +-: 95% CI over seeds")
    print(f"  all 5 strategies on seed {vseeds[0]}: identical figures = {identical} (P(wait) {same[OURS].p_wait:.1%}, "
          f"SL20 {same[OURS].sl:.1%}); routing sim == textbook FIFO recursion, call for call, on all "
          f"{len(vseeds)} seeds x 2 = {exact}")
    print(f"  {'':46} {'P(wait)':>14} {'SL20':>14} {'ASA s':>13} {'aband':>13}")

    def row(label: str, r: Result | dict[str, float], *, ab: bool) -> None:
        if isinstance(r, Result):
            cells = [f"{r.p_wait:7.1%} +-{r.ci95('p_wait'):4.1%}", f"{r.sl:7.1%} +-{r.ci95('sl'):4.1%}",
                     f"{r.asa_s:6.1f} +-{r.ci95('asa_s'):4.1f}",
                     f"{r.abandon:6.1%} +-{r.ci95('abandon'):4.1%}" if ab else "-"]
        else:
            cells = [f"{r['p_wait']:.1%}", f"{r['sl']:.1%}", f"{r['asa_s']:.1f}" if "asa_s" in r else "",
                     f"{r['abandon']:.1%}" if ab else "-"]
        print(f"  {label:46} {cells[0]:>14} {cells[1]:>14} {cells[2]:>13} {cells[3]:>13}")

    row(f"routing sim, {len(vseeds)} seeds ({mmc.calls} calls)", mmc, ab=False)
    row(f"textbook FIFO, {len(ref_seeds)} seeds ({ref_c['calls']:.0f} calls)", ref_c, ab=False)
    row("Erlang C", ec_v, ab=False)
    row(f"routing sim + exp. patience {va.patience_mean_s:.0f} s", mmcm, ab=True)
    row(f"textbook FIFO + patience, {len(ref_seeds)} seeds", ref_a, ab=True)
    row("Erlang A (M/M/c+M)", ea_v, ab=True)

    # 2. the realistic day, identical traffic for every strategy
    specs = [
        RunSpec(OURS, Strategy.LEAST_LOADED, Strategy.LONGEST_IDLE, pause_after=3),
        RunSpec("ours least-loaded, no auto-pause", Strategy.LEAST_LOADED, Strategy.LONGEST_IDLE, pause_after=0),
        *(RunSpec(name, None, s) for name, s in ASTERISK.items()),
        RunSpec("asterisk leastrecent, autopause=yes", None, Strategy.LONGEST_IDLE, queue_autopause=True),
        RunSpec(OWNER_ON, Strategy.LEAST_LOADED, Strategy.LONGEST_IDLE, pause_after=3, owner=True),
    ]
    res = simulate(base, seeds, specs)
    ec, ea = erlang_c_figures(base), erlang_a_figures(base)
    o, on = res[OURS], res[OWNER_ON]
    print()
    print(f"realistic day: {base.agents} agents ({base.wanderers} often away without pausing), {base.hours:g} h x "
          f"{len(seeds)} seeds from an empty start, {o.calls} calls per strategy, offered {ec['load_erlang']:.2f} "
          f"Erlang ({base.occupancy:.0%}), AHT {base.aht_s:.0f} s (lognormal talk {base.talk_mean_s:.0f} s + wrap-up "
          f"{base.wrap_mean_s:.0f} s), patience exp. mean {base.patience_mean_s:.0f} s; owner routing off unless said")
    print(f"{'strategy':40} {'SL20':>6} {'ASA s':>6} {'aband':>6} {'talk max/min':>12} {'Gini':>6} "
          f"{'RNA/100':>7} {'pauses':>6} {'SL - ours (paired)':>19}")
    for r in res.values():
        if r.name == OWNER_ON:
            continue
        ratio, g = fairness(r)
        d, ci = paired_sl_points(o, r)
        delta = f"{d:+6.1f} +- {ci:3.1f} pt" if r is not o else ""
        print(f"{r.name:40} {r.sl:6.1%} {r.asa_s:6.1f} {r.abandon:6.1%} {ratio:12.2f} {g:6.3f} "
              f"{100 * r.rna / r.calls:7.1f} {r.pauses:6d} {delta:>19}")
    print(f"{'Erlang C (same staffing and load)':40} {ec['sl']:6.1%} {ec['asa_s']:6.1f} {'-':>6}   P(wait) "
          f"{ec['p_wait']:.1%}")
    print(f"{'Erlang A (+ the same patience)':40} {ea['sl']:6.1%} {'':>6} {ea['abandon']:6.1%}   P(wait) "
          f"{ea['p_wait']:.1%}")
    print(f"SL20 95% CI half-width over the {len(seeds)} seeds: +-{o.ci95('sl'):.1%} (ours); the last column: SL "
          "difference to ours per seed on the same traffic, mean +- 95% CI")
    print("RNA/100: rings that ran out per 100 calls. ours, decision reasons:",
          ", ".join(f"{k}={v}" for k, v in o.reasons.most_common()))

    # 3. owner routing: the same day, owner routing on vs off
    print()
    print(f"owner routing: {base.repeat_share:.0%} of calls come from customers with an assigned manager (uniform over "
          "the agents); same traffic")
    print(f"{'run':40} {'SL20':>6} {'ASA s':>6} {'aband':>6} {'to manager':>10} {'Gini':>6} {'RNA/100':>7}")
    for label, r in (("ours, owner routing off", o), ("ours, owner routing on", on)):
        print(f"{label:40} {r.sl:6.1%} {r.asa_s:6.1f} {r.abandon:6.1%} "
              f"{r.manager_answered / max(1, r.manager_calls):10.1%} {fairness(r)[1]:6.3f} "
              f"{100 * r.rna / r.calls:7.1f}")
    paired = [b["sl"] - a["sl"] for a, b in zip(o.per_seed, on.per_seed, strict=True)]
    paired_ci = 1.96 * statistics.stdev(paired) / math.sqrt(len(paired)) if len(paired) > 1 else math.nan
    print(f"SL cost of owner routing: {(o.sl - on.sl) * 100:+.1f} points (paired per seed: "
          f"{-statistics.fmean(paired) * 100:+.1f} +- {paired_ci * 100:.1f})")
    owner_reasons = {k: v for k, v in on.reasons.items() if k.startswith("owner")}
    print("owner-routing reasons:", ", ".join(f"{k}={v}" for k, v in sorted(owner_reasons.items())))

    elapsed = time.perf_counter() - started
    decisions = sum(r.decisions for group in (same, res) for r in group.values()) + mmc.decisions + mmcm.decisions
    print(f"{decisions} routing decisions (RoutingService.route + MemoryRoutingStore) in {elapsed:.1f} s")

    default_asterisk = {k: res[k] for k in ASTERISK}
    best_name, best = max(default_asterisk.items(), key=lambda kv: (kv[1].sl, -kv[1].asa_s))

    def rnd(d: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 4) for k, v in d.items()}

    print(json.dumps({
        "bench": "routing_sim",
        "seeds": len(seeds),
        "agents": base.agents,
        "hours": base.hours,
        "occupancy": base.occupancy,
        "calls_per_strategy": o.calls,
        "validation": {
            "seeds": len(vseeds),
            "calls": mmc.calls,
            "all_strategies_identical": identical,
            "routing_sim_equals_fifo_recursion": exact,
            "reference_seeds": len(ref_seeds),
            "reference_no_abandonment": rnd(ref_c),
            "reference_abandonment": rnd(ref_a),
            "no_abandonment": {"sim": {"p_wait": round(mmc.p_wait, 4), "sl": round(mmc.sl, 4),
                                       "asa_s": round(mmc.asa_s, 2), "sl_ci95": round(mmc.ci95("sl"), 4)},
                               "erlang_c": rnd(ec_v)},
            "abandonment": {"sim": {"p_wait": round(mmcm.p_wait, 4), "sl": round(mmcm.sl, 4),
                                    "abandon": round(mmcm.abandon, 4), "sl_ci95": round(mmcm.ci95("sl"), 4)},
                            "erlang_a": rnd(ea_v)},
        },
        "ours": figures(o),
        "ours_no_autopause": figures(res["ours least-loaded, no auto-pause"]),
        "asterisk": {k.removeprefix("asterisk "): figures(v) for k, v in res.items() if k.startswith("asterisk")},
        "best_asterisk_by_sl": best_name.removeprefix("asterisk "),
        "sl_points_ours_minus_best_asterisk": round((o.sl - best.sl) * 100, 2),
        "sl_points_vs_ours_paired": {k.removeprefix("asterisk "): [round(x, 2) for x in paired_sl_points(o, v)]
                                     for k, v in res.items() if k != OURS},
        "erlang_c": rnd(ec),
        "erlang_a": rnd(ea),
        "owner_routing": {
            "repeat_share": base.repeat_share,
            "to_manager_on": round(on.manager_answered / max(1, on.manager_calls), 4),
            "to_manager_off": round(o.manager_answered / max(1, o.manager_calls), 4),
            "sl_on": round(on.sl, 4),
            "sl_off": round(o.sl, 4),
            "sl_cost_points": round((o.sl - on.sl) * 100, 2),
            "asa_on_s": round(on.asa_s, 2),
            "asa_off_s": round(o.asa_s, 2),
            "gini_on": round(fairness(on)[1], 4),
        },
        "decisions": decisions,
        "elapsed_s": round(elapsed, 1),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
