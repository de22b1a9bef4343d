"""The caches behind a dial list's verdicts change no verdict: may_dial through the number cache (number_facts) and the
verdict cache (windows) answers exactly as with both bypassed, over random numbers (valid, invalid, non-canonical,
junk), instants (DST days included), windows and zones; and one parse per number says what the two separate parses
said before (a reference copy of the code the cache replaced)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from unittest import mock

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import timezone as number_zones

from callcenter.dialer import number_facts, windows
from callcenter.dialer.compliance import DialFacts, DialRules, PastAttempt, _invalid_number, may_dial
from callcenter.dialer.outcomes import AttemptOutcome
from callcenter.dialer.verdict import Permit, Reason, Refusal
from callcenter.dialer.windows import DEFAULT_WINDOWS, WEEKDAYS, CallingWindows, callee_zones, load_zone
from crm_core.models import CallConsent

KNOWN = ("+12125550123", "+19075550123", "+79161234567", "+61412345678", "+80012345678", "+442079460101",
         "+4402079460101", "+4420", "+18005550123", "+12005550123", "+1 212 555 0123", "12125550123", "+", "")
CODES = ("1", "44", "49", "33", "61", "7", "91", "81", "55", "800", "979", "882", "999")
# Valid numbers with zones of every kind (one; two an hour apart; sixteen; half-hour offsets; with and without
# DST), the last four digits drawn.
VALID_PREFIXES = ("+1212555", "+1907555", "+1808555", "+1800555", "+7916123", "+6141234", "+44207946", "+3361234",
                  "+4930123", "+91981012", "+81901234")
valid_numbers = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(VALID_PREFIXES),
                          st.text(alphabet="0123456789", min_size=4, max_size=4))
other_numbers = st.one_of(
    st.sampled_from(KNOWN),
    st.builds(lambda cc, rest: f"+{cc}{rest}", st.sampled_from(CODES),
              st.text(alphabet="0123456789", min_size=1, max_size=13)),
    st.text(alphabet="+0123456789 -()x", max_size=16),
)
# Three in four valid: the calling window (the verdict cache) is judged only for those.
numbers = st.sampled_from((True, True, True, False)).flatmap(lambda valid: valid_numbers if valid else other_numbers)
# 2020-2035, whole seconds and not, so DST days (March, October, November) come up among them.
instants = st.one_of(st.integers(1_577_836_800, 2_082_758_400),
                     st.floats(1_577_836_800, 2_082_758_400, allow_nan=False))
hours = st.builds(lambda a, b: (f"{min(a, b) // 60:02d}:{min(a, b) % 60:02d}",
                                f"{max(a, b) // 60:02d}:{max(a, b) % 60:02d}"),
                  st.integers(0, 1439), st.integers(1, 1440)).filter(lambda h: h[0] < h[1])
calling_windows = st.one_of(
    st.just(DEFAULT_WINDOWS),
    # Random edges (minutes past the hour), most days: an edge may fall between two instants of one hour.
    st.builds(lambda h, days: CallingWindows.from_mapping({d: [h] for d in WEEKDAYS if d not in days}),
              hours, st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=2)),
    st.builds(lambda h, days: CallingWindows.from_mapping({d: [h] for d in days}),
              hours, st.lists(st.sampled_from(WEEKDAYS), unique=True)),
)
zones = st.one_of(st.none(), st.sampled_from(("Europe/London", "America/Adak", "Australia/Lord_Howe", "Not/AZone")))
outcomes = st.sampled_from(list(AttemptOutcome))


@contextmanager
def uncached() -> Iterator[None]:
    """may_dial with the number cache and the verdict cache bypassed: every call parses and computes afresh."""
    def judge(now_s: float, zones: tuple[str, ...], hours_of: CallingWindows) -> Permit | Refusal:
        return windows._judged.__wrapped__(tuple(zones), hours_of, now_s)

    with mock.patch.object(number_facts, "_cached", number_facts._facts), mock.patch.object(windows, "_judge", judge):
        yield


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(numbers, zones | st.none() | st.none(),
                          st.sampled_from(list(CallConsent)) | st.just(CallConsent.GRANTED), st.booleans()),
                min_size=1, max_size=8),
       instants, st.one_of(st.integers(1, 3600), st.floats(0.001, 120)), calling_windows, zones,
       st.lists(st.tuples(instants, outcomes), max_size=2) | st.just([]))
def test_cached_verdicts_are_the_uncached_ones(
    rows: list[tuple[str, str | None, CallConsent, bool]], first_s: float, later_s: float, hours_of: CallingWindows,
    fallback: str | None, tried: list[tuple[float, AttemptOutcome]],
) -> None:
    rules = DialRules(windows=hours_of, fallback_zone=fallback if fallback != "Not/AZone" else None)
    attempts = tuple(PastAttempt(ended_s, outcome) for ended_s, outcome in sorted(tried, key=lambda t: t[0]))
    checks = [DialFacts(e164=e164, consent=consent, zone=zone, agent_reserved=reserved, attempts=attempts)
              for e164, zone, consent, reserved in rows]
    # Twice at each of two instants (a window edge may lie between), so later calls read what earlier ones cached.
    moments = (first_s, first_s, first_s + later_s, first_s + later_s)
    cached = [may_dial(now_s, f, rules) for now_s in moments for f in checks]
    with uncached():
        fresh = [may_dial(now_s, f, rules) for now_s in moments for f in checks]
    assert cached == fresh


# -- the code the number cache replaced, kept here as the reference ---------------------------------------------------


def reference_invalid_number(e164: str) -> str:
    if not isinstance(e164, str) or not e164.startswith("+"):
        return f"{e164!r} is not an E.164 number"
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        return f"{e164!r} is not a phone number: {exc}"
    if phonenumbers.format_number(number, PhoneNumberFormat.E164) != e164:
        return f"{e164!r} is not in canonical E.164 form"
    if not phonenumbers.is_valid_number(number):
        return f"{e164} is not a valid, allocated number"
    return ""


def reference_callee_zones(e164: str, fallback_zone: str | None) -> tuple[str, ...] | Refusal:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        return Refusal(Reason.INVALID_NUMBER, f"{e164!r} is not an international number: {exc}")
    known = tuple(sorted({name for name in number_zones.time_zones_for_number(number) if load_zone(name)}))
    if known:
        return known
    if fallback_zone is not None and load_zone(fallback_zone) is not None:
        return (fallback_zone,)
    return Refusal(Reason.NO_TIME_ZONE, f"{e164} maps to no known time zone and the campaign names no fallback zone")


@settings(max_examples=400, deadline=None)
@given(numbers, zones)
def test_one_parse_says_what_the_two_parses_said(e164: str, fallback: str | None) -> None:
    assert _invalid_number(e164) == reference_invalid_number(e164)
    assert callee_zones(e164, fallback_zone=fallback) == reference_callee_zones(e164, fallback)


def test_the_cache_is_bounded_and_shares_its_answers() -> None:
    number_facts.clear_cache()
    spread = [f"+1212555{i:04d}" for i in range(50)]
    for e164 in spread + spread:
        number_facts.number_facts(e164)
    info = number_facts.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (50, 50, number_facts.NUMBER_CACHE_SIZE)
    # Fifty New York numbers, one answer object: an entry costs its key, not a copy of its zones.
    assert len({id(number_facts.number_facts(e164)) for e164 in spread}) == 1
    # A verdict cached for one instant is not served for another.
    moment = datetime(2026, 12, 7, 13, 59, 59, tzinfo=timezone.utc).timestamp()
    rules = DialRules()
    before = may_dial(moment, DialFacts(spread[0], consent=CallConsent.GRANTED), rules)
    after = may_dial(moment + 1, DialFacts(spread[0], consent=CallConsent.GRANTED), rules)
    assert isinstance(before, Refusal) and before.reason is Reason.OUTSIDE_WINDOW
    assert isinstance(after, Permit)
