"""Calling windows in the callee's local time: the default hours, DST days, numbers with several zones (checked against
a brute-force reading of every zone's wall clock), numbers without a zone, a contact's own zone."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from callcenter.dialer.verdict import Permit, Reason, Refusal
from callcenter.dialer.windows import (
    DEFAULT_WINDOWS,
    CallingWindows,
    Hours,
    callee_zones,
    next_permitted_s,
    open_intervals,
    WEEKDAYS,
    parse_hhmm,
    permitted,
)

NEW_YORK = "+12125550123"
ALASKA = "+19075550123"  # area code 907: America/Anchorage and America/Adak (an hour apart)
RUSSIAN_MOBILE = "+79161234567"  # 16 zones, Europe/Bucharest (sic, libphonenumber) to Asia/Kamchatka
AUSTRALIAN_MOBILE = "+61412345678"  # Perth to Lord Howe, with and without DST
TOLL_FREE_INTL = "+80012345678"  # Etc/Unknown
EVERY_DAY = CallingWindows.from_mapping({d: [("09:00", "20:00")] for d in WEEKDAYS})


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def at(zone: str, *args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def test_default_hours_monday_to_saturday_none_on_sunday() -> None:
    # 2026-12-07 is a Monday; New York is UTC-5 in December.
    early = permitted(utc(2026, 12, 7, 13, 59, 59), NEW_YORK)
    assert isinstance(early, Refusal) and early.reason is Reason.OUTSIDE_WINDOW
    assert early.retry_at_s == utc(2026, 12, 7, 14) and "America/New_York" in early.detail
    opened = permitted(utc(2026, 12, 7, 14), NEW_YORK)
    assert opened == Permit(until_s=utc(2026, 12, 8, 1), zones=("America/New_York",))
    assert isinstance(permitted(utc(2026, 12, 8, 1), NEW_YORK), Refusal)  # 20:00 local: closed (end excluded)
    # Saturday 10:00-17:00 local.
    assert isinstance(permitted(utc(2026, 12, 12, 14, 59), NEW_YORK), Refusal)
    saturday = permitted(utc(2026, 12, 12, 15), NEW_YORK)
    assert saturday == Permit(until_s=utc(2026, 12, 12, 22), zones=("America/New_York",))
    # Sunday: none; the next opening is Monday 09:00.
    sunday = permitted(utc(2026, 12, 13, 17), NEW_YORK)
    assert isinstance(sunday, Refusal) and sunday.reason is Reason.OUTSIDE_WINDOW
    assert sunday.retry_at_s == utc(2026, 12, 14, 14)
    assert next_permitted_s(utc(2026, 12, 13, 17), NEW_YORK) == utc(2026, 12, 14, 14)
    assert next_permitted_s(utc(2026, 12, 7, 15), NEW_YORK) == utc(2026, 12, 7, 15)  # open now: now


def test_spring_forward_day() -> None:
    # US: 2026-03-08 02:00 EST -> 03:00 EDT. 09:00 local is 13:00 UTC that day, 14:00 UTC the day before.
    assert permitted(utc(2026, 3, 7, 14), NEW_YORK, EVERY_DAY) == Permit(utc(2026, 3, 8, 1), ("America/New_York",))
    assert isinstance(permitted(utc(2026, 3, 8, 12, 59), NEW_YORK, EVERY_DAY), Refusal)
    assert permitted(utc(2026, 3, 8, 13), NEW_YORK, EVERY_DAY) == Permit(utc(2026, 3, 9, 0), ("America/New_York",))
    # A window edge inside the skipped hour opens when the clock jumps past it (03:00 EDT = 07:00 UTC).
    night = CallingWindows.from_mapping({"sun": [("02:30", "04:00")]})
    assert next_permitted_s(utc(2026, 3, 8, 5), NEW_YORK, night) == utc(2026, 3, 8, 7)
    assert permitted(utc(2026, 3, 8, 7), NEW_YORK, night) == Permit(utc(2026, 3, 8, 8), ("America/New_York",))
    # A window wholly inside the gap does not exist that day: next week's.
    gap = CallingWindows.from_mapping({"sun": [("02:10", "02:50")]})
    assert next_permitted_s(utc(2026, 3, 8, 5), NEW_YORK, gap) == at("America/New_York", 2026, 3, 15, 2, 10)
    # Europe's change is three weeks later (2026-03-29): London is UTC+0 before, UTC+1 after.
    london = "+442079460000"
    assert next_permitted_s(utc(2026, 3, 28, 20), london, EVERY_DAY) == utc(2026, 3, 29, 8)


def test_fall_back_day() -> None:
    # US: 2026-11-01 02:00 EDT -> 01:00 EST. 09:00 local is 14:00 UTC that day, 13:00 UTC the day before.
    assert next_permitted_s(utc(2026, 10, 31, 12), NEW_YORK, EVERY_DAY) == utc(2026, 10, 31, 13)
    assert next_permitted_s(utc(2026, 11, 1, 5), NEW_YORK, EVERY_DAY) == utc(2026, 11, 1, 14)
    assert permitted(utc(2026, 11, 1, 14), NEW_YORK, EVERY_DAY) == Permit(utc(2026, 11, 2, 1), ("America/New_York",))
    # An edge in the repeated hour is its first occurrence: 01:30 EDT = 05:30 UTC (not 01:30 EST = 06:30 UTC).
    early = CallingWindows.from_mapping({"sun": [("00:00", "01:30")]})
    assert permitted(utc(2026, 11, 1, 5, 29), NEW_YORK, early) == Permit(utc(2026, 11, 1, 5, 30), ("America/New_York",))
    assert isinstance(permitted(utc(2026, 11, 1, 6), NEW_YORK, early), Refusal)  # 01:00 EST, the second time round


def test_alaska_area_code_uses_the_strictest_of_its_two_zones() -> None:
    assert callee_zones(ALASKA) == ("America/Adak", "America/Anchorage")
    # December: Anchorage UTC-9 (09:00 = 18:00 UTC), Adak UTC-10 (09:00 = 19:00 UTC). Anchorage closes at 05:00 UTC.
    refused = permitted(utc(2026, 12, 7, 18, 30), ALASKA)
    assert isinstance(refused, Refusal) and refused.retry_at_s == utc(2026, 12, 7, 19)
    assert permitted(utc(2026, 12, 7, 19), ALASKA) == Permit(utc(2026, 12, 8, 5), ("America/Adak", "America/Anchorage"))
    assert isinstance(permitted(utc(2026, 12, 8, 5, 30), ALASKA), Refusal)  # Adak 19:30 is open, Anchorage 20:30 not


def _inside_everywhere(now_s: float, zones: tuple[str, ...], windows: CallingWindows) -> bool:
    """The oracle: read each zone's wall clock directly."""
    for name in zones:
        local = datetime.fromtimestamp(now_s, ZoneInfo(name))
        minute = local.hour * 60 + local.minute
        if not any(h.start_min <= minute < h.end_min for h in windows.days[local.weekday()]):
            return False
    return True


