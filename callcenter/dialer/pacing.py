"""Predictive pacing (pure): how many numbers to dial now, from live measurements, never over the abandon cap.

No I/O, no clock: the caller passes ``now_s`` and every measurement in :class:`PacingInputs`; the answer is a frozen
:class:`PacingDecision` that carries the inputs, every estimate made on the way and a one-line ``why`` for the
campaign page ("3 free, 2.4 about to be free in 12 s, 6 in flight, answer rate 31% live, budget 1.2% of 3% left
-> dial 9 (last call's abandon risk 2.6% of 2.8% allowed, expected abandons 0.08)").

Modes
-----
* preview: 0. The agent dials from the card; the pacer never dials by itself.
* progressive: one call per free agent: ``free - calls in flight - answered calls waiting``, never below 0.
* predictive: the model below; never fewer than progressive would dial (progressive reserves an agent per call, so
  it cannot abandon), and progressive when the abandon budget of the legal window is spent or the measurements are
  too few to trust (warming up).

The model (predictive)
----------------------
A call dialled now reaches a verdict (answered, past answering-machine detection) after the time-to-answer ``D``
(empirical: the last answered calls, from dial to verdict). A live verdict at ``t`` needs an agent free by ``t`` +
the legal connect limit (2 s), or it is abandoned. The pacer looks at checkpoints ``t`` (``checkpoints_s``, 0 to
25 s: the ring time) and, per interval between two checkpoints:

* agents freeing in it: for every busy agent ``P(free by t + limit | elapsed)`` from the empirical distributions
  conditioned on the time already spent: in wrap-up for ``e`` s, ``(F_W(e + h) - F_W(e)) / (1 - F_W(e))``; talking
  for ``e`` s, the rest of the talk plus a whole wrap-up, ``P(T + W <= e + h | T > e)``, as the mean over three
  wrap-up quantiles ``w`` of ``(F_T(e + h - w) - F_T(e)) / (1 - F_T(e))`` (O(agents), not O(agents x samples^2));
  longer than every sample seen: 0 (an unusually long call says nothing about when it ends; assuming it ends soon
  would overbook);
* live answers in it: each call in flight of age ``a`` with ``P(live verdict in the interval | unresolved at a)``
  (Bayes over the measured mix: live and machine calls are still unresolved with the survival of ``D``,
  no-answers until the ring timeout, busy/failed in their first seconds); answered calls waiting for an agent are
  certain at 0; each new dial with the measured live ratio ``p`` times ``D``'s mass in the interval.

The expected abandons are then computed as a queue, not as "answers minus agents at one horizon": with the greedy
rule (an answer takes any agent free by its deadline, a free agent waits until taken) the abandons are the running
maximum of ``L(t) - A(t + limit)``, and its expectation by a Lindley recursion on the distribution of spare agents
(see :class:`_Queue`). A first version compared the two counts at a few horizons and took the worst one (the
maximum of expectations instead of the expectation of the maximum): a Monte Carlo of the same assumptions found
2 to 2.5 times its estimate; the recursion errs on the safe side (about 1.5 times, from its binomial and
independence approximations).

Choosing ``n``: dial while the last call's own risk, the marginal expected abandons per live answer it brings
``(E[ab](n) - E[ab](n-1)) / p``, is under a limit. Why marginal and not "the batch's average under the cap": the
price of a connect in abandons should be the same for every call (the Lagrangian optimum for "most connects for a
given number of abandons"); an average lets one batch hide a last call that is almost sure to be abandoned, and
forbids a cheap call when the batch is small. Expected abandons are convex in ``n``, so the counts that fit form
an interval found by doubling and bisection.

The budget (Ofcom: abandoned calls at most 3% of live calls per campaign over 24 h, counting an estimate of the
answering-machine detector's false positives, i.e. people hung up on as machines; the FTC's 30 days works the same
with another window). With ``f`` = P(AMD says machine | a person answered), every live verdict stands for
``f / (1 - f)`` people hung up on, added to the abandoned and to the live counts (the regulator's formula). The
target is ``cap x (1 - safety_margin)``; the drops it leaves per live call, ``target (1 + f') - f'`` with
``f' = f / (1 - f)``, set the marginal limit (twice that to start with: the last call of a batch carries more risk
than the average). The limit is corrected by what the window really did: (target / measured drop ratio)^2, the
measured ratio shrunk toward the target by a prior of ``feedback_prior_calls`` calls, within [1/4, 4]; it moves
with the window's counts, not with each second, so it does not oscillate, and it absorbs the model's remaining
errors whatever their sign (they differ with the team size). Two hard rules hold whatever the feedback: the
window's expected rate after the new calls stays under the cap itself, and when the window is at or over the cap
the pacer falls back to progressive, which adds no abandons. At most ``max_lines_per_agent`` lines per logged-in
agent (trunks are finite, and a tiny measured answer rate must not dial a thousand numbers).

Every distribution is exact where it matters and a pessimistic stand-in where it is cheap: the agents about to be
free are convolved exactly, the many with small chances summed as one Poisson (Le Cam); calls in flight per
interval as a binomial with their mean chance (the most spread sum with that mean, Hoeffding). A decision costs
about a millisecond for 50 agents (numpy on arrays of a few dozen).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from callcenter.dialer.outcomes import CampaignMode

__all__ = ["PacingDecision", "PacingInputs", "decide"]

# Busy and failed calls resolve within seconds of the dial (congestion, busy tone); after this age a call still in
# flight is ringing or answered, not busy.
BUSY_FAILED_RESOLVED_S = 6.0
# Fewer samples than this in a distribution: it says too little to dial ahead on (warming up -> progressive).
MIN_DISTRIBUTION_SAMPLES = 5
# Wrap-up quantiles averaged for a talking agent's "free within H" (see the module docstring).
_WRAP_QUANTILES = (0.2, 0.5, 0.8)


@dataclasses.dataclass(frozen=True, slots=True)
class PacingInputs:
    """Everything the pacer knows at ``now_s``; counts are whole calls, durations seconds, ratios in [0, 1]."""

    mode: CampaignMode
    now_s: float
    agents_free: int
    # Busy agents: how long each has been talking / in wrap-up so far.
    agents_talking_elapsed_s: tuple[float, ...] = ()
    agents_wrapup_elapsed_s: tuple[float, ...] = ()
    # Recent finished talks and wrap-ups (the caller keeps the last few hundred).
    talk_samples_s: tuple[float, ...] = ()
    wrapup_samples_s: tuple[float, ...] = ()
    # Calls dialled and not resolved yet (ringing or in answering-machine detection), by age.
    ringing_ages_s: tuple[float, ...] = ()
    # Answered live, waiting for an agent (inside the connect limit).
    calls_waiting_for_agent: int = 0
    # Recent outcomes (the answer-rate measurement): AMD verdict live / machine, no answer, busy or failed.
    recent_live_count: int = 0
    recent_machine_count: int = 0
    recent_no_answer_count: int = 0
    recent_busy_failed_count: int = 0
    # Recent answered calls (live or machine): seconds from dial to the verdict.
    answer_delay_samples_s: tuple[float, ...] = ()
    ring_timeout_s: float = 25.0
    # The legal window so far (campaign day for Ofcom, 30 days for the TSR).
    window_live_count: int = 0
    window_abandoned_count: int = 0
    abandon_cap_ratio: float = 0.03
    # P(AMD says "machine" | a person answered): Ofcom counts these people as abandoned (estimated).
    amd_false_positive_ratio: float = 0.0
    connect_limit_s: float = 2.0
    safety_margin_ratio: float = 0.2
    feedback_prior_calls: int = 200
    checkpoints_s: tuple[float, ...] = (0.0, 3.0, 6.0, 10.0, 15.0, 25.0)
    min_outcome_samples: int = 20
    max_lines_per_agent: float = 4.0


@dataclasses.dataclass(frozen=True, slots=True)
class PacingDecision:
    """The dial count and how it was reached (shown live on the campaign page)."""

    inputs: PacingInputs
    dial_count: int
    mode: CampaignMode
    progressive_count: int
    fallback: str | None  # why the predictive model was not used ("budget spent", "warming up", ...), else None
    calls_in_flight: int
    agents_logged_in: int
    agents_soon_free_expected: float  # busy agents expected free within the horizon
    horizon_s: float
    live_ratio: float  # measured: AMD verdict live / all outcomes
    machine_ratio: float
    unanswered_ratio: float  # no answer, busy, failed
    in_flight_live_expected: float
    new_live_expected: float
    expected_abandons: float
    expected_amd_false_positives: float
    allowed_abandons: float  # what the window can take (with false positives) and stay under the cap
    marginal_abandon_ratio: float  # the last dialled call's risk of an abandon per live answer
    marginal_limit_ratio: float  # the risk a call may carry (the target, moved by the window's feedback)
    window_abandon_ratio: float  # (abandoned + estimated AMD false positives) / (live + estimate), so far
    budget_left_ratio: float  # cap minus the window's ratio (never below 0)
    why: str


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: must not be negative, got {value}")


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: must be {'positive' if positive else 'at least 0'}, got {value}")


def _check_ratio(name: str, value: float, *, below_one: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a ratio in [0, 1], got {value!r}")
    if value < 0 or value > 1 or (below_one and value == 1):
        raise ValueError(f"{name}: must be in [0, 1{')' if below_one else ']'}, got {value}")


def _check_samples(name: str, values: Sequence[float]) -> np.ndarray:
    if not isinstance(values, (tuple, list)):
        raise ValueError(f"{name}: expected a tuple of seconds, got {type(values).__name__}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: every value must be a finite number of seconds >= 0") from None
    bad = array.ndim != 1 or bool in set(map(type, values))  # True is not a duration (set/map: C speed)
    if bad or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name}: every value must be a finite number of seconds >= 0, got {list(values)[:5]!r}...")
    return array


def validate(inputs: PacingInputs) -> dict[str, np.ndarray]:
    """Raise ValueError naming the first bad field; return the duration tuples as arrays."""
    if not isinstance(inputs.mode, CampaignMode):
        try:
            CampaignMode(inputs.mode)
        except ValueError:
            raise ValueError(f"mode: expected one of {[m.value for m in CampaignMode]}, got {inputs.mode!r}") from None
    if isinstance(inputs.now_s, bool) or not isinstance(inputs.now_s, (int, float)) or not math.isfinite(inputs.now_s):
        raise ValueError(f"now_s: expected a finite number of seconds, got {inputs.now_s!r}")
    for name in (
        "agents_free",
        "calls_waiting_for_agent",
        "recent_live_count",
        "recent_machine_count",
        "recent_no_answer_count",
        "recent_busy_failed_count",
        "window_live_count",
        "window_abandoned_count",
        "min_outcome_samples",
        "feedback_prior_calls",
    ):
        _check_count(name, getattr(inputs, name))
    arrays: dict[str, np.ndarray] = {}
    for name in (
        "agents_talking_elapsed_s",
        "agents_wrapup_elapsed_s",
        "talk_samples_s",
        "wrapup_samples_s",
        "ringing_ages_s",
        "answer_delay_samples_s",
    ):
        arrays[name] = _check_samples(name, getattr(inputs, name))
    _check_seconds("ring_timeout_s", inputs.ring_timeout_s, positive=True)
    _check_seconds("connect_limit_s", inputs.connect_limit_s)
    _check_ratio("abandon_cap_ratio", inputs.abandon_cap_ratio)
    _check_ratio("amd_false_positive_ratio", inputs.amd_false_positive_ratio, below_one=True)
    _check_ratio("safety_margin_ratio", inputs.safety_margin_ratio)
    if not isinstance(inputs.checkpoints_s, tuple) or not inputs.checkpoints_s:
        raise ValueError("checkpoints_s: expected a non-empty tuple of seconds")
    for checkpoint_s in inputs.checkpoints_s:
        _check_seconds("checkpoints_s", checkpoint_s)
    mlpa = inputs.max_lines_per_agent
    if isinstance(mlpa, bool) or not isinstance(mlpa, (int, float)) or not math.isfinite(mlpa) or mlpa < 1:
        raise ValueError(f"max_lines_per_agent: expected a finite number >= 1, got {mlpa!r}")
    return arrays


def _cdf(sorted_s: np.ndarray, x_s: np.ndarray) -> np.ndarray:
    """Empirical CDF of ``sorted_s`` at every point of ``x_s``."""
    return np.searchsorted(sorted_s, x_s, side="right") / len(sorted_s)


def _poisson_binomial_pmfs(probs: np.ndarray) -> list[np.ndarray]:
    """Per interval (column): the pmf of sum_i Bernoulli(probs[i, k]), one row of ``probs`` per term.

    Terms whose chance stays under ``_SMALL_P`` in every interval (most talking agents) are summed as one Poisson
    (Le Cam: the error is at most the sum of their squared chances), the others convolved exactly: O(terms) numpy
    operations only for the agents who are really about to be free.
    """
    if len(probs) == 0:
        return [np.ones(1) for _ in range(probs.shape[1])]
    small = probs.max(axis=1) < _SMALL_P
    big = probs[~small]
    pmfs = np.zeros((probs.shape[1], len(big) + 1))
    pmfs[:, 0] = 1.0
    for count, p in enumerate(big, start=1):
        column = p[:, None]
        pmfs[:, 1 : count + 1] = pmfs[:, 1 : count + 1] * (1.0 - column) + pmfs[:, :count] * column
        pmfs[:, 0] *= 1.0 - p
    small_means = probs[small].sum(axis=0)
    return [np.convolve(pmfs[k], _poisson_pmf(float(small_means[k]))) for k in range(probs.shape[1])]


_SMALL_P = 0.2
_FEEDBACK_GAIN = 2.0
_MARGINAL_START = 2.0


def _poisson_pmf(mean: float) -> np.ndarray:
    if mean <= 0.0:
        return np.ones(1)
    size = min(len(_LOG_FACTORIALS), int(mean + 8.0 * math.sqrt(mean) + 10.0))
    return np.exp(np.arange(size) * math.log(mean) - mean - _LOG_FACTORIALS[:size])


def _binomial_pmf(trials: int, p: float) -> np.ndarray:
    if trials <= 0 or p <= 0.0:
        return np.ones(1)
    if p >= 1.0:
        pmf = np.zeros(trials + 1)
        pmf[trials] = 1.0
        return pmf
    k = np.arange(trials + 1)
    log_comb = _LOG_FACTORIALS[trials] - _LOG_FACTORIALS[: trials + 1] - _LOG_FACTORIALS[trials - k]
    return np.exp(log_comb + k * math.log(p) + (trials - k) * math.log1p(-p))


_LOG_FACTORIALS = np.array([math.lgamma(k + 1) for k in range(2048)], dtype=np.float64)


class _Queue:
    """Expected abandons of the calls in flight plus ``n`` new dials, by a Lindley recursion over the checkpoints.

    With the greedy rule (a live answer takes any agent free by its verdict + the connect limit; an agent stays
    free until taken) the abandons are ``max_t (L(t) - A(t + limit))+``: the running maximum, not the maximum of the
    expectations (which underestimates by half or more when answers and free agents interleave). Between two
    checkpoints the spare agents change by ``dA - dL``; the recursion ``spare = (spare + dA - dL)+``, abandons
    ``+= (dL - dA - spare)+`` is carried on the whole distribution of ``spare``. ``dA`` per interval is the
    Poisson-binomial of the agents' chances of freeing in it (exact for the agents about to be free, one Poisson for
    the many with small chances); ``dL`` is binomial: the ``m`` calls in flight with their mean chance (the binomial
    is the most spread of the sums with that mean, Hoeffding, so it errs on the safe side) plus ``n`` new dials with
    the measured live share of that interval. Increments of different intervals are taken as independent.
    """

    __slots__ = ("agents_free", "certain_live", "agent_pmfs", "in_flight_pmfs", "new_shares")

    def __init__(
        self,
        *,
        agents_free: int,
        certain_live: int,
        agent_pmfs: list[np.ndarray],
        in_flight_count: int,
        in_flight_means: np.ndarray,
        new_shares: np.ndarray,
    ) -> None:
        self.agents_free = agents_free
        self.certain_live = certain_live
        self.agent_pmfs = agent_pmfs
        self.new_shares = new_shares
        self.in_flight_pmfs: list[np.ndarray] = []
        for k, mean in enumerate(in_flight_means):
            pmf = _binomial_pmf(in_flight_count, float(mean) / in_flight_count) if in_flight_count else np.ones(1)
            if k == 0 and certain_live:
                pmf = np.concatenate((np.zeros(certain_live), pmf))
            self.in_flight_pmfs.append(pmf)

    def expected_abandons(self, new_dials: int, new_live_ratio: float) -> float:
        spare = np.zeros(self.agents_free + 1)
        spare[self.agents_free] = 1.0
        abandons = 0.0
        for k in range(len(self.new_shares)):
            live = self.in_flight_pmfs[k]
            if new_dials and self.new_shares[k] > 0:
                live = np.convolve(live, _binomial_pmf(new_dials, new_live_ratio * float(self.new_shares[k])))
            with_agents = np.convolve(spare, self.agent_pmfs[k])
            if len(live) == 1:
                spare = with_agents
                continue
            # value v = spare + dA - dL; index i of the convolution holds v = i - (len(live) - 1)
            change = np.convolve(with_agents, live[::-1])
            below = len(live) - 1
            shortfall = change[:below]
            abandons += float(shortfall @ np.arange(below, 0, -1))
            spare = change[below:].copy()
            spare[0] += shortfall.sum()
            # Trim negligible tails so the arrays stay as short as the agents that can really be spare.
            nonzero = np.nonzero(spare > 1e-12)[0]
            if len(nonzero):
                spare = spare[: nonzero[-1] + 1]
        return abandons


def _pct(ratio: float) -> str:
    text = f"{ratio * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def decide(inputs: PacingInputs) -> PacingDecision:
    """The pacing decision for ``inputs`` (raises ValueError naming the field on bad input)."""
    arrays = validate(inputs)
    mode = CampaignMode(inputs.mode)
    calls_in_flight = len(inputs.ringing_ages_s)
    agents_logged_in = inputs.agents_free + len(inputs.agents_talking_elapsed_s) + len(inputs.agents_wrapup_elapsed_s)
    progressive = max(0, inputs.agents_free - calls_in_flight - inputs.calls_waiting_for_agent)

    outcomes = (
        inputs.recent_live_count
        + inputs.recent_machine_count
        + inputs.recent_no_answer_count
        + inputs.recent_busy_failed_count
    )
    live_ratio = inputs.recent_live_count / outcomes if outcomes else 0.0
    machine_ratio = inputs.recent_machine_count / outcomes if outcomes else 0.0
    no_answer_ratio = inputs.recent_no_answer_count / outcomes if outcomes else 0.0
    busy_failed_ratio = inputs.recent_busy_failed_count / outcomes if outcomes else 0.0

    cap = inputs.abandon_cap_ratio
    f = inputs.amd_false_positive_ratio
    fp_per_live = f / (1.0 - f)  # people hung up on as machines, per live verdict (Ofcom's estimate)
    window_fp = inputs.window_live_count * fp_per_live
    window_denominator = inputs.window_live_count + window_fp
    window_numerator = inputs.window_abandoned_count + window_fp
    window_ratio = window_numerator / window_denominator if window_denominator > 0 else 0.0
    slack_calls = cap * window_denominator - window_numerator
    budget_left_ratio = max(0.0, cap - window_ratio) if window_denominator > 0 else cap

    def finish(
        dial_count: int,
        fallback: str | None,
        *,
        soon_free: float = 0.0,
        horizon_s: float = 0.0,
        in_flight_live: float = 0.0,
        new_live: float = 0.0,
        expected_abandons: float = 0.0,
        expected_fp: float = 0.0,
        allowed: float = 0.0,
        marginal: float = 0.0,
        marginal_limit: float = 0.0,
    ) -> PacingDecision:
        budget = f"budget {_pct(budget_left_ratio)} of {_pct(cap)} left"
        if mode is CampaignMode.PREVIEW:
            why = f"preview: the agent dials ({inputs.agents_free} free) -> dial 0"
        elif mode is CampaignMode.PROGRESSIVE:
            why = f"progressive: {inputs.agents_free} free, {calls_in_flight} in flight -> dial {dial_count}"
        elif fallback is not None:
            why = (
                f"{inputs.agents_free} free, {calls_in_flight} in flight, {budget}; {fallback}: "
                f"one call per free agent -> dial {dial_count}"
            )
        else:
            why = (
                f"{inputs.agents_free} free, {soon_free:.1f} about to be free in {horizon_s:.0f} s, "
                f"{calls_in_flight} in flight, answer rate {_pct(live_ratio)} live, {budget} "
                f"-> dial {dial_count} (last call's abandon risk {_pct(marginal)} of {_pct(marginal_limit)} allowed, "
                f"expected abandons {expected_abandons:.2f})"
            )
        return PacingDecision(
            inputs=inputs,
            dial_count=dial_count,
            mode=mode,
            progressive_count=progressive,
            fallback=fallback,
            calls_in_flight=calls_in_flight,
            agents_logged_in=agents_logged_in,
            agents_soon_free_expected=soon_free,
            horizon_s=horizon_s,
            live_ratio=live_ratio,
            machine_ratio=machine_ratio,
            unanswered_ratio=no_answer_ratio + busy_failed_ratio,
            in_flight_live_expected=in_flight_live,
            new_live_expected=new_live,
            expected_abandons=expected_abandons,
            expected_amd_false_positives=expected_fp,
            allowed_abandons=allowed,
            marginal_abandon_ratio=marginal,
            marginal_limit_ratio=marginal_limit,
            window_abandon_ratio=window_ratio,
            budget_left_ratio=budget_left_ratio,
            why=why,
        )

    if mode is CampaignMode.PREVIEW or agents_logged_in == 0:
        return finish(0, None if mode is CampaignMode.PREVIEW else "no agents logged in")
    if mode is CampaignMode.PROGRESSIVE:
        return finish(progressive, None)
    if window_denominator > 0 and slack_calls <= 0:
        return finish(progressive, "abandon budget spent")
    if (
        outcomes < inputs.min_outcome_samples
        or len(inputs.talk_samples_s) < MIN_DISTRIBUTION_SAMPLES
        or len(inputs.wrapup_samples_s) < MIN_DISTRIBUTION_SAMPLES
        or len(inputs.answer_delay_samples_s) < MIN_DISTRIBUTION_SAMPLES
    ):
        return finish(progressive, "warming up (too few measurements)")
    target_ratio = cap * (1.0 - inputs.safety_margin_ratio)
    # Dropped calls per live verdict that keep (drops + fp) / (live + fp) at the target, fp = live x fp_per_live.
    drop_target_ratio = target_ratio * (1.0 + fp_per_live) - fp_per_live
    if drop_target_ratio <= 0.0 or live_ratio == 0.0:
        reason = "AMD false positives alone fill the cap" if live_ratio > 0 else "no live answers measured"
        return finish(progressive, reason)
    # Feedback from what the window really did: the drops per live call so far, shrunk towards the target by a
    # prior of ``feedback_prior_calls`` calls (early in the day a few calls say little), scale the limit by
    # (target / measured)^2 (within [1/4, 4]). The model's own errors (the receding horizon does not see the dials
    # of the next seconds; the binomial and independence approximations are pessimistic) differ with team size:
    # this integral feedback brings the window's rate to the target whatever their sign, slowly enough (it moves
    # with the window's counts, not with each second) not to oscillate.
    prior = inputs.feedback_prior_calls
    measured_drop_ratio = (inputs.window_abandoned_count + prior * drop_target_ratio) / (
        inputs.window_live_count + prior
    )
    correction = (drop_target_ratio / measured_drop_ratio) ** _FEEDBACK_GAIN if measured_drop_ratio > 0 else 4.0
    # The last call's own risk may be above the average the window must keep (the first calls of a batch carry
    # less): start at twice the target, and let the feedback move it within [1/2, 8] x the target.
    marginal_limit_ratio = drop_target_ratio * _MARGINAL_START * min(4.0, max(0.25, correction))

    delay_sorted = np.sort(arrays["answer_delay_samples_s"])
    talk_sorted = np.sort(arrays["talk_samples_s"])
    wrap_sorted = np.sort(arrays["wrapup_samples_s"])
    times_s = np.asarray(sorted(inputs.checkpoints_s), dtype=np.float64)
    horizons_s = times_s + inputs.connect_limit_s  # an answer at t needs an agent free by t + the limit

    # P(busy agent free by each horizon | elapsed), one row per agent (see the module docstring).
    rows: list[np.ndarray] = []
    if inputs.agents_wrapup_elapsed_s:
        elapsed = arrays["agents_wrapup_elapsed_s"]
        below = _cdf(wrap_sorted, elapsed)
        done = _cdf(wrap_sorted, elapsed[:, None] + horizons_s[None, :]) - below[:, None]
        done = np.clip(done, 0.0, None) / np.maximum(1e-12, 1.0 - below[:, None])
        rows.append(np.where(below[:, None] < 1.0, done, 0.0))
    if inputs.agents_talking_elapsed_s:
        elapsed = arrays["agents_talking_elapsed_s"]
        wrap_q = wrap_sorted[[min(len(wrap_sorted) - 1, int(q * len(wrap_sorted))) for q in _WRAP_QUANTILES]]
        below = _cdf(talk_sorted, elapsed)
        ends = elapsed[:, None, None] + horizons_s[None, :, None] - wrap_q[None, None, :]
        done = np.clip(_cdf(talk_sorted, ends) - below[:, None, None], 0.0, None).mean(axis=2)
        rows.append(np.where(below[:, None] < 1.0, done / np.maximum(1e-12, 1.0 - below[:, None]), 0.0))
    free_by = np.concatenate(rows) if rows else np.zeros((0, len(times_s)))
    free_in = np.diff(free_by, axis=1, prepend=0.0).clip(0.0, 1.0)  # freeing inside each interval
    agent_pmfs = _poisson_binomial_pmfs(free_in)

    # Calls in flight: P(live verdict inside each interval | unresolved at its age) (Bayes over the measured mix).
    ages = arrays["ringing_ages_s"]
    survive = 1.0 - _cdf(delay_sorted, ages)
    unresolved = (
        (live_ratio + machine_ratio) * survive
        + np.where(ages < inputs.ring_timeout_s, no_answer_ratio, 0.0)
        + np.where(ages < BUSY_FAILED_RESOLVED_S, busy_failed_ratio, 0.0)
    )
    weight = np.where(unresolved > 0, live_ratio / np.maximum(unresolved, 1e-12), 0.0)
    live_by = _cdf(delay_sorted, ages[:, None] + times_s[None, :]) - (1.0 - survive)[:, None]
    in_flight_means = (np.diff(live_by, axis=1, prepend=0.0).clip(0.0, None) * weight[:, None]).sum(axis=0)
    in_flight_live = inputs.calls_waiting_for_agent + float((weight * survive).sum())
    delay_by = _cdf(delay_sorted, times_s)
    new_shares = np.diff(delay_by, prepend=0.0)
    queue = _Queue(
        agents_free=inputs.agents_free,
        certain_live=inputs.calls_waiting_for_agent,
        agent_pmfs=agent_pmfs,
        in_flight_count=len(ages),
        in_flight_means=in_flight_means if len(ages) else np.zeros(len(times_s)),
        new_shares=new_shares,
    )
    # "About to be free" on the page: busy agents expected free by the median answer (+ the connect limit).
    median_index = int(np.searchsorted(times_s, float(delay_sorted[len(delay_sorted) // 2])))
    median_index = min(median_index, len(times_s) - 1)
    soon_free = float(free_by[:, median_index].sum()) if len(free_by) else 0.0
    horizon_s = float(horizons_s[median_index])

    max_lines = math.ceil(inputs.max_lines_per_agent * agents_logged_in)
    max_new = max(0, max_lines - calls_in_flight - inputs.calls_waiting_for_agent)
    abandons_memo: dict[int, float] = {}

    def abandons(n: int) -> float:
        if n not in abandons_memo:
            abandons_memo[n] = queue.expected_abandons(n, live_ratio)
        return abandons_memo[n]

    def window_allowed(n: int) -> float:
        """Abandons (with AMD false positives) the window can still take with n new dials, staying under the cap."""
        expected_live = in_flight_live + n * live_ratio
        fp = expected_live * fp_per_live
        return cap * (window_denominator + expected_live + fp) - window_numerator - fp

    def fits(n: int) -> bool:
        # The n-th call's risk of being a live answer left without an agent: the marginal expected abandons per
        # live answer it brings. Dialling while that risk is under the limit equalises the price paid in abandons
        # for each extra connect (the Lagrangian optimum), instead of letting one batch's average hide a last call
        # that is almost sure to be abandoned. The law's line (the window under the cap) holds whatever the limit.
        marginal = (abandons(n) - abandons(n - 1)) / live_ratio
        return marginal <= marginal_limit_ratio and abandons(n) <= window_allowed(n)

    # Expected abandons are convex in n (each extra dial adds its live share times P(no agent left), which grows
    # with n), so the marginal risk grows with n and the counts that fit form an interval [0, n*]: doubling, then
    # bisection, in O(log n*) evaluations.
    chosen = 0
    if max_new > 0 and fits(1):
        low, high = 1, 2
        while high <= max_new and fits(high):
            low, high = high, high * 2
        high = min(high, max_new + 1)
        while high - low > 1:
            middle = (low + high) // 2
            if fits(middle):
                low = middle
            else:
                high = middle
        chosen = low
    expected_live = in_flight_live + chosen * live_ratio
    fp = expected_live * fp_per_live
    total_ab = abandons(chosen) + fp
    allowed = window_allowed(chosen) + fp
    marginal_ratio = (abandons(chosen) - abandons(chosen - 1)) / live_ratio if chosen else 0.0
    dial_count = max(progressive, chosen)
    return finish(
        dial_count,
        None,
        soon_free=soon_free,
        horizon_s=horizon_s,
        in_flight_live=in_flight_live,
        new_live=chosen * live_ratio,
        expected_abandons=total_ab - fp,
        expected_fp=fp,
        allowed=allowed,
        marginal=marginal_ratio,
        marginal_limit=marginal_limit_ratio,
    )
