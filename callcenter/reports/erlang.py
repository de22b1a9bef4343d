"""Erlang B, C and A (pure): queueing figures of a team and the agents it needs for a service-level target.

- **Erlang B** (M/M/c/c): the share of calls blocked when ``load_erlang`` is offered to ``servers`` lines, no queue.
- **Erlang C** (M/M/c): Poisson arrivals, exponential handling time, infinitely patient callers. P(wait),
  service level within T = 1 - P(wait) * exp(-(c - A) * T / AHT), ASA = P(wait) * AHT / (c - A).
- **Erlang A** (M/M/c+M, Palm 1946, Garnett-Mandelbaum-Reiman 2002): Erlang C plus exponential patience (mean
  ``patience_s``): a waiting caller hangs up at rate 1/patience. The queue is then always stable; callers who hang
  up before an agent takes them are the abandon rate.

Numerics: no factorials and no powers that overflow. Erlang B by its recursion ``B(k) = A B(k-1) / (k + A B(k-1))``
(every term in [0, 1]); Erlang C from B; Erlang A from its birth-death chain with log-space weights normalised to
their maximum, truncated where the remaining probability is below 1e-15, and its service level by uniformisation
(see ``_served_within``). Figures are shares in [0, 1]; the API turns them into percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "QueueFigures",
    "Staffing",
    "agents_needed",
    "erlang_a_figures",
    "erlang_b",
    "erlang_c",
    "erlang_c_figures",
]

TAIL: Final = 1e-15  # probability left out when the Erlang A chain is truncated
MAX_QUEUE_STATES: Final = 200_000  # waiting positions kept at most (patience so long that Erlang C is the answer)
MAX_AGENTS: Final = 100_000  # agents_needed gives up above this (a load no contact centre has)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueFigures:
    """What a staffing of ``agents`` gives on the offered traffic (shares in [0, 1], times in seconds)."""

    agents: int
    load_erlang: float  # offered load: arrival rate x AHT
    p_wait: float  # share of callers who find no free agent
    service_level: float  # share of OFFERED calls answered within the threshold (abandoned ones count as not)
    asa_s: float | None  # mean wait of the answered calls; None: the queue grows without bound (Erlang C, A >= c)
    abandon: float  # share of offered calls that hang up before an agent takes them (0 under Erlang C)
    occupancy: float  # carried load per agent: the share of their time agents spend handling calls


@dataclass(frozen=True, slots=True, kw_only=True)
class Staffing:
    agents: int
    figures: QueueFigures
    limited_by: str  # "service_level", "occupancy" or "no_traffic": the constraint that set the number


def _check(agents: int, rate_per_s: float, aht_s: float) -> None:
    if agents < 0:
        raise ValueError("agents must be >= 0")
    if not (math.isfinite(rate_per_s) and rate_per_s >= 0):
        raise ValueError("rate_per_s must be a finite number >= 0")
    if not (math.isfinite(aht_s) and aht_s > 0):
        raise ValueError("aht_s must be a finite number > 0")


def erlang_b(servers: int, load_erlang: float) -> float:
    """Blocking probability of ``servers`` lines offered ``load_erlang`` (Erlang B), by the stable recursion."""
    if servers < 0 or load_erlang < 0:
        raise ValueError("servers and load_erlang must be >= 0")
    b = 1.0
    for k in range(1, servers + 1):
        b = load_erlang * b / (k + load_erlang * b)
    return b


def erlang_c(servers: int, load_erlang: float) -> float:
    """Probability that a call waits (Erlang C); 1 when the load is at or above the number of agents."""
    if servers <= 0 or load_erlang >= servers:
        return 1.0
    if load_erlang == 0:
        return 0.0
    b = erlang_b(servers, load_erlang)
    return servers * b / (servers - load_erlang * (1 - b))


def erlang_c_figures(agents: int, rate_per_s: float, aht_s: float, threshold_s: float) -> QueueFigures:
    _check(agents, rate_per_s, aht_s)
    load = rate_per_s * aht_s
    if load == 0:
        return QueueFigures(agents=agents, load_erlang=0.0, p_wait=0.0, service_level=1.0, asa_s=0.0, abandon=0.0,
                            occupancy=0.0)
    if load >= agents:  # unstable: everybody waits, the wait grows without bound
        return QueueFigures(agents=agents, load_erlang=load, p_wait=1.0, service_level=0.0, asa_s=None, abandon=0.0,
                            occupancy=1.0 if agents else 0.0)
    pw = erlang_c(agents, load)
    return QueueFigures(
        agents=agents,
        load_erlang=load,
        p_wait=pw,
        service_level=1 - pw * math.exp(-(agents - load) * threshold_s / aht_s),
        asa_s=pw * aht_s / (agents - load),
        abandon=0.0,
        occupancy=load / agents,
    )


def _stationary(c: int, lam: float, mu: float, theta: float) -> np.ndarray:
    """P(n callers in the system), n = 0..N, of the M/M/c+M chain: birth rate lam, death rate min(n,c) mu +
    (n-c)+ theta. Log-space weights (no overflow for any load), truncated once past the mode where the rest is
    below TAIL."""
    logs = [0.0]
    peak = 0.0
    n = 0
    while True:
        n += 1
        death = min(n, c) * mu + max(0, n - c) * theta
        logs.append(logs[-1] + math.log(lam / death))
        peak = max(peak, logs[-1])
        # past the mode (ratio < 1) the tail is bounded by a geometric series with the current ratio
        ratio = lam / (min(n + 1, c) * mu + max(0, n + 1 - c) * theta)
        if ratio < 1 and logs[-1] - peak + math.log(1 / (1 - ratio)) < math.log(TAIL):
            break
        if n - c > MAX_QUEUE_STATES:
            break
    w = np.exp(np.array(logs) - peak)
    return w / w.sum()


def _steps(c: int, mu: float, theta: float, t: float, jmax: int) -> int:
    """Uniformisation steps that leave out less than ~1e-13 of the Poisson(L t) mass, L = c mu + (jmax + 1) theta."""
    lt = (c * mu + (jmax + 1) * theta) * t
    return int(lt + 10 * math.sqrt(lt) + 30)


def _reach(c: int, mu: float, theta: float, t: float, jmax: int) -> int:
    """The deepest waiting position from which a caller can still be answered within t: reaching an agent from j
    ahead takes j + 1 moves, so positions beyond the step count of the uniformisation are answered within t with
    negligible probability (when patience is shorter than t the step count keeps up with j: no cut)."""
    while jmax >= 0:
        steps = _steps(c, mu, theta, t, jmax)
        if steps >= jmax:
            return jmax
        jmax = steps
    return jmax


def _saturated(c: int, mu: float, t: float, jmax: int) -> int:
    """How many positions j = 0, 1, ... are served within t whenever they are served at all, up to 1e-14: from j
    ahead the caller is served after j + 1 moves, each at rate >= c mu (conditioned on the caller staying, each phase
    runs at rate r_k + theta >= c mu), so P(served, and later than t) <= P(Erlang(j + 1, c mu) > t) =
    P(Poisson(c mu t) <= j)."""
    m = c * mu * t
    if m <= 0:
        return 0
    k = np.arange(jmax + 1, dtype=float)
    log_terms = -m + k * math.log(m) - np.array([math.lgamma(x + 1) for x in range(jmax + 1)])
    tail = np.cumsum(np.exp(log_terms))  # P(Poisson(m) <= j): increasing in j
    return int(np.searchsorted(tail, 1e-14, side="left"))


def _served_within(c: int, mu: float, theta: float, t: float, jmax: int) -> np.ndarray:
    """u[j]: P(a caller who finds j callers waiting ahead is taken by an agent within t), j = 0..jmax.

    With j ahead the line moves at rate r_j = c mu + j theta (an agent frees up, or someone ahead hangs up); the
    caller needs j + 1 moves before their own patience (rate theta) runs out. Uniformisation at rate
    L = r_jmax + theta: a discrete chain in which, from "k ahead", the caller moves on with probability r_k / L,
    hangs up with theta / L, else stays; v_n[j] = P(served within n steps | j ahead) and u = sum_n Poisson(n; L t)
    v_n. Exact up to the Poisson tail left out (< 1e-13)."""
    j = np.arange(jmax + 1, dtype=float)
    r = c * mu + j * theta
    big_l = float(r[-1] + theta)
    lt = big_l * t
    steps = _steps(c, mu, theta, t, jmax)
    move, stay = r / big_l, 1 - (r + theta) / big_l
    v = np.zeros(jmax + 1)
    u = np.zeros(jmax + 1)
    for n in range(steps + 1):
        weight = math.exp(-lt + (n * math.log(lt) if lt > 0 else 0.0) - math.lgamma(n + 1)) if lt > 0 else float(n == 0)
        u += weight * v
        ahead = np.concatenate(([1.0], v[:-1]))  # from 0 ahead, a move is being served
        v = move * ahead + stay * v
    return np.minimum(u, 1.0)


def erlang_a_figures(agents: int, rate_per_s: float, aht_s: float, threshold_s: float,
                     patience_s: float | None) -> QueueFigures:
    """Erlang A; ``patience_s`` None (or infinite): nobody hangs up, which is Erlang C."""
    _check(agents, rate_per_s, aht_s)
    if patience_s is None or math.isinf(patience_s):
        return erlang_c_figures(agents, rate_per_s, aht_s, threshold_s)
    if not patience_s > 0:
        raise ValueError("patience_s must be > 0")
    load = rate_per_s * aht_s
    if load == 0:
        return QueueFigures(agents=agents, load_erlang=0.0, p_wait=0.0, service_level=1.0, asa_s=0.0, abandon=0.0,
                            occupancy=0.0)
    c, lam, mu, theta = agents, rate_per_s, 1 / aht_s, 1 / patience_s
    pi = _stationary(c, lam, mu, theta)
    waiting = pi[c:] if len(pi) > c else np.zeros(0)
    j = np.arange(len(waiting), dtype=float)
    # A caller who finds j waiting ahead: served with probability prod_{k<=j} r_k / (r_k + theta), and then after a
    # wait whose mean is sum_{k<=j} 1 / (r_k + theta) (competing exponentials: the time to the next event does not
    # depend on which event it is).
    r = c * mu + j * theta
    served = np.cumprod(r / (r + theta)) if len(j) else j
    mean_wait_if_served = np.cumsum(1 / (r + theta)) if len(j) else j
    answered = float(pi[:c].sum() + (waiting * served).sum())
    # Service level. Positions so deep that reaching an agent within the threshold is negligible count 0; positions
    # so shallow that being served after the threshold is negligible count their P(served) (``_saturated``); only
    # those in between need the uniformisation (cheap when the threshold is short; a long threshold is all shallow).
    jmax = _reach(c, mu, theta, threshold_s, len(waiting) - 1)
    sl_waiting = 0.0
    if jmax >= 0:
        shallow = _saturated(c, mu, threshold_s, jmax)
        sl_waiting = float((waiting[:shallow] * served[:shallow]).sum())
        if shallow <= jmax:
            u = _served_within(c, mu, theta, threshold_s, jmax)
            sl_waiting += float((waiting[shallow: jmax + 1] * u[shallow:]).sum())
    occupancy = lam * answered * aht_s / c if c else 0.0
    return QueueFigures(
        agents=agents,
        load_erlang=load,
        p_wait=float(waiting.sum()),
        service_level=min(1.0, float(pi[:c].sum()) + sl_waiting),
        asa_s=float((waiting * served * mean_wait_if_served).sum()) / answered if answered > 0 else None,
        abandon=max(0.0, 1 - answered),
        occupancy=min(1.0, occupancy),
    )


def agents_needed(rate_per_s: float, aht_s: float, target_pct: float, threshold_s: float,
                  patience_s: float | None = None, max_occupancy: float = 0.85) -> Staffing:
    """The fewest agents whose service level (answered within ``threshold_s`` over offered) reaches ``target_pct``
    and whose occupancy stays at or below ``max_occupancy`` (a team at 100% burns out; Erlang calculators commonly
    cap it at 85%). ``patience_s`` None: Erlang C; else Erlang A with that mean patience.

    Both the service level and the occupancy constraint only get easier with every agent added, so the answer is
    found by doubling then bisecting (a few dozen evaluations even for thousands of agents)."""
    _check(0, rate_per_s, aht_s)
    if not 0 < target_pct < 100:
        raise ValueError("target_pct must be between 0 and 100 (exclusive)")
    if not 0 < max_occupancy <= 1:
        raise ValueError("max_occupancy must be in (0, 1]")
    if not (math.isfinite(threshold_s) and threshold_s >= 0):
        raise ValueError("threshold_s must be a finite number >= 0")
    if rate_per_s == 0:
        return Staffing(agents=0, figures=erlang_a_figures(0, 0.0, aht_s, threshold_s, patience_s),
                        limited_by="no_traffic")
    cache: dict[int, QueueFigures] = {}

    def figures_of(c: int) -> QueueFigures:
        if c not in cache:
            cache[c] = erlang_a_figures(c, rate_per_s, aht_s, threshold_s, patience_s)
        return cache[c]

    def sl_ok(c: int) -> bool:
        return figures_of(c).service_level * 100 >= target_pct - 1e-9

    def ok(c: int) -> bool:
        return sl_ok(c) and figures_of(c).occupancy <= max_occupancy + 1e-9

    # ok(0) is false (no agent answers anything); the doubling starts at the load, where the answer usually is near
    # (the predicate is monotone, so where it starts changes the cost only; tiny staffings of a big load are the
    # expensive ones to evaluate: long queues)
    lo, hi = 0, max(1, math.ceil(rate_per_s * aht_s))
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents would be needed")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    # which constraint bound: would one agent fewer have met the service level (then occupancy set the number)?
    limited = "occupancy" if hi > 1 and sl_ok(hi - 1) else "service_level"
    return Staffing(agents=hi, figures=figures_of(hi), limited_by=limited)
