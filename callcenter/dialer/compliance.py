"""The law and the campaign's own rules, checked immediately before each dial (pure; docs/dialer.md says where each
rule comes from).

- Abandoned calls: at most ``cap_pct`` (3 %) of live-answered calls over ``window_s`` per campaign: 24 h for Ofcom
  (with a reasoned estimate of answering-machine-detection false positives counted as abandons), 30 days for the FTC
  Telemarketing Sales Rule (16 CFR 310.4(b)(4)(i)). ``abandon_budget`` tells the pacing how many more it may risk.
- A number whose call was abandoned is not called again within 72 h unless an agent is reserved for it (Ofcom).
- Ring at least 15 s before giving up (FTC 310.4(b)(4)(ii); Ofcom): ``check_ring_s``.
- A caller id that can be called back (Ofcom CLI guidance; FTC 310.4(a)(8)): ``check_caller_id``.
- Retry rules per outcome (delay, maximum), a maximum per number, and what happens after the last attempt.
- Do-not-call lists (system-wide and per campaign), the contact's / lead's do_not_call flag and consent.

``may_dial`` takes everything as data (the adapters read it: callcenter.dialer.dnc_store reads the lists and flags in
one query), so the same function decides in the service, the simulator and the tests.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from callcenter.dialer.number_facts import number_facts
from callcenter.dialer.outcomes import LIVE_ANSWERED, RETRYABLE, AttemptOutcome
from callcenter.dialer.verdict import Permit, Reason, Refusal
from callcenter.dialer.windows import DEFAULT_WINDOWS, CallingWindows, load_zone, permitted
from crm_core.models import CallConsent
from crm_core.phones import is_withheld

__all__ = [
    "FTC_WINDOW_S", "INFORMATION_MESSAGE_WITHIN_S", "MAX_ABANDON_PCT", "MIN_REDIAL_AFTER_ABANDON_S", "MIN_RING_S",
    "OFCOM_WINDOW_S", "RULED_OUTCOMES", "AbandonCounts", "AbandonPolicy", "AfterLast", "ConsentRule", "DialFacts",
    "DialRules", "LawSettings", "PastAttempt", "RetryRule", "RetryRules", "abandon_budget", "abandon_rate_pct",
    "check_caller_id", "check_ring_s", "count_window", "may_dial", "retry_verdict",
]

MAX_ABANDON_PCT = 3.0  # Ofcom (per campaign, 24 h) and FTC TSR (per campaign, 30 days): no override is accepted
OFCOM_WINDOW_S = 24 * 3600
FTC_WINDOW_S = 30 * 24 * 3600
MIN_WINDOW_S = 3600  # shorter than an hour is not a rate any regulator measures
MIN_RING_S = 15.0
MAX_RING_S = 120.0
MIN_REDIAL_AFTER_ABANDON_S = 72 * 3600
# For the execution: a live answer not given to an agent within this long after the greeting gets the recorded
# information message and counts as abandoned (Ofcom; FTC 310.4(b)(4)(iii)).
INFORMATION_MESSAGE_WITHIN_S = 2.0
# Caller-id number types that cannot be a callback number a person can reasonably call (Ofcom: no premium rate CLI).
_NOT_CALLBACK = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.UNKNOWN})


# -- abandoned calls ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbandonPolicy:
    """Abandoned calls over live-answered calls, per campaign, over a rolling ``window_s``.

    ``amd_false_positive_rate``: the share of calls answering-machine detection called a machine that were in fact a
    person (who then heard silence or a hang-up): Ofcom counts them as abandoned. Ofcom fixes no figure and expects a
    reasoned, measured one; 0.1 is a cautious starting point until the campaign measures its own."""

    window_s: float = OFCOM_WINDOW_S
    cap_pct: float = MAX_ABANDON_PCT
    amd_false_positive_rate: float = 0.1

    def __post_init__(self) -> None:
        if not MIN_WINDOW_S <= self.window_s <= FTC_WINDOW_S:
            raise ValueError(f"window_s must be between {MIN_WINDOW_S} (1 h) and {FTC_WINDOW_S} (30 days)")
        if not 0 < self.cap_pct <= MAX_ABANDON_PCT:
            raise ValueError(f"cap_pct must be above 0 and at most {MAX_ABANDON_PCT} (the law's maximum)")
        if not 0 <= self.amd_false_positive_rate <= 1:
            raise ValueError("amd_false_positive_rate must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class AbandonCounts:
    """One campaign's calls that ended within the policy's window. ``live_answered`` includes the abandoned ones."""

    live_answered: int = 0
    abandoned: int = 0
    machine: int = 0  # answered by a machine according to AMD


def count_window(
    ended: Iterable[tuple[float, AttemptOutcome]], now_s: float, policy: AbandonPolicy
) -> AbandonCounts:
    """Counts over (now - window_s, now] from (ended_s, outcome) pairs of one campaign's attempts."""
    live = abandoned = machine = 0
    since_s = now_s - policy.window_s
    for ended_s, outcome in ended:
        if not since_s < ended_s <= now_s:
            continue
        if outcome in LIVE_ANSWERED:
            live += 1
            abandoned += outcome is AttemptOutcome.ABANDONED
        elif outcome is AttemptOutcome.MACHINE:
            machine += 1
    return AbandonCounts(live, abandoned, machine)