@pytest.mark.parametrize("number", [ALASKA, RUSSIAN_MOBILE, AUSTRALIAN_MOBILE, "+18005551234"])
def test_several_zones_match_every_wall_clock(number: str) -> None:
    zones = callee_zones(number)
    assert isinstance(zones, tuple) and len(zones) > 1
    rng = random.Random(number)
    start = utc(2026, 1, 1)
    # Random instants over a year (both DST changes of every zone) plus every quarter hour of the US and EU change days.
    instants = [start + rng.uniform(0, 366 * 86_400) for _ in range(400)]
    changes = [(2026, 3, 8), (2026, 3, 29), (2026, 10, 25), (2026, 11, 1), (2026, 4, 5), (2026, 10, 4)]
    for day in (utc(*ymd) for ymd in changes):
        instants += [day + q * 900 for q in range(96)]
    permits = 0
    for now_s in instants:
        verdict = permitted(now_s, number)
        assert isinstance(verdict, Permit) == _inside_everywhere(now_s, zones, DEFAULT_WINDOWS), (number, now_s)
        if isinstance(verdict, Permit):
            permits += 1
            assert verdict.until_s is not None and _inside_everywhere(verdict.until_s - 1, zones, DEFAULT_WINDOWS)
            assert not _inside_everywhere(verdict.until_s, zones, DEFAULT_WINDOWS)
        elif verdict.retry_at_s is not None:
            assert _inside_everywhere(verdict.retry_at_s, zones, DEFAULT_WINDOWS)
            assert not _inside_everywhere(verdict.retry_at_s - 1, zones, DEFAULT_WINDOWS)
    assert permits > 0  # the intersection is not empty for these numbers: the test saw both answers


def test_russian_mobile_window_is_one_hour_a_day() -> None:
    # Bucharest (UTC+2) 09:00-20:00 is 07:00-18:00 UTC; Kamchatka and Anadyr (UTC+12) 21:00-08:00 UTC.
    verdict = permitted(utc(2026, 12, 8, 7, 30), RUSSIAN_MOBILE)
    assert isinstance(verdict, Permit) and verdict.until_s == utc(2026, 12, 8, 8)
    assert next_permitted_s(utc(2026, 12, 8, 8), RUSSIAN_MOBILE) == utc(2026, 12, 9, 7)


