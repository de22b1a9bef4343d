"""Erlang B, C and A against published values, closed forms and an independent numerical integration."""

from __future__ import annotations

import math

import pytest

from callcenter.reports.erlang import (
    agents_needed,
    erlang_a_figures,
    erlang_b,
    erlang_c,
    erlang_c_figures,
)


# Erlang B tables ("lines needed for 1% grade of service"): 1 line carries 0.0101 E, 2 lines 0.153 E, 5 lines
# 1.36 E, 10 lines 4.46 E, 20 lines 12.0 E (the traffic column of any published Erlang B table at GoS 0.01, values
# rounded to the digits shown, hence the tolerance).
@pytest.mark.parametrize(("lines", "erlangs"), [(1, 0.0101), (2, 0.153), (5, 1.36), (10, 4.46), (20, 12.0)])
def test_erlang_b_table_at_one_percent(lines: int, erlangs: float) -> None:
    assert erlang_b(lines, erlangs) == pytest.approx(0.01, abs=0.0003)


def test_erlang_b_small_cases_by_hand() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)  # A / (1 + A)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (A^2/2) / (1 + A + A^2/2) = 0.5 / 2.5


def test_erlang_c_worked_example() -> None:
    """Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example": 100 calls in 30 minutes,
    AHT 180 s (10 Erlangs), 14 agents, target 20 s: P(wait) 0.1741, service level 1 - 0.1741 e^(-4 * 20/180) =
    88.8%, ASA 0.1741 * 180 / 4 = 7.8 s, occupancy 71.4%."""
    f = erlang_c_figures(14, 100 / 1800, 180.0, 20.0)
    assert f.load_erlang == pytest.approx(10.0)
    assert f.p_wait == pytest.approx(0.1741, abs=5e-5)
    assert f.service_level == pytest.approx(1 - 0.17413 * math.exp(-4 * 20 / 180), abs=1e-4)
    assert round(f.service_level * 100, 1) == 88.8
    assert round(f.asa_s, 1) == 7.8
    assert f.occupancy == pytest.approx(10 / 14)


def test_erlang_c_one_agent_is_mm1() -> None:
    # M/M/1: P(wait) = rho, ASA = rho / (mu - lambda)
    f = erlang_c_figures(1, 0.5 / 60, 60.0, 0.0)
    assert f.p_wait == pytest.approx(0.5) and f.asa_s == pytest.approx(0.5 * 60 / 0.5)
    assert f.service_level == pytest.approx(0.5)  # within 0 s: only those who did not wait


def test_erlang_c_overload_and_no_traffic() -> None:
    over = erlang_c_figures(5, 10 / 60, 30.0, 20.0)  # 5 Erlangs on 5 agents
    assert (over.p_wait, over.service_level, over.asa_s) == (1.0, 0.0, None)
    idle = erlang_c_figures(3, 0.0, 30.0, 20.0)
    assert (idle.p_wait, idle.service_level, idle.asa_s, idle.occupancy) == (0.0, 1.0, 0.0, 0.0)


def test_erlang_c_is_stable_for_large_loads() -> None:
    # a^c / c! overflows a float from c = 171; the recursion does not care
    pw = erlang_c(1100, 1000.0)
    assert 0 < pw < 0.01
    assert erlang_c(2000, 1999.0) == pytest.approx(1.0, abs=0.2)


def _euler_reference(c: int, lam: float, mu: float, theta: float, t: float, *, cap: int = 300,
                     dt: float = 0.002) -> dict[str, float]:
    """The integration bench/routing_sim.py used before the formulas moved to callcenter.reports.erlang: plain
    factorial-free weights of the truncated chain, and P(served within t | j ahead) by forward Euler on its ODE."""
    weights = [1.0]
    for n in range(1, cap):
        weights.append(weights[-1] * lam / (min(n, c) * mu + max(0, n - c) * theta))
    total = sum(weights)
    pi = [w / total for w in weights]
    waiting = cap - c
    u = [0.0] * waiting
    for _ in range(int(round(t / dt))):
        prev = u
        u = [prev[j] + dt * ((c * mu + j * theta) * ((prev[j - 1] if j else 1.0) - prev[j]) - theta * prev[j])
             for j in range(waiting)]
    return {
        "p_wait": sum(pi[c:]),
        "abandon": theta * sum((n - c) * pi[n] for n in range(c, cap)) / lam,
        "sl": sum(pi[:c]) + sum(pi[c + j] * u[j] for j in range(waiting)),
    }


