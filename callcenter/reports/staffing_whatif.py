"""Staffing what-if (pure, CPU-bound): replay a real day's calls through the routing simulation with another number
of agents or another strategy, next to what really happened that day.

The replayed traffic is the day's own (``replay_traffic``):

- **arrivals**: the real instants of the team's inbound calls of that local day, in order;
- **talk and wrap-up**: an answered call keeps its own; a call that was not answered never had any, so it takes
  those of an answered call of the same day drawn at random (seeded);
- **patience**: a caller who was not answered (abandoned, missed, failed) leaves after the wait they really had;
  an answered caller was still willing when answered, so their patience is that wait plus a draw from the
  exponential with the day's estimated mean patience (the censored MLE of ``staffing.estimate_patience``; the
  exponential is memoryless, so the patience left after any wait has that same law). A day without an abandoned
  call has no estimate: answered callers then wait as long as it takes.

The simulated floor: ``agents`` agents at their desks all day (no absences, no pauses but the auto-pause of the
strategy under test), picking up after a lognormal ~``ANSWER_MEDIAN_S`` s, never missing a ring; routing is the
real ``RoutingService`` with the team's ring timeout, attempts and auto-pause, and the chosen strategy (FastAGI
first, then the team's queue; or ``queue_only``: straight to the Asterisk queue with that strategy).

Figures on both sides, over the calls offered that day: **service level** = answered within ``threshold_s`` over
offered; **ASA** = mean wait of the answered; **unanswered** = share of offered calls nobody answered; simulated
**occupancy** = handling time over the agents' time from the first arrival to the end of the last handling; the
real one is the team's agents' occupancy of that day from their state history (``agent_figures``: ringing, talking
and wrap-up over the time they were logged in and not paused), given by the caller (``None`` without history), with
the number of the team's agents who were logged in that day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from callcenter.reports.figures import ANSWERED, CallFact, ServiceLevelRule, compute_figures
from callcenter.reports.staffing import estimate_patience
from callcenter.routing.rules import Strategy, TeamPolicy
from callcenter.routing.simulation import Arrival, Params, RunSpec, Sim, Traffic

__all__ = ["ANSWER_MEDIAN_S", "MAX_CALLS", "DayFigures", "WhatIf", "WhatIfResult", "actual_figures", "replay_traffic",
           "what_if"]

ANSWER_MEDIAN_S: Final = 4.0  # agents' pick-up time (median of a lognormal), as bench/routing_sim assumes
MAX_CALLS: Final = 20_000  # a day with more calls than this is refused (bounded CPU: ~1 s per 1,000 calls)


class NothingToReplay(ValueError):
    """The day has no call, or no answered call to take handling times from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIf:
    agents: int
    strategy: Strategy
    queue_only: bool = False  # True: no FastAGI, straight to the Asterisk queue with ``strategy``
    seed: int = 1
    threshold_s: float = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DayFigures:
    offered: int
    answered: int
    service_level_pct: float | None
    asa_s: float | None
    unanswered_pct: float | None
    occupancy_pct: float | None
    agents: int | None  # simulated: the scenario's; actual: the team's agents logged in that day (None: no history)


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIfResult:
    calls: int
    patience_s: float | None  # the day's estimated mean patience
    resampled: int  # calls whose talk and wrap-up were drawn from the day's answered calls
    simulated: DayFigures
    actual: DayFigures


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole > 0 else None


