"""Seeded discrete-event simulation of a contact-center day, driving the REAL routing policy (plan_route).

Every strategy sees identical traffic per seed: the same arrivals (Poisson), talk and wrap-up times (lognormal),
caller patience (exponential) and agent absences. Per run we measure service level (answered within 20 s of
arrival, over all calls), average speed of answer, abandon rate and fairness of talk time across agents (max/min,
Gini), and compare with the Erlang C prediction for the same staffing (which knows nothing of ringing, no-answers,
absences or abandonment).

Agents are people: they take a few seconds to pick up, now and then miss a call, and some step away from the desk
without pausing (the classic cause of ring-no-answer). While away, a ring goes unanswered for the full ring
timeout. Our policy tries an agent whose last offer rang out after the others and auto-pauses after 3 consecutive
no-answers (the agent unpauses on return); Asterisk's queue default is autopause=no, so its strategies keep
ringing the absent agent (one extra row shows autopause=yes, which pauses on the first no-answer).

The Asterisk strategies are run through the same policy code with the equivalent selection rule (ringall = ring
every free agent, leastrecent = longest since last call, fewestcalls = fewest answered calls, rrmemory = round
robin after the last one offered), so the comparison isolates the rule, not the plumbing. Calls that find nobody
free wait in one FIFO queue and are offered to the next free agent by the same rule (queues.conf set alike).

Owner routing: a second traffic mix where a share of calls come from customers with an assigned manager; we run
ours with and without owner routing and report the share of those calls answered by their manager and the
service level it costs.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.ami.channel_vars import CcAction  # noqa: E402
from callcenter.events import AgentState  # noqa: E402
from callcenter.routing.policy import AgentView, CallerFacts, CallFacts, Plan, plan_route  # noqa: E402
from callcenter.routing.rules import OwnerRouting, Strategy, TeamPolicy  # noqa: E402

SL_THRESHOLD_S = 20.0
DIRECT_RING_S = 20  # FastAGI ring timeout (team and owner)
QUEUE_RING_S = 15  # queues.conf timeout
A, T, W, P, R = AgentState.AVAILABLE, AgentState.TALKING, AgentState.WRAP_UP, AgentState.PAUSED, AgentState.RINGING


@dataclass(frozen=True)
class Traffic:
    arrivals: tuple[tuple[float, float, float, float, int], ...]  # (at, talk, wrap, patience, customer or -1)
    away: tuple[tuple[tuple[float, float], ...], ...]  # per agent: (leave, back) intervals
    owners: dict[int, int]  # customer -> agent index


@dataclass(frozen=True)
class Params:
    agents: int = 12
    hours: float = 8.0
    occupancy: float = 0.80  # offered load / agents
    talk_mean_s: float = 240.0
    talk_sigma: float = 0.8
    wrap_mean_s: float = 30.0
    patience_mean_s: float = 120.0
    answer_median_s: float = 4.0
    miss_p: float = 0.02  # a present agent lets a call ring out
    wanderers: int = 2  # agents who step away often without pausing
    repeat_share: float = 0.0  # calls from customers with an assigned manager
    notice_s: float = 90.0  # a present agent auto-paused by a miss notices and unpauses after this

    @property
    def aht_s(self) -> float:
        return self.talk_mean_s + self.wrap_mean_s

    @property
    def rate_per_s(self) -> float:
        return self.occupancy * self.agents / self.aht_s


def lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def make_traffic(p: Params, seed: int) -> Traffic:
    rng = random.Random(seed)
    horizon = p.hours * 3600
    arrivals = []
    t = 0.0
    customers = max(1, int(p.rate_per_s * horizon * 0.6))
    while True:
        t += rng.expovariate(p.rate_per_s)
        if t >= horizon:
            break
        repeat = rng.random() < p.repeat_share
        arrivals.append((t, lognormal(rng, p.talk_mean_s, p.talk_sigma), lognormal(rng, p.wrap_mean_s, 0.4),
                         rng.expovariate(1 / p.patience_mean_s), rng.randrange(customers) if repeat else -1))
    away = []
    for i in range(p.agents):
        wander = i < p.wanderers
        present_mean, absent_mean = (40 * 60, 10 * 60) if wander else (3 * 3600, 5 * 60)
        intervals = []
        t = rng.expovariate(1 / present_mean)
        while t < horizon:
            back = t + rng.expovariate(1 / absent_mean)
            intervals.append((t, back))
            t = back + rng.expovariate(1 / present_mean)
        away.append(tuple(intervals))
    owners = {c: rng.randrange(p.agents) for c in range(customers)}
    return Traffic(tuple(arrivals), tuple(away), owners)


@dataclass
class Agent:
    name: str
    state: AgentState = A
    since_s: float = 0.0
    busy_s: float = 0.0
    talk_s: float = 0.0
    calls: int = 0
    last_busy_end_s: float | None = None
    streak: int = 0
    ring_call: int | None = None
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class Call:
    idx: int
    at: float
    talk: float
    wrap: float
    patience: float
    customer: int
    attempt: int = 0
    last: str | None = None
    offers: dict[str, int] = field(default_factory=dict)
    ringing: tuple[str, ...] = ()
    ring_token: int = 0
    queued: bool = False
    done: bool = False
    answered_at: float | None = None
    answered_by: str | None = None


@dataclass
class Result:
    name: str
    calls: int
    answered: int
    within_sl: int
    abandoned: int
    waits: list[float]
    talk_by_agent: list[float]
    manager_calls: int = 0
    manager_answered: int = 0
    pauses: int = 0
    decisions: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def sl(self) -> float:
        return self.within_sl / self.calls

    @property
    def asa_s(self) -> float:
        return statistics.fmean(self.waits) if self.waits else 0.0

    @property
    def abandon(self) -> float:
        return self.abandoned / self.calls


def gini(values: Sequence[float]) -> float:
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    cum = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * cum) / (n * total) - (n + 1) / n


class Sim:
    def __init__(self, *, p: Params, traffic: Traffic, team: TeamPolicy, seed: int, owner_routing: bool) -> None:
        self.p, self.traffic, self.team = p, traffic, team
        # Calls waiting in the queue are offered by the queue: no attempt limit, no owner routing.
        self.queue_team = dataclasses.replace(team, max_attempts=99, ring_timeout_s=QUEUE_RING_S,
                                              owner=OwnerRouting(enabled=False))
        self.owner_routing = owner_routing
        self.agents = [Agent(f"{1001 + i}", rng=random.Random(seed * 1000 + i)) for i in range(p.agents)]
        self.by_name = {a.name: a for a in self.agents}
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.waiting: list[Call] = []
        self.rr: str | None = None
        self.now = 0.0
        self.pauses = 0
        self.decisions = 0
        self.reasons: dict[str, int] = {}

    def push(self, at: float, kind: str, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def present(self, i: int, t: float) -> bool:
        return not any(leave <= t < back for leave, back in self.traffic.away[i])

    def return_time(self, i: int, t: float) -> float:
        for leave, back in self.traffic.away[i]:
            if leave <= t < back:
                return back
        return t + self.p.notice_s

    # -- agent state --------------------------------------------------------------------------------------------

    def set_state(self, agent: Agent, state: AgentState) -> None:
        if agent.state in (T, W):
            agent.busy_s += self.now - agent.since_s
            agent.last_busy_end_s = self.now
        agent.state, agent.since_s = state, self.now

    def views(self) -> dict[str, AgentView]:
        return {
            a.name: AgentView(agent=a.name, team="t", state=a.state, since_s=a.since_s, busy_s=a.busy_s, calls=a.calls,
                              last_busy_end_s=a.last_busy_end_s, no_answer_streak=a.streak)
            for a in self.agents
        }

    # -- routing ------------------------------------------------------------------------------------------------

    def route(self, call: Call, *, from_queue: bool) -> bool:
        """Offer ``call`` by the policy; True when it rings someone."""
        call.attempt += 1
        crm = None
        if self.owner_routing and call.customer >= 0 and not from_queue:
            owner = self.agents[self.traffic.owners[call.customer]].name
            crm = CallerFacts(entity="contact", record_id=call.customer, owner_user_id=1, owner_agent=owner)
        facts = CallFacts(call_id=str(call.idx), did="8000", attempt=call.attempt, last_dial_status=call.last,
                          offers=call.offers, crm=crm)
        team = self.queue_team if from_queue else self.team
        plan = plan_route(call=facts, team=team, agents=self.views(), now_s=self.now, rr_cursor=self.rr)
        self.decisions += 1
        for effect in plan.side_effects:
            agent = self.by_name[effect.agent]
            if agent.state is A:
                self.pauses += 1
                self.set_state(agent, P)
                self.push(self.return_time(self.agents.index(agent), self.now), "unpause", agent)
        decision = self.decide(plan)
        self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1
        if decision.action is not CcAction.DIAL:
            return False
        call.ring_token += 1
        call.ringing = decision.targets
        call.last = None
        ring_s = decision.ring_timeout_s or DIRECT_RING_S
        for name in decision.targets:
            call.offers[name] = call.attempt
            agent = self.by_name[name]
            self.set_state(agent, R)
            agent.ring_call = call.idx
            i = self.agents.index(agent)
            delay = lognormal(agent.rng, self.p.answer_median_s * math.exp(0.125), 0.5)
            misses = agent.rng.random() < self.p.miss_p
            if self.present(i, self.now) and not misses and delay < ring_s:
                self.push(self.now + delay, "answer", (call, agent, call.ring_token))
        self.push(self.now + ring_s, "ring_timeout", (call, call.ring_token))
        if team.strategy is Strategy.ROUND_ROBIN:
            self.rr = decision.targets[-1]
        return True

    def decide(self, plan: Plan) -> object:
        # One process, no concurrency: the first candidate is always still free (the store's job in production).
        for index, tier in enumerate(plan.tiers):
            return plan.decide(tier.agents if tier.ring_all else tier.agents[:1], tier=index)
        return plan.decide_unreserved()

    def release_ringing(self, call: Call, *, keep: Agent | None = None) -> list[Agent]:
        freed = []
        for name in call.ringing:
            agent = self.by_name[name]
            if agent is not keep and agent.ring_call == call.idx and agent.state is R:
                agent.ring_call = None
                self.set_state(agent, A)
                freed.append(agent)
        call.ringing = ()
        call.ring_token += 1
        return freed

    def enqueue(self, call: Call) -> None:
        if not call.queued:
            call.queued = True
            self.waiting.append(call)

    def dispatch(self) -> None:
        """Offer waiting calls, oldest first, while someone free is left for them."""
        for call in list(self.waiting):
            if not any(a.state is A for a in self.agents):
                return
            if call.done or call.ringing:
                continue
            free = [a.name for a in self.agents if a.state is A]
            if all(name in call.offers for name in free):
                call.offers = {}  # everyone free has had a go: the queue starts another round
            if self.route(call, from_queue=True):
                continue

    # -- run ----------------------------------------------------------------------------------------------------

    def run(self, name: str) -> Result:
        calls = [Call(i, *arr) for i, arr in enumerate(self.traffic.arrivals)]
        for call in calls:
            self.push(call.at, "arrive", call)
            self.push(call.at + call.patience, "abandon", call)
        while self.events:
            self.now, _, kind, payload = heapq.heappop(self.events)
            getattr(self, "on_" + kind)(payload)
        talk = [a.talk_s for a in self.agents]
        answered = [c for c in calls if c.answered_at is not None]
        manager_calls = [c for c in calls if c.customer >= 0]
        return Result(
            name=name,
            calls=len(calls),
            answered=len(answered),
            within_sl=sum(1 for c in answered if c.answered_at - c.at <= SL_THRESHOLD_S),  # type: ignore[operator]
            abandoned=len(calls) - len(answered),
            waits=[c.answered_at - c.at for c in answered],  # type: ignore[operator]
            talk_by_agent=talk,
            manager_calls=len(manager_calls),
            manager_answered=sum(
                1 for c in manager_calls if c.answered_by == self.agents[self.traffic.owners[c.customer]].name
            ),
            pauses=self.pauses,
            decisions=self.decisions,
            reasons=self.reasons,
        )

    def on_arrive(self, call: Call) -> None:
        if self.waiting:
            self.enqueue(call)  # calls already waiting go first (FIFO), as in Asterisk's queue
            self.dispatch()
        elif not self.route(call, from_queue=False):
            self.enqueue(call)

    def on_answer(self, payload: tuple[Call, Agent, int]) -> None:
        call, agent, token = payload
        if call.done or token != call.ring_token or agent.state is not R or agent.ring_call != call.idx:
            return
        freed = self.release_ringing(call, keep=agent)
        call.done, call.answered_at, call.answered_by = True, self.now, agent.name
        if call.queued:
            self.waiting.remove(call)
        agent.ring_call, agent.streak = None, 0
        agent.calls += 1
        agent.talk_s += call.talk
        self.set_state(agent, T)
        self.push(self.now + call.talk, "talk_end", (agent, call))
        if freed:
            self.dispatch()

    def on_ring_timeout(self, payload: tuple[Call, int]) -> None:
        call, token = payload
        if call.done or token != call.ring_token:
            return
        rung = [self.by_name[n] for n in call.ringing]
        self.release_ringing(call)
        for agent in rung:
            agent.streak += 1
        call.last = "NOANSWER"
        if call.queued:
            self.dispatch()
        elif call.attempt >= self.team.max_attempts or not self.route(call, from_queue=False):
            self.enqueue(call)
            self.dispatch()
        else:
            self.dispatch()

    def on_abandon(self, call: Call) -> None:
        if call.done:
            return
        call.done = True
        freed = self.release_ringing(call)
        if call.queued:
            self.waiting.remove(call)
        if freed:
            self.dispatch()

    def on_talk_end(self, payload: tuple[Agent, Call]) -> None:
        agent, call = payload
        self.set_state(agent, W)
        self.push(self.now + call.wrap, "wrap_end", agent)

    def on_wrap_end(self, agent: Agent) -> None:
        self.set_state(agent, A)
        self.dispatch()

    def on_unpause(self, agent: Agent) -> None:
        if agent.state is P:
            agent.streak = 0
            self.set_state(agent, A)
            self.dispatch()


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits (M/M/c)."""
    if load >= agents:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= load / k
        total += term
    last = term * load / agents * agents / (agents - load)
    return last / (total + last)