def _false_positives(counts: AbandonCounts, policy: AbandonPolicy) -> float:
    return counts.machine * policy.amd_false_positive_rate


def abandon_rate_pct(counts: AbandonCounts, policy: AbandonPolicy) -> float:
    """Ofcom's rate: (abandoned + estimated AMD false positives) / (live answered + estimated AMD false positives)."""
    fp = _false_positives(counts, policy)
    denominator = counts.live_answered + fp
    return 0.0 if denominator == 0 else 100.0 * (counts.abandoned + fp) / denominator


def abandon_budget(counts: AbandonCounts, policy: AbandonPolicy) -> float:
    """How many more abandoned calls the window can take now without going over the cap (never negative).

    Each further abandon is also a further live answer, so x more are allowed while
    (A + fp + x) / (L + fp + x) <= c, i.e. x <= (c (L + fp) - (A + fp)) / (1 - c). With no live answers yet the
    budget is 0: the first call of the day cannot be risked, whatever comes later (the rate is measured over the
    window as it stands, not as it may end)."""
    cap = policy.cap_pct / 100.0
    fp = _false_positives(counts, policy)
    return max(0.0, (cap * (counts.live_answered + fp) - (counts.abandoned + fp)) / (1.0 - cap))


# -- ring time and caller id ----------------------------------------------------------------------------------------


def check_ring_s(ring_s: float) -> float:
    if not isinstance(ring_s, (int, float)) or math.isnan(ring_s):
        raise ValueError("ring time must be a number of seconds")
    if ring_s < MIN_RING_S:
        raise ValueError(f"must ring at least {MIN_RING_S:g} s before giving up (got {ring_s:g} s)")
    if ring_s > MAX_RING_S:
        raise ValueError(f"must be at most {MAX_RING_S:g} s (got {ring_s:g} s)")
    return float(ring_s)


def check_caller_id(raw: str) -> str:
    """The campaign's caller id as E.164, or ValueError: it must be shown (not withheld), be written in E.164 (+ and
    the country code, nothing else), be a valid number, and be one a person can call back (not premium rate)."""
    if not isinstance(raw, str) or is_withheld(raw):
        raise ValueError("a caller id is required: calls may not withhold it")
    if not raw.startswith("+") or not raw[1:].isascii() or not raw[1:].isdigit():
        raise ValueError(f"must be an E.164 number (+ and digits only), got {raw!r}")
    try:
        number = phonenumbers.parse(raw, None)
    except NumberParseException as exc:
        raise ValueError(f"is not a phone number: {exc}") from None
    if phonenumbers.format_number(number, PhoneNumberFormat.E164) != raw or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw} is not a valid, allocated phone number")
    if phonenumbers.number_type(number) in _NOT_CALLBACK:
        raise ValueError(f"{raw} cannot be the caller id: a premium-rate or unknown-type number cannot be called back")
    return raw


# -- retries --------------------------------------------------------------------------------------------------------

# Outcomes a campaign may have a retry rule for: the shared RETRYABLE, and an abandoned call (the callee answered
# and got only the information message: calling back is fair, after the 72 h the law asks for).
RULED_OUTCOMES = RETRYABLE | {AttemptOutcome.ABANDONED}


class AfterLast(enum.StrEnum):
    """What happens to a number once its attempts are used up."""

    CLOSE = "close"  # the number is done for this campaign
    AGENT_TASK = "agent_task"  # a callback task for the campaign's team (a person decides)


