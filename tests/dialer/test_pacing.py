"""Predictive pacing (callcenter/dialer/pacing.py): modes, the abandon cap, fallbacks, bad input, monotonicity."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from callcenter.dialer.outcomes import CampaignMode
from callcenter.dialer.pacing import PacingDecision, PacingInputs, decide

_RNG = random.Random(15)
TALK_S = tuple(round(_RNG.lognormvariate(math.log(120), 0.8), 1) for _ in range(300))
WRAP_S = tuple(round(_RNG.lognormvariate(math.log(18), 0.5), 1) for _ in range(300))
DELAY_S = tuple(round(2.0 + min(23.0, _RNG.lognormvariate(math.log(8), 0.5)), 1) for _ in range(300))


def measured(**changes: object) -> PacingInputs:
    """A predictive campaign in the middle of its day: 10 agents, 31% live answers, well under the cap."""
    base = PacingInputs(
        mode=CampaignMode.PREDICTIVE,
        now_s=3600.0,
        agents_free=2,
        agents_talking_elapsed_s=(10.0, 45.0, 80.0, 130.0, 200.0, 300.0),
        agents_wrapup_elapsed_s=(5.0, 15.0),
        talk_samples_s=TALK_S,
        wrapup_samples_s=WRAP_S,
        ringing_ages_s=(1.0, 4.0),
        calls_waiting_for_agent=0,
        recent_live_count=155,
        recent_machine_count=70,
        recent_no_answer_count=210,
        recent_busy_failed_count=65,
        answer_delay_samples_s=DELAY_S,
        window_live_count=400,
        window_abandoned_count=2,
        abandon_cap_ratio=0.03,
        amd_false_positive_ratio=0.01,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def random_state(rng: random.Random) -> PacingInputs:
    agents = rng.randint(1, 40)
    busy = rng.randint(0, agents)
    talking = rng.randint(0, busy)
    live = rng.randint(20, 200)
    window_live = rng.randint(0, 3000)
    return measured(
        agents_free=agents - busy,
        agents_talking_elapsed_s=tuple(rng.uniform(0, 400) for _ in range(talking)),
        agents_wrapup_elapsed_s=tuple(rng.uniform(0, 40) for _ in range(busy - talking)),
        ringing_ages_s=tuple(rng.uniform(0, 24) for _ in range(rng.randint(0, 2 * agents))),
        calls_waiting_for_agent=rng.choice((0, 0, 0, 1)),
        recent_live_count=live,
        recent_machine_count=rng.randint(0, 150),
        recent_no_answer_count=rng.randint(0, 300),
        recent_busy_failed_count=rng.randint(0, 100),
        window_live_count=window_live,
        window_abandoned_count=rng.randint(0, int(window_live * 0.02) + 1),
        amd_false_positive_ratio=rng.choice((0.0, 0.005, 0.01)),
    )


def test_preview_never_dials_by_itself() -> None:
    decision = decide(measured(mode=CampaignMode.PREVIEW, agents_free=8))
    assert decision.dial_count == 0
    assert decision.why.startswith("preview")


def test_progressive_is_one_call_per_free_agent_minus_calls_in_flight() -> None:
    decision = decide(measured(mode=CampaignMode.PROGRESSIVE, agents_free=5, ringing_ages_s=(1.0, 2.0)))
    assert decision.dial_count == 3
    decision = decide(measured(mode=CampaignMode.PROGRESSIVE, agents_free=1, ringing_ages_s=(1.0, 2.0, 3.0)))
    assert decision.dial_count == 0


@pytest.mark.parametrize("mode", list(CampaignMode))
def test_no_agents_logged_in_dials_nothing(mode: CampaignMode) -> None:
    decision = decide(measured(mode=mode, agents_free=0, agents_talking_elapsed_s=(), agents_wrapup_elapsed_s=()))
    assert decision.dial_count == 0


def test_predictive_dials_ahead_of_free_agents_and_explains_why() -> None:
    decision = decide(measured())
    assert decision.fallback is None
    assert decision.dial_count > decision.progressive_count  # 2 free, 2 in flight: progressive would dial 0
    assert decision.agents_soon_free_expected > 0
    assert "2 free" in decision.why and "answer rate 31% live" in decision.why
    assert f"-> dial {decision.dial_count}" in decision.why
    assert decision.inputs.agents_free == 2


def _window_expected_ratio(decision: PacingDecision) -> float:
    i = decision.inputs
    fp_per_live = i.amd_false_positive_ratio / (1 - i.amd_false_positive_ratio)
    live = i.window_live_count + decision.in_flight_live_expected + decision.new_live_expected
    abandoned = i.window_abandoned_count + decision.expected_abandons
    return (abandoned + live * fp_per_live) / (live + live * fp_per_live)


def test_expected_abandon_rate_never_exceeds_the_cap() -> None:
    rng = random.Random(1)
    checked = 0
    for _ in range(300):
        decision = decide(random_state(rng))
        if decision.fallback is not None:
            assert decision.dial_count == decision.progressive_count
            continue
        if decision.dial_count == decision.progressive_count:
            continue  # nothing dialled ahead: what is already in flight cannot be undone
        # Dialled ahead: the expected abandons of everything in flight fit the allowance, and the window's
        # expected rate after these calls is under the cap.
        checked += 1
        assert decision.expected_abandons + decision.expected_amd_false_positives <= decision.allowed_abandons + 1e-9
        assert _window_expected_ratio(decision) <= decision.inputs.abandon_cap_ratio + 1e-9
    assert checked > 100


def test_the_cap_binds_near_its_edge() -> None:
    # A window just under the cap leaves room for few abandons: fewer dials than with a clean window.
    clean = decide(measured(agents_free=6, window_live_count=400, window_abandoned_count=0))
    edge = decide(measured(agents_free=6, window_live_count=400, window_abandoned_count=7))
    assert edge.fallback is None
    assert edge.dial_count < clean.dial_count
    assert _window_expected_ratio(edge) <= 0.03


@pytest.mark.parametrize(("abandoned", "fp_ratio"), [(12, 0.0), (13, 0.0), (9, 0.01)])
def test_budget_spent_falls_back_to_progressive(abandoned: int, fp_ratio: float) -> None:
    # 400 live: 12 abandoned is exactly 3%; with AMD false positives at 1% of people, 9 + ~4 estimated is over it.
    decision = decide(
        measured(
            agents_free=5,
            window_abandoned_count=abandoned,
            amd_false_positive_ratio=fp_ratio,
            ringing_ages_s=(1.0,),
        )
    )
    assert decision.fallback == "abandon budget spent"
    assert decision.dial_count == 4
    assert "budget 0% of 3% left" in decision.why


def test_warming_up_dials_progressively() -> None:
    decision = decide(measured(agents_free=4, ringing_ages_s=(), talk_samples_s=TALK_S[:3]))
    assert decision.fallback is not None and decision.fallback.startswith("warming up")
    assert decision.dial_count == 4


def test_amd_false_positives_alone_over_the_cap_means_progressive() -> None:
    decision = decide(measured(agents_free=3, ringing_ages_s=(), window_live_count=0, window_abandoned_count=0,
                               amd_false_positive_ratio=0.05))
    assert decision.fallback == "AMD false positives alone fill the cap"
    assert decision.dial_count == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agents_free", -1),
        ("calls_waiting_for_agent", -2),
        ("recent_live_count", -1),
        ("window_abandoned_count", -5),
        ("agents_free", 1.5),
        ("abandon_cap_ratio", 1.5),
        ("abandon_cap_ratio", -0.01),
        ("abandon_cap_ratio", float("nan")),
        ("amd_false_positive_ratio", float("nan")),
        ("amd_false_positive_ratio", 1.0),
        ("safety_margin_ratio", 2.0),
        ("now_s", float("nan")),
        ("now_s", float("inf")),
        ("ring_timeout_s", 0.0),
        ("connect_limit_s", -1.0),
        ("talk_samples_s", (10.0, float("nan"))),
        ("wrapup_samples_s", (10.0, -3.0)),
        ("ringing_ages_s", (1.0, float("inf"))),
        ("agents_talking_elapsed_s", ("x",)),
        ("talk_samples_s", (12.0, True)),
        ("answer_delay_samples_s", [1.0, None]),
        ("checkpoints_s", ()),
        ("mode", "bogus"),
    ],
)
def test_bad_input_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        decide(measured(**{field: value}))


def test_more_free_agents_never_dial_fewer() -> None:
    rng = random.Random(2)
    for _ in range(60):
        state = random_state(rng)
        previous = -1
        for free in range(0, 12):
            count = decide(dataclasses.replace(state, agents_free=free)).dial_count
            assert count >= previous, (free, count, previous)
            previous = count


def test_lower_answer_rate_never_dials_fewer_when_the_budget_allows() -> None:
    rng = random.Random(3)
    compared = 0
    for _ in range(60):
        state = random_state(rng)
        total = state.recent_live_count + state.recent_no_answer_count
        previous = -1
        # From a high live share to a low one, the rest moving to "no answer": the dial count never drops.
        for live in range(min(total, 250), 9, -10):
            decision = decide(dataclasses.replace(state, recent_live_count=live, recent_no_answer_count=total - live))
            if decision.fallback is not None:
                break
            assert decision.dial_count >= previous, (live, decision.dial_count, previous)
            previous = decision.dial_count
            compared += 1
    assert compared > 200