def simulate(p: Params, seeds: Sequence[int], runs: Sequence[tuple[str, TeamPolicy, bool]]) -> dict[str, Result]:
    merged: dict[str, Result] = {}
    for seed in seeds:
        traffic = make_traffic(p, seed)
        for name, team, owner in runs:
            r = Sim(p=p, traffic=traffic, team=team, seed=seed, owner_routing=owner).run(name)
            m = merged.get(name)
            if m is None:
                merged[name] = r
                continue
            m.calls += r.calls
            m.answered += r.answered
            m.within_sl += r.within_sl
            m.abandoned += r.abandoned
            m.waits += r.waits
            m.talk_by_agent = [x + y for x, y in zip(m.talk_by_agent, r.talk_by_agent)]
            m.manager_calls += r.manager_calls
            m.manager_answered += r.manager_answered
            m.pauses += r.pauses
            m.decisions += r.decisions
            for k, v in r.reasons.items():
                m.reasons[k] = m.reasons.get(k, 0) + v
    return merged


def team(strategy: Strategy, *, pause_after: int) -> TeamPolicy:
    return TeamPolicy(name="t", queue="t", strategy=strategy, ring_timeout_s=DIRECT_RING_S,
                      no_answer_pause_after=pause_after, owner=OwnerRouting(ring_timeout_s=DIRECT_RING_S))