def replay_traffic(calls: Sequence[CallFact], *, from_s: float, patience_s: float | None,
                   seed: int) -> tuple[Traffic, int]:
    """The day's calls as simulation traffic (module doc), and how many handling times were resampled."""
    if not calls:
        raise NothingToReplay("no inbound calls on that day")
    answered = [c for c in calls if c.outcome == ANSWERED]
    if not answered:
        raise NothingToReplay("no answered call on that day to take talk and wrap-up times from")
    rng = random.Random(seed)
    arrivals = []
    resampled = 0
    for call in sorted(calls, key=lambda c: c.started_s):
        wait = max(call.wait_s, 0.0)
        if call.outcome == ANSWERED:
            source = call
            residual = rng.expovariate(1 / patience_s) if patience_s else math.inf
            patience = wait + residual
        else:
            source = rng.choice(answered)
            resampled += 1
            patience = wait
        arrivals.append(Arrival(at=call.started_s - from_s, talk=max(source.talk_s, 0.0),
                                wrap=max(source.wrapup_s or 0.0, 0.0), patience=patience, customer=-1))
    return Traffic(arrivals=tuple(arrivals), away=(), owners={}), resampled


def actual_figures(calls: Sequence[CallFact], *, from_s: float, to_s: float, threshold_s: float,
                   occupancy_pct: float | None = None, agents: int | None = None) -> DayFigures:
    """What really happened, by the team figures' own definitions (no short-abandon exclusion, as the simulation);
    the occupancy and the agents logged in come from the agents' state history (the caller reads it)."""
    f = compute_figures(calls, (), from_s=from_s, to_s=to_s, now_s=to_s,
                        rule=ServiceLevelRule(threshold_s=threshold_s, short_abandon_s=0.0, slot_s=86_400))
    return DayFigures(offered=f.offered, answered=f.answered, service_level_pct=f.service_level_pct, asa_s=f.asa_s,
                      unanswered_pct=_pct(f.offered - f.answered, f.offered), occupancy_pct=occupancy_pct,
                      agents=agents)


def what_if(calls: Sequence[CallFact], *, from_s: float, to_s: float, team: TeamPolicy, scenario: WhatIf,
            actual_occupancy_pct: float | None = None, actual_agents: int | None = None) -> WhatIfResult:
    """Replay the team's calls of [from_s, to_s) (one day) with the scenario's staffing and strategy. CPU-bound:
    run it in a thread from an event loop."""
    day = [c for c in calls if from_s <= c.started_s < to_s]
    if len(day) > MAX_CALLS:
        raise NothingToReplay(f"the day has {len(day)} calls; a what-if replays at most {MAX_CALLS}")
    if scenario.agents < 1:
        raise ValueError("agents must be >= 1")
    patience_s, _, _ = estimate_patience(day)
    traffic, resampled = replay_traffic(day, from_s=from_s, patience_s=patience_s, seed=scenario.seed)
    traffic = Traffic(arrivals=traffic.arrivals, away=tuple(() for _ in range(scenario.agents)), owners={})
    p = Params(agents=scenario.agents, answer_median_s=ANSWER_MEDIAN_S, miss_p=0.0, wanderers=0, away=False,
               repeat_share=0.0, direct_ring_s=team.ring_timeout_s, max_attempts=team.max_attempts,
               sl_threshold_s=scenario.threshold_s, base_s=from_s)
    spec = RunSpec(name="what-if", direct=None if scenario.queue_only else scenario.strategy,
                   queue=scenario.strategy if scenario.queue_only else Strategy.LONGEST_IDLE,
                   pause_after=team.no_answer_pause_after)
    r = Sim(p=p, traffic=traffic, spec=spec, seed=scenario.seed).run()
    occupancy = r.occupancy
    simulated = DayFigures(
        offered=r.calls, answered=r.answered, service_level_pct=_pct(r.within_sl, r.calls),
        asa_s=round(r.asa_s, 1) if r.answered else None, unanswered_pct=_pct(r.calls - r.answered, r.calls),
        occupancy_pct=round(100 * occupancy, 1) if occupancy is not None else None, agents=scenario.agents,
    )
    return WhatIfResult(calls=len(day), patience_s=patience_s, resampled=resampled, simulated=simulated,
                        actual=actual_figures(day, from_s=from_s, to_s=to_s, threshold_s=scenario.threshold_s,
                                              occupancy_pct=actual_occupancy_pct, agents=actual_agents))