@dataclass(frozen=True, slots=True)
class RetryRule:
    delay_s: float  # after the end of the attempt with that outcome
    max_attempts: int  # attempts ending with that outcome, after which the number is not retried

    def __post_init__(self) -> None:
        if not 0 <= self.delay_s <= FTC_WINDOW_S:
            raise ValueError("delay_s must be between 0 and 30 days")
        if not 0 <= self.max_attempts <= 50:
            raise ValueError("max_attempts must be between 0 and 50")


DEFAULT_RETRY_RULES: Mapping[AttemptOutcome, RetryRule] = MappingProxyType({
    AttemptOutcome.NO_ANSWER: RetryRule(delay_s=2 * 3600, max_attempts=4),
    AttemptOutcome.BUSY: RetryRule(delay_s=10 * 60, max_attempts=3),
    AttemptOutcome.FAILED: RetryRule(delay_s=30 * 60, max_attempts=2),
    AttemptOutcome.MACHINE: RetryRule(delay_s=4 * 3600, max_attempts=2),
    AttemptOutcome.ABANDONED: RetryRule(delay_s=MIN_REDIAL_AFTER_ABANDON_S, max_attempts=1),
})


@dataclass(frozen=True, slots=True)
class RetryRules:
    """Per outcome: delay and maximum; an outcome without a rule is not retried. ``max_attempts_per_number``: all
    attempts to one number in this campaign, whatever they ended with."""

    rules: Mapping[AttemptOutcome, RetryRule] = field(default_factory=lambda: DEFAULT_RETRY_RULES)
    max_attempts_per_number: int = 6
    after_last: AfterLast = AfterLast.CLOSE

    def __post_init__(self) -> None:
        stray = set(self.rules) - RULED_OUTCOMES
        if stray:
            raise ValueError(f"no retry rule may be set for {sorted(stray)}: they end the number")
        if not 1 <= self.max_attempts_per_number <= 50:
            raise ValueError("max_attempts_per_number must be between 1 and 50")


@dataclass(frozen=True, slots=True)
class PastAttempt:
    """One earlier attempt of this campaign to this number. ``outcome`` None: still going on."""

    ended_s: float | None
    outcome: AttemptOutcome | None


_NO_RETRY_RULE_APPLIES = Permit()  # frozen: one for every number never tried


def retry_verdict(now_s: float, attempts: Sequence[PastAttempt], rules: RetryRules) -> Permit | Refusal:
    """May this number be dialled again by this campaign now, by its retry rules? ``attempts`` oldest first."""
    if not attempts:
        return _NO_RETRY_RULE_APPLIES
    if any(a.outcome is None or a.ended_s is None for a in attempts):
        return Refusal(Reason.IN_FLIGHT, "an attempt to this number is still going on")
    last = attempts[-1]
    assert last.outcome is not None and last.ended_s is not None  # for the type checker: ruled out just above
    rule = rules.rules.get(last.outcome)
    if rule is None:
        return Refusal(Reason.FINISHED, f"the last attempt ended {last.outcome.value}, which is not retried")
    if len(attempts) >= rules.max_attempts_per_number:
        return Refusal(Reason.MAX_ATTEMPTS, f"{len(attempts)} attempts: the campaign's maximum per number")
    same = sum(1 for a in attempts if a.outcome is last.outcome)
    if same >= rule.max_attempts:
        return Refusal(Reason.MAX_ATTEMPTS, f"{same} attempts ended {last.outcome.value}: the rule's maximum")
    due_s = last.ended_s + rule.delay_s
    if now_s < due_s:
        return Refusal(Reason.RETRY_TOO_SOON, f"retry after {last.outcome.value} is due later", due_s)
    return Permit()


# -- do-not-call, consent and the whole check ------------------------------------------------------------------------


class ConsentRule(enum.StrEnum):
    """Which consent a campaign needs. Refused consent, and a do_not_call flag, always block."""

    GRANTED = "granted"  # only people who said yes (marketing): the default
    NOT_REFUSED = "not_refused"  # also unknown (service calls: an overdue invoice, an appointment)