def fairness(r: Result) -> tuple[float, float]:
    talk = r.talk_by_agent
    return (max(talk) / min(talk) if min(talk) > 0 else math.inf), gini(talk)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--occupancy", type=float, default=0.80)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    p = Params(agents=args.agents, hours=args.hours, occupancy=args.occupancy)
    seeds = list(range(1, args.seeds + 1))

    ours = "ours least-loaded"
    asterisk = {
        "asterisk ringall": Strategy.RING_ALL,
        "asterisk leastrecent": Strategy.LONGEST_IDLE,
        "asterisk fewestcalls": Strategy.FEWEST_CALLS,
        "asterisk rrmemory": Strategy.ROUND_ROBIN,
    }
    runs = [(ours, team(Strategy.LEAST_LOADED, pause_after=3), False),
            ("ours least-loaded, no auto-pause", team(Strategy.LEAST_LOADED, pause_after=0), False),
            ("ours least-loaded, team ring 15 s",
             dataclasses.replace(team(Strategy.LEAST_LOADED, pause_after=3), ring_timeout_s=15), False)]
    runs += [(name, team(s, pause_after=0), False) for name, s in asterisk.items()]
    runs += [("asterisk leastrecent, autopause=yes", team(Strategy.LONGEST_IDLE, pause_after=1), False)]
    results = simulate(p, seeds, runs)

    load = p.rate_per_s * p.aht_s
    pw = erlang_c(p.agents, load)
    ec_sl = 1 - pw * math.exp(-(p.agents - load) * SL_THRESHOLD_S / p.aht_s)
    ec_asa = pw * p.aht_s / (p.agents - load)

    total_calls = results[ours].calls
    print(f"routing simulation: {p.agents} agents ({p.wanderers} often away without pausing), {p.hours:g} h x "
          f"{len(seeds)} seeds, {total_calls} calls per strategy, offered load {load:.2f} Erlang "
          f"({p.occupancy:.0%}), AHT {p.aht_s:.0f} s, patience mean {p.patience_mean_s:.0f} s")
    print(f"{'strategy':38} {'SL20':>6} {'ASA s':>7} {'aband':>6} {'talk max/min':>12} {'Gini':>6} {'pauses':>6}")
    for name, r in results.items():
        ratio, g = fairness(r)
        print(f"{name:38} {r.sl:6.1%} {r.asa_s:7.1f} {r.abandon:6.1%} {ratio:12.2f} {g:6.3f} {r.pauses:6d}")
    print(f"{'Erlang C (no ringing, no absences)':38} {ec_sl:6.1%} {ec_asa:7.1f} {'-':>6} (P(wait) {pw:.1%})")

    default_asterisk = {k: results[k] for k in asterisk}
    best_name, best = max(default_asterisk.items(), key=lambda kv: (kv[1].sl, -kv[1].asa_s))
    o = results[ours]

    mix = dataclasses.replace(p, repeat_share=0.4)
    owner_runs = [("ours, owner routing off", team(Strategy.LEAST_LOADED, pause_after=3), False),
                  ("ours, owner routing on", team(Strategy.LEAST_LOADED, pause_after=3), True)]
    owner_results = simulate(mix, seeds, owner_runs)
    off, on = owner_results["ours, owner routing off"], owner_results["ours, owner routing on"]
    print()
    print(f"owner routing: {mix.repeat_share:.0%} of calls from customers with an assigned manager (same traffic)")
    print(f"{'run':38} {'SL20':>6} {'ASA s':>7} {'aband':>6} {'to manager':>10} {'Gini':>6}")
    for r in (off, on):
        print(f"{r.name:38} {r.sl:6.1%} {r.asa_s:7.1f} {r.abandon:6.1%} "
              f"{r.manager_answered / max(1, r.manager_calls):10.1%} {fairness(r)[1]:6.3f}")
    owner_reasons = {k: v for k, v in on.reasons.items() if k.startswith("owner")}
    print("owner-routing reasons:", ", ".join(f"{k}={v}" for k, v in sorted(owner_reasons.items())))
    elapsed = time.perf_counter() - started
    print(f"{sum(r.decisions for r in results.values()) + on.decisions + off.decisions} policy decisions in "
          f"{elapsed:.1f} s")

    def figures(r: Result) -> dict[str, float]:
        ratio, g = fairness(r)
        return {"sl": round(r.sl, 4), "asa_s": round(r.asa_s, 2), "abandon": round(r.abandon, 4),
                "talk_max_min": round(ratio, 3), "gini": round(g, 4)}

    print(json.dumps({
        "bench": "routing_sim",
        "seeds": len(seeds),
        "agents": p.agents,
        "calls_per_strategy": total_calls,
        "ours": figures(o),
        "ours_no_autopause": figures(results["ours least-loaded, no auto-pause"]),
        "asterisk": {k.removeprefix("asterisk "): figures(v) for k, v in results.items() if k.startswith("asterisk")},
        "best_asterisk": best_name.removeprefix("asterisk "),
        "sl_ratio_ours_vs_best_asterisk": round(o.sl / best.sl, 3),
        "asa_ratio_ours_vs_best_asterisk": round(o.asa_s / best.asa_s, 3) if best.asa_s else None,
        "gini_ratio_ours_vs_best_asterisk": round(fairness(o)[1] / fairness(best)[1], 3) if fairness(best)[1] else None,
        "erlang_c": {"sl": round(ec_sl, 4), "asa_s": round(ec_asa, 2), "p_wait": round(pw, 4)},
        "owner_routing": {
            "repeat_share": mix.repeat_share,
            "to_manager_on": round(on.manager_answered / max(1, on.manager_calls), 4),
            "to_manager_off": round(off.manager_answered / max(1, off.manager_calls), 4),
            "sl_on": round(on.sl, 4),
            "sl_off": round(off.sl, 4),
            "sl_cost_points": round((off.sl - on.sl) * 100, 2),
        },
        "elapsed_s": round(elapsed, 1),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