@pytest.mark.parametrize(
    ("agents", "rate_per_s", "aht_s", "patience_s", "threshold_s"),
    [
        (12, 0.8 * 12 / 270, 270.0, 120.0, 20.0),  # the bench's validation day
        (5, 6 / 270, 270.0, 60.0, 30.0),  # overloaded (120%): only abandonment keeps it stable
        (3, 1 / 100, 200.0, 15.0, 20.0),  # patience shorter than the threshold
    ],
)
def test_erlang_a_equals_the_numerical_integration(agents: int, rate_per_s: float, aht_s: float, patience_s: float,
                                                   threshold_s: float) -> None:
    f = erlang_a_figures(agents, rate_per_s, aht_s, threshold_s, patience_s)
    ref = _euler_reference(agents, rate_per_s, 1 / aht_s, 1 / patience_s, threshold_s)
    assert f.p_wait == pytest.approx(ref["p_wait"], abs=1e-9)
    assert f.abandon == pytest.approx(ref["abandon"], abs=1e-9)  # Little: theta E[queue] / lambda
    assert f.service_level == pytest.approx(ref["sl"], abs=2e-4)  # Euler's error is O(dt)


def test_erlang_a_single_agent_with_patience_equal_to_handling_time_is_poisson() -> None:
    """c = 1 and patience mean = AHT: every state n >= 1 empties at rate n mu, so the number in the system is
    Poisson(rho) (the M/M/infinity chain): P(wait) = 1 - e^-rho, abandoned = (rho - 1 + e^-rho) / rho."""
    rho = 1.7
    f = erlang_a_figures(1, rho / 100, 100.0, 10.0, 100.0)
    assert f.p_wait == pytest.approx(1 - math.exp(-rho), abs=1e-12)
    assert f.abandon == pytest.approx((rho - 1 + math.exp(-rho)) / rho, abs=1e-12)
    # only the caller who finds nobody ahead can be answered within 0 s: those who did not wait
    assert erlang_a_figures(1, rho / 100, 100.0, 0.0, 100.0).service_level == pytest.approx(math.exp(-rho), abs=1e-12)


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    c = erlang_c_figures(14, 100 / 1800, 180.0, 20.0)
    a = erlang_a_figures(14, 100 / 1800, 180.0, 20.0, 1e9)
    assert a.p_wait == pytest.approx(c.p_wait, abs=1e-5)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-4)
    assert a.abandon < 1e-6
    assert erlang_a_figures(14, 100 / 1800, 180.0, 20.0, None) == c


def test_erlang_a_asa_by_littles_law() -> None:
    """Callers in the queue = lambda x (answered share x ASA + abandoned share x mean wait of those who hang up), and
    a caller who hangs up waited an exponential patience truncated by the service: E[queue] = lambda E[min(wait,
    patience)]. With P(abandon) = theta E[queue] / lambda: E[min] = P(abandon) / theta, so the waiting time of all
    callers together is P(abandon) x patience, which bounds the answered callers' share."""
    agents, lam, aht, patience = 8, 7 / 200, 200.0, 90.0
    f = erlang_a_figures(agents, lam, aht, 20.0, patience)
    total_wait = f.abandon * patience  # E[min(wait, patience)] over all arrivals
    assert f.asa_s is not None and 0 < (1 - f.abandon) * f.asa_s < total_wait


def test_agents_needed_for_80_20() -> None:
    # the worked example's load: the fewest agents whose service level reaches 80% (one fewer does not)
    need = agents_needed(100 / 1800, 180.0, 80.0, 20.0, max_occupancy=1.0)
    below = erlang_c_figures(need.agents - 1, 100 / 1800, 180.0, 20.0)
    assert need.figures.service_level >= 0.80 > below.service_level
    assert need.limited_by == "service_level"
    # abandonment helps the waiting callers: Erlang A never needs more agents than Erlang C
    with_patience = agents_needed(100 / 1800, 180.0, 80.0, 20.0, patience_s=60.0, max_occupancy=1.0)
    assert with_patience.agents <= need.agents
    assert with_patience.figures.service_level >= 0.80
    assert erlang_a_figures(with_patience.agents - 1, 100 / 1800, 180.0, 20.0, 60.0).service_level < 0.80


def test_agents_needed_caps_occupancy() -> None:
    # 100 Erlangs: 80/20 needs few more agents than Erlangs (occupancy ~ 95%); a cap of 85% needs ceil(100/0.85)
    free = agents_needed(100 / 180, 180.0, 80.0, 20.0, max_occupancy=1.0)
    capped = agents_needed(100 / 180, 180.0, 80.0, 20.0, max_occupancy=0.85)
    assert free.figures.occupancy > 0.85 and free.limited_by == "service_level"
    assert capped.agents == math.ceil(100 / 0.85) and capped.limited_by == "occupancy"
    assert agents_needed(0.0, 180.0, 80.0, 20.0).agents == 0


@pytest.mark.parametrize("target", [0.0, 100.0, -5.0, 150.0])
def test_agents_needed_refuses_impossible_targets(target: float) -> None:
    with pytest.raises(ValueError, match="target_pct"):
        agents_needed(0.1, 180.0, target, 20.0)