@dataclass(frozen=True, slots=True)
class LawSettings:
    abandon: AbandonPolicy = AbandonPolicy()
    ring_s: float = 25.0  # above the 15 s minimum: fewer "no answer" hang-ups on people reaching for the phone
    redial_after_abandon_s: float = MIN_REDIAL_AFTER_ABANDON_S
    consent: ConsentRule = ConsentRule.GRANTED

    def __post_init__(self) -> None:
        check_ring_s(self.ring_s)
        if not MIN_REDIAL_AFTER_ABANDON_S <= self.redial_after_abandon_s <= FTC_WINDOW_S:
            raise ValueError("redial_after_abandon_s must be at least 72 h (and at most 30 days)")


@dataclass(frozen=True, slots=True)
class DialRules:
    """A campaign's rules as may_dial reads them (callcenter.dialer.campaign builds them from its definition)."""

    windows: CallingWindows = DEFAULT_WINDOWS
    fallback_zone: str | None = None
    retry: RetryRules = RetryRules()
    law: LawSettings = LawSettings()

    def __post_init__(self) -> None:
        if self.fallback_zone is not None and load_zone(self.fallback_zone) is None:
            raise ValueError(f"fallback_zone {self.fallback_zone!r} is not a known IANA time zone")


@dataclass(frozen=True, slots=True)
class DialFacts:
    """What is known about one number immediately before it is dialled."""

    e164: str
    on_system_dnc: bool = False
    on_campaign_dnc: bool = False
    record_do_not_call: bool = False  # the contact's / lead's flag
    consent: CallConsent = CallConsent.UNKNOWN
    zone: str | None = None  # the contact's own time zone, if the CRM knows it
    attempts: tuple[PastAttempt, ...] = ()  # this campaign's to this number, oldest first
    last_abandoned_s: float | None = None  # the latest abandoned call to this number, by any campaign
    agent_reserved: bool = False  # an agent waits for this call (preview / progressive, or a reserved redial)

    def __post_init__(self) -> None:
        if type(self.consent) is not CallConsent:  # the enum already (a dial list's rows): no lookup per row
            object.__setattr__(self, "consent", CallConsent(self.consent))  # "refused" as read from a row is the enum


def may_dial(now_s: float, facts: DialFacts, rules: DialRules) -> Permit | Refusal:
    """Permit, or the first refusal, in this order: the number itself, the lists and flags (never waited out), the
    retry rules, the 72 h after an abandon, the calling window. A Permit carries when the window closes."""
    invalid = _invalid_number(facts.e164)
    if invalid:
        return Refusal(Reason.INVALID_NUMBER, invalid)
    if facts.on_system_dnc:
        return Refusal(Reason.DNC_SYSTEM, "on the system-wide do-not-call list")
    if facts.on_campaign_dnc:
        return Refusal(Reason.DNC_CAMPAIGN, "on this campaign's do-not-call list")
    if facts.record_do_not_call:
        return Refusal(Reason.DNC_RECORD, "the contact or lead is marked do not call")
    if facts.consent is CallConsent.REFUSED:
        return Refusal(Reason.NO_CONSENT, "the person refused calls")
    if rules.law.consent is ConsentRule.GRANTED and facts.consent is not CallConsent.GRANTED:
        return Refusal(Reason.NO_CONSENT, "the campaign calls only people who granted consent")
    retry = retry_verdict(now_s, facts.attempts, rules.retry)
    if isinstance(retry, Refusal):
        return retry
    if facts.last_abandoned_s is not None and not facts.agent_reserved:
        free_s = facts.last_abandoned_s + rules.law.redial_after_abandon_s
        if now_s < free_s:
            detail = "abandoned less than 72 h ago: only with a reserved agent"
            return Refusal(Reason.ABANDONED_RECENTLY, detail, free_s)
    return permitted(now_s, facts.e164, rules.windows, zone=facts.zone, fallback_zone=rules.fallback_zone)


def _invalid_number(e164: str) -> str:
    if not isinstance(e164, str) or not e164.startswith("+"):
        return f"{e164!r} is not an E.164 number"
    facts = number_facts(e164)  # parsed once per number and cached: a list is walked on every pass
    if facts.parse_error is not None:
        return f"{e164!r} is not a phone number: {facts.parse_error}"
    # Lists are keyed on the canonical form: a number written otherwise could slip past its do-not-call entry.
    if not facts.canonical:
        return f"{e164!r} is not in canonical E.164 form"
    if not facts.valid:
        return f"{e164} is not a valid, allocated number"
    return ""
