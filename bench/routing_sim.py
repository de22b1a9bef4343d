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

The engine (traffic, the PBX and people, the run) is callcenter/routing/simulation.py, which the service's staffing
what-if also runs; the Erlang formulas are callcenter/reports/erlang.py. This script is the experiment around them.

Prints tables, then ONE JSON line. Usage: python bench/routing_sim.py [--seeds 5] [--agents 12] [--hours 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.reports import erlang  # noqa: E402
from callcenter.routing.rules import Strategy  # noqa: E402
from callcenter.routing.simulation import (  # noqa: E402
    SL_THRESHOLD_S,
    VALIDATION,
    Arrival,
    Params,
    Result,
    RunSpec,
    make_traffic,
    simulate,
)

# -- reporting --------------------------------------------------------------------------------------------------


def gini(values: Sequence[float]) -> float:
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    cum = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * cum) / (n * total) - (n + 1) / n


def erlang_c_figures(p: Params) -> dict[str, float]:
    f = erlang.erlang_c_figures(p.agents, p.rate_per_s, p.aht_s, SL_THRESHOLD_S)
    return {"load_erlang": round(f.load_erlang, 3), "p_wait": f.p_wait, "sl": f.service_level,
            "asa_s": f.asa_s if f.asa_s is not None else math.inf}


def erlang_a_figures(p: Params) -> dict[str, float]:
    """M/M/c+M (Erlang A: exponential patience): P(wait), abandon rate and SL."""
    f = erlang.erlang_a_figures(p.agents, p.rate_per_s, p.aht_s, SL_THRESHOLD_S, p.patience_mean_s)
    return {"p_wait": f.p_wait, "abandon": f.abandon, "sl": f.service_level}


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
