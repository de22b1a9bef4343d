"""bench/dialer_sim.py at tiny scale: the simulation's bookkeeping holds for every strategy (no timing asserted)."""

from __future__ import annotations

import collections
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from callcenter.dialer.outcomes import LIVE_ANSWERED, AttemptOutcome

REPO = Path(__file__).resolve().parents[2]


def _load_sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dialer_sim", REPO / "bench" / "dialer_sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dialer_sim"] = module
    spec.loader.exec_module(module)
    return module


sim = _load_sim()
AGENTS, HOURS, SEED = 3, 20 / 60, 1


@pytest.fixture(scope="module")
def runs() -> dict[str, object]:
    return {name: sim.simulate(name, AGENTS, HOURS, SEED, keep_records=True, tick_s=1.0) for name in sim.STRATEGIES}


@pytest.mark.parametrize("name", sim.STRATEGIES)
def test_every_dial_ends_in_exactly_one_outcome(runs: dict[str, object], name: str) -> None:
    result = runs[name]
    assert result.dials == len(result.attempts) > 0
    outcomes = collections.Counter(a.outcome for a in result.attempts)
    assert None not in outcomes
    assert sum(outcomes.values()) == result.dials
    assert outcomes[AttemptOutcome.CONNECTED] == result.connects
    assert outcomes[AttemptOutcome.ABANDONED] == result.abandoned
    # Every live verdict is counted once, as connected or abandoned (nobody hangs up inside the 2 s here).
    assert sum(outcomes[o] for o in LIVE_ANSWERED) == result.live
    if name != "oracle":  # the list is dialled in order (the oracle skips the numbers that will not answer live)
        assert [a.number for a in result.attempts] == list(range(result.dials))


@pytest.mark.parametrize("name", sim.STRATEGIES)
def test_no_agent_is_on_two_calls(runs: dict[str, object], name: str) -> None:
    result = runs[name]
    by_agent: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    for agent, start_s, end_s in result.agent_calls:
        assert 0 <= agent < AGENTS
        by_agent[agent].append((start_s, end_s))
    assert by_agent
    for spans in by_agent.values():
        spans.sort()
        for (_, end_s), (next_start_s, _) in zip(spans, spans[1:]):
            assert next_start_s >= end_s
    connected = [a for a in result.attempts if a.outcome is AttemptOutcome.CONNECTED]
    # Calls still talking at the end have no finished span; every finished span is one connected call.
    assert len(result.agent_calls) <= len(connected)


@pytest.mark.parametrize("name", sim.STRATEGIES)
def test_abandons_are_the_live_answers_not_connected_within_the_limit(runs: dict[str, object], name: str) -> None:
    result = runs[name]
    limit_s = sim.Traffic().connect_limit_s
    late_or_never = 0
    for attempt in result.attempts:
        if attempt.outcome in LIVE_ANSWERED:
            assert attempt.verdict_s is not None and attempt.callee.verdict_live
            if attempt.connect_s is None or attempt.connect_s - attempt.verdict_s > limit_s:
                late_or_never += 1
                assert attempt.outcome is AttemptOutcome.ABANDONED and attempt.connect_s is None
            else:
                assert attempt.outcome is AttemptOutcome.CONNECTED and attempt.agent is not None
    assert late_or_never == result.abandoned


def test_strategies_see_identical_traffic(runs: dict[str, object]) -> None:
    seen: dict[int, object] = {}
    for result in runs.values():
        for attempt in result.attempts:
            assert seen.setdefault(attempt.number, attempt.callee) == attempt.callee
    assert len(seen) > 50


def test_the_oracle_never_abandons_and_only_dials_live_answers(runs: dict[str, object]) -> None:
    oracle = runs["oracle"]
    assert oracle.abandoned == 0
    assert all(a.callee.kind == "human" and a.callee.verdict_live for a in oracle.attempts)
    assert oracle.occupancy >= max(r.occupancy for r in runs.values())