def test_number_without_zone_is_refused_unless_the_campaign_names_a_fallback() -> None:
    for number in (TOLL_FREE_INTL, "+447700900123"):  # Etc/Unknown: international freephone; an unallocated range
        refused = permitted(utc(2026, 12, 7, 12), number)
        assert isinstance(refused, Refusal) and refused.reason is Reason.NO_TIME_ZONE and refused.retry_at_s is None
        assert next_permitted_s(utc(2026, 12, 7, 12), number) == refused
    assert permitted(utc(2026, 12, 7, 12), TOLL_FREE_INTL, fallback_zone="Europe/London") == Permit(
        utc(2026, 12, 7, 20), ("Europe/London",)
    )
    # A fallback the tz database does not know is no fallback.
    assert permitted(utc(2026, 12, 7, 12), TOLL_FREE_INTL, fallback_zone="Mars/Olympus").reason is Reason.NO_TIME_ZONE
    # The fallback never overrides a zone the number has.
    assert callee_zones(NEW_YORK, fallback_zone="Europe/London") == ("America/New_York",)
    garbage = permitted(utc(2026, 12, 7, 12), "not a number")
    assert isinstance(garbage, Refusal) and garbage.reason is Reason.INVALID_NUMBER


def test_contact_zone_wins_over_the_number() -> None:
    # A New York number whose owner lives in Berlin (UTC+1): 08:30 UTC is 09:30 there, 03:30 in New York.
    assert permitted(utc(2026, 12, 7, 8, 30), NEW_YORK, zone="Europe/Berlin") == Permit(
        utc(2026, 12, 7, 19), ("Europe/Berlin",)
    )
    assert isinstance(permitted(utc(2026, 12, 7, 8, 30), NEW_YORK), Refusal)
    bad = permitted(utc(2026, 12, 7, 8, 30), NEW_YORK, zone="../../etc/passwd")
    assert isinstance(bad, Refusal) and bad.reason is Reason.NO_TIME_ZONE
    # A zone given for a number without one is enough.
    assert isinstance(permitted(utc(2026, 12, 7, 12), TOLL_FREE_INTL, zone="Europe/Paris"), Permit)


def test_no_hours_or_no_common_hour_is_never() -> None:
    never = CallingWindows.from_mapping({})
    refused = permitted(utc(2026, 12, 7, 15), NEW_YORK, never)
    assert isinstance(refused, Refusal) and refused.retry_at_s is None and "no calling hours" in refused.detail
    # Two hours a day can never be common to New York and Sydney (15-16 hours apart).
    short = CallingWindows.from_mapping({d: [("10:00", "12:00")] for d in ("mon", "tue", "wed", "thu", "fri")})
    assert isinstance(next_permitted_s(utc(2026, 12, 7, 15), NEW_YORK, short, zone="America/New_York"), float)
    assert open_intervals(("America/New_York", "Australia/Sydney"), short, utc(2026, 12, 7), utc(2026, 12, 21)) == []


def test_several_hours_a_day_and_until_midnight() -> None:
    split = CallingWindows.from_mapping({"mon": [("09:00", "12:00"), ("14:00", "24:00")], "tue": [("00:00", "08:00")]})
    assert permitted(utc(2026, 12, 7, 17, 30), NEW_YORK, split).retry_at_s == utc(2026, 12, 7, 19)  # 12:30 local
    # 24:00 Monday meets 00:00 Tuesday: one stretch, open until Tuesday 08:00 local.
    assert permitted(utc(2026, 12, 7, 19), NEW_YORK, split) == Permit(utc(2026, 12, 8, 13), ("America/New_York",))


def test_window_configuration_is_checked() -> None:
    assert parse_hhmm("09:30") == 570 and parse_hhmm("24:00") == 1440
    for bad in ("9:30", "24:01", "25:00", "09:60", "0930", "", None):
        with pytest.raises(ValueError):
            parse_hhmm(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start < end"):
        Hours.of("20:00", "09:00")
    with pytest.raises(ValueError, match="start < end"):
        Hours.of("09:00", "09:00")
    with pytest.raises(ValueError, match="overlap"):
        CallingWindows.from_mapping({"mon": [("09:00", "12:00"), ("11:00", "13:00")]})
    with pytest.raises(ValueError, match="weekday"):
        CallingWindows.from_mapping({"monday": [("09:00", "12:00")]})
    with pytest.raises(ValueError, match="seven"):
        CallingWindows(((),) * 6)


def test_the_default_is_documented_safe_hours() -> None:
    weekday = (Hours(9 * 60, 20 * 60),)
    assert DEFAULT_WINDOWS.days == (weekday,) * 5 + ((Hours(10 * 60, 17 * 60),), ())
    # Never before 08:00 or after 21:00 (FTC TSR 310.4(c)) on any day.
    assert all(8 * 60 <= h.start_min and h.end_min <= 21 * 60 for day in DEFAULT_WINDOWS.days for h in day)
