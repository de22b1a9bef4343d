"""Each rule of the law and of the campaign, one by one: the abandon rate and budget (Ofcom's false positives, the
window), 72 h after an abandon, ring time, caller id, retry rules, do-not-call and consent, and may_dial's order."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from callcenter.dialer.compliance import (
    FTC_WINDOW_S,
    AbandonCounts,
    AbandonPolicy,
    AfterLast,
    ConsentRule,
    DialFacts,
    DialRules,
    LawSettings,
    PastAttempt,
    RetryRule,
    RetryRules,
    abandon_budget,
    abandon_rate_pct,
    check_caller_id,
    check_ring_s,
    count_window,
    may_dial,
    retry_verdict,
)
from callcenter.dialer.outcomes import AttemptOutcome as O
from callcenter.dialer.verdict import Permit, Reason, Refusal
from crm_core.models import CallConsent

NUMBER = "+12125550123"  # New York
# Monday 2026-12-07 15:00 UTC = 10:00 in New York: inside the default window.
NOW = datetime(2026, 12, 7, 15, tzinfo=timezone.utc).timestamp()
H = 3600.0
NO_AMD = AbandonPolicy(amd_false_positive_rate=0.0)


def reason(verdict: Permit | Refusal) -> Reason:
    assert isinstance(verdict, Refusal), verdict
    return verdict.reason


def facts(**kw: object) -> DialFacts:
    return DialFacts(NUMBER, **{"consent": CallConsent.GRANTED, **kw})  # type: ignore[arg-type]


# -- abandoned calls ------------------------------------------------------------------------------------------------


def test_abandon_rate_counts_amd_false_positives_as_abandons() -> None:
    counts = AbandonCounts(live_answered=100, abandoned=2, machine=50)
    assert abandon_rate_pct(counts, NO_AMD) == pytest.approx(2.0)
    # 10 % of 50 machine calls were people: 5 more abandons and 5 more live answers -> 7 / 105.
    assert abandon_rate_pct(counts, AbandonPolicy(amd_false_positive_rate=0.1)) == pytest.approx(700 / 105)
    assert abandon_rate_pct(AbandonCounts(), NO_AMD) == 0.0


def test_abandon_budget_keeps_the_rate_at_or_under_the_cap() -> None:
    policy = NO_AMD
    assert abandon_budget(AbandonCounts(), policy) == 0.0  # no live answers yet: nothing can be risked
    counts = AbandonCounts(live_answered=1000, abandoned=10)
    budget = abandon_budget(counts, policy)
    # x more abandons (each also a live answer) reach exactly 3 %: (10 + x) / (1000 + x) = 0.03.
    assert budget == pytest.approx((30 - 10) / 0.97)
    whole = int(budget)
    at_budget = AbandonCounts(1000 + whole, 10 + whole)
    assert abandon_rate_pct(at_budget, policy) <= 3.0
    assert abandon_rate_pct(AbandonCounts(1000 + whole + 1, 10 + whole + 1), policy) > 3.0
    # Over the cap already: no budget, never negative.
    assert abandon_budget(AbandonCounts(100, 5), policy) == 0.0
    # False positives eat the budget: 200 machine calls at 10 % are 20 estimated abandons (and live answers):
    # (0.03 * 1020 - 30) / 0.97, under one call where there were 20.6.
    assert abandon_budget(AbandonCounts(1000, 10, machine=200), AbandonPolicy()) == pytest.approx(0.6 / 0.97)
    assert abandon_budget(AbandonCounts(1000, 10, machine=300), AbandonPolicy()) == 0.0
    # A stricter campaign cap leaves less.
    assert abandon_budget(counts, AbandonPolicy(cap_pct=1.5, amd_false_positive_rate=0)) == pytest.approx(5 / 0.985)


def test_counts_are_over_the_rolling_window_only() -> None:
    day = AbandonPolicy()
    ended = [
        (NOW - 25 * H, O.ABANDONED),  # outside 24 h
        (NOW - 24 * H, O.ABANDONED),  # exactly 24 h ago: outside (the window is (now - 24 h, now])
        (NOW - 23 * H, O.ABANDONED),
        (NOW - 1, O.CONNECTED),
        (NOW, O.CALLEE_HANGUP),
        (NOW - 2 * H, O.MACHINE),
        (NOW - 2 * H, O.NO_ANSWER),
        (NOW + 1, O.CONNECTED),  # in the future (clock skew): not counted
    ]
    assert count_window(ended, NOW, day) == AbandonCounts(live_answered=3, abandoned=1, machine=1)
    month = AbandonPolicy(window_s=FTC_WINDOW_S)
    assert count_window(ended, NOW, month) == AbandonCounts(live_answered=5, abandoned=3, machine=1)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"cap_pct": 5.0}, "at most 3"),
        ({"cap_pct": 3.01}, "at most 3"),
        ({"cap_pct": 0}, "above 0"),
        ({"window_s": 31 * 86_400}, "30 days"),
        ({"window_s": 60}, "1 h"),
        ({"amd_false_positive_rate": 1.5}, "between 0 and 1"),
    ],
)
def test_abandon_policy_refuses_what_the_law_does_not_allow(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AbandonPolicy(**kw)


def test_no_redial_within_72_hours_of_an_abandon_unless_an_agent_is_reserved() -> None:
    rules = DialRules()
    abandoned_s = NOW - 71 * H
    refused = may_dial(NOW, facts(last_abandoned_s=abandoned_s), rules)
    assert isinstance(refused, Refusal) and refused.reason is Reason.ABANDONED_RECENTLY
    assert refused.retry_at_s == abandoned_s + 72 * H
    assert isinstance(may_dial(NOW, facts(last_abandoned_s=abandoned_s, agent_reserved=True), rules), Permit)
    assert isinstance(may_dial(NOW, facts(last_abandoned_s=NOW - 73 * H), rules), Permit)
    with pytest.raises(ValueError, match="72 h"):
        LawSettings(redial_after_abandon_s=48 * H)


# -- ring time and caller id ----------------------------------------------------------------------------------------


def test_ring_time_at_least_15_seconds() -> None:
    assert check_ring_s(15) == 15.0 and LawSettings().ring_s >= 15
    for bad in (10, 14.9, 0, -1, float("nan"), 121):
        with pytest.raises(ValueError):
            check_ring_s(bad)
    with pytest.raises(ValueError, match="at least 15 s"):
        LawSettings(ring_s=10)


def test_caller_id_must_be_callable_back() -> None:
    assert check_caller_id("+442079460000") == "+442079460000"
    assert check_caller_id("+12125550123") == "+12125550123"
    cases = {
        "": "required",
        "anonymous": "required",
        "withheld": "required",
        "02079460000": "E.164",
        "+44 20 7946 0000": "E.164",
        "+4420794600001234": "valid",
        "+447700900123": "valid",  # an unallocated mobile range
        "+449098790000": "premium",  # UK 09: premium rate
        "+1900555012": "valid",
        "+١٢١٢٥٥٥٠١٢٣": "E.164",  # Arabic-Indic digits: not E.164 as written
    }
    for raw, message in cases.items():
        with pytest.raises(ValueError, match=message):
            check_caller_id(raw)
    with pytest.raises(ValueError):
        check_caller_id(None)  # type: ignore[arg-type]


# -- retries ----------------------------------------------------------------------------------------------------------


def test_retry_rules_per_outcome() -> None:
    rules = RetryRules(
        rules={O.NO_ANSWER: RetryRule(delay_s=2 * H, max_attempts=3), O.BUSY: RetryRule(delay_s=600, max_attempts=2)},
        max_attempts_per_number=4,
    )
    assert retry_verdict(NOW, (), rules) == Permit()
    one = (PastAttempt(NOW - H, O.NO_ANSWER),)
    too_soon = retry_verdict(NOW, one, rules)
    assert isinstance(too_soon, Refusal) and too_soon.reason is Reason.RETRY_TOO_SOON and too_soon.retry_at_s == NOW + H
    assert retry_verdict(NOW + H, one, rules) == Permit()
    busy = (PastAttempt(NOW - 601, O.BUSY),)
    assert retry_verdict(NOW, busy, rules) == Permit()
    busy_twice = (PastAttempt(NOW - 2 * H, O.BUSY), PastAttempt(NOW - 601, O.BUSY))
    assert reason(retry_verdict(NOW, busy_twice, rules)) is Reason.MAX_ATTEMPTS
    # The rule's maximum counts only its own outcome: a no-answer between busies does not reset it, nor count.
    mixed = (
        PastAttempt(NOW - 3 * H, O.BUSY), PastAttempt(NOW - 2.5 * H, O.NO_ANSWER), PastAttempt(NOW - 2 * H, O.NO_ANSWER)
    )
    assert retry_verdict(NOW, mixed, rules) == Permit()
    # The maximum per number, whatever the outcomes.
    four = mixed + (PastAttempt(NOW - 2 * H, O.BUSY),)
    assert reason(retry_verdict(NOW, four, rules)) is Reason.MAX_ATTEMPTS
    # An outcome without a rule (machine here) and one that can never be retried (connected) end the number.
    assert reason(retry_verdict(NOW, (PastAttempt(NOW - 9 * H, O.MACHINE),), rules)) is Reason.FINISHED
    assert reason(retry_verdict(NOW, (PastAttempt(NOW - 9 * H, O.CONNECTED),), rules)) is Reason.FINISHED
    # An attempt still going on: never a second one.
    assert reason(retry_verdict(NOW, (PastAttempt(None, None),), rules)) is Reason.IN_FLIGHT


def test_retry_defaults_and_configuration_checks() -> None:
    defaults = RetryRules()
    assert defaults.after_last is AfterLast.CLOSE and defaults.max_attempts_per_number == 6
    assert set(defaults.rules) == {O.NO_ANSWER, O.BUSY, O.FAILED, O.MACHINE, O.ABANDONED}
    assert defaults.rules[O.ABANDONED].delay_s >= 72 * H
    with pytest.raises(ValueError, match="end the number"):
        RetryRules(rules={O.CONNECTED: RetryRule(60, 1)})
    with pytest.raises(ValueError):
        RetryRule(delay_s=-1, max_attempts=1)
    with pytest.raises(ValueError):
        RetryRules(max_attempts_per_number=0)


# -- do-not-call, consent and may_dial --------------------------------------------------------------------------------


def test_lists_flags_and_consent_each_refuse_with_their_reason() -> None:
    rules = DialRules()
    assert isinstance(may_dial(NOW, facts(), rules), Permit)
    cases = {
        Reason.DNC_SYSTEM: facts(on_system_dnc=True),
        Reason.DNC_CAMPAIGN: facts(on_campaign_dnc=True),
        Reason.DNC_RECORD: facts(record_do_not_call=True),
        Reason.NO_CONSENT: facts(consent=CallConsent.REFUSED),
    }
    for expected, given in cases.items():
        verdict = may_dial(NOW, given, rules)
        assert isinstance(verdict, Refusal) and verdict.reason is expected and verdict.retry_at_s is None
    # Unknown consent: refused by the default (granted only), allowed by a service campaign; refused is always refused.
    assert reason(may_dial(NOW, facts(consent=CallConsent.UNKNOWN), rules)) is Reason.NO_CONSENT
    service = DialRules(law=LawSettings(consent=ConsentRule.NOT_REFUSED))
    assert isinstance(may_dial(NOW, facts(consent=CallConsent.UNKNOWN), service), Permit)
    assert reason(may_dial(NOW, facts(consent="refused"), service)) is Reason.NO_CONSENT
    # The flag wins over granted consent.
    assert reason(may_dial(NOW, facts(record_do_not_call=True), service)) is Reason.DNC_RECORD


def test_invalid_numbers_are_refused_before_anything_else() -> None:
    for bad in ("2125550123", "+1 212 555 0123", "+447700900123", "+1", "", "+12125550123x"):
        verdict = may_dial(NOW, DialFacts(bad, on_system_dnc=True), DialRules())
        assert isinstance(verdict, Refusal) and verdict.reason is Reason.INVALID_NUMBER, bad


def test_may_dial_order_and_window() -> None:
    rules = DialRules()
    # Everything wrong at once: the list is reported, not the time (a list is never waited out).
    everything = facts(on_campaign_dnc=True, last_abandoned_s=NOW, attempts=(PastAttempt(NOW, O.BUSY),))
    assert reason(may_dial(NOW + 12 * H, everything, rules)) is Reason.DNC_CAMPAIGN
    # Retry rules come before the 72 h rule, which comes before the window.
    night = NOW + 12 * H  # 22:00 in New York
    busy_just_now = facts(attempts=(PastAttempt(night - 60, O.BUSY),))
    assert reason(may_dial(night, busy_just_now, rules)) is Reason.RETRY_TOO_SOON
    assert reason(may_dial(night, facts(last_abandoned_s=night - H), rules)) is Reason.ABANDONED_RECENTLY
    outside = may_dial(night, facts(), rules)
    assert isinstance(outside, Refusal) and outside.reason is Reason.OUTSIDE_WINDOW
    assert outside.retry_at_s == datetime(2026, 12, 8, 14, tzinfo=timezone.utc).timestamp()
    # The contact's own zone and the campaign's fallback zone reach the window check.
    assert isinstance(may_dial(NOW, facts(zone="Asia/Tokyo"), rules), Refusal)  # midnight in Tokyo
    no_zone = "+80012345678"
    no_zone_facts = DialFacts(no_zone, consent=CallConsent.GRANTED)
    assert reason(may_dial(NOW, no_zone_facts, rules)) is Reason.NO_TIME_ZONE
    london = DialRules(fallback_zone="Europe/London")
    assert isinstance(may_dial(NOW, DialFacts(no_zone, consent=CallConsent.GRANTED), london), Permit)
    with pytest.raises(ValueError, match="fallback_zone"):
        DialRules(fallback_zone="Nowhere/Special")
