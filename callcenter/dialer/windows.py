"""Calling windows in the callee's local time (pure): may this number be called now, and if not, from when.

A campaign's window is a set of local hours per weekday. The default (``DEFAULT_WINDOWS``) is Monday to Friday
09:00-20:00, Saturday 10:00-17:00, no calls on Sunday. Why these: the FTC Telemarketing Sales Rule (16 CFR 310.4(c))
forbids calls before 08:00 and after 21:00 local time, and several US states are stricter (20:00 ends the day in
some, Sundays or holidays are restricted in others); the UK has no statutory hours but expects reasonable ones, which
09:00-20:00 on weekdays is. A campaign may set its own
hours per weekday (campaign.py): the default is the safe end, not a law of its own. Public holidays are not known here.

The callee's zones, in this order:
1. the contact's own zone, when the caller passes one (the CRM's Contact has no zone column yet: ``zone=``);
2. else the zones libphonenumber gives the number (``phonenumbers.timezone.time_zones_for_number``). A number may
   map to several zones (a US area code across a zone line, a Russian or Australian mobile, a toll-free number): it
   may be called only when it is inside the window in EVERY one of them (the intersection: the strictest reading);
3. a number with no usable zone (none, or only libphonenumber's "Etc/Unknown") is refused with ``no_time_zone``
   unless the campaign names a fallback zone.

Window edges are wall-clock times, so daylight saving is handled by construction: "09:00" is 09:00 local on the day of
a spring-forward or fall-back transition too. An edge that falls in a spring-forward gap (02:30 when 02:00-03:00 does
not exist) starts at the first instant the clock shows a later time (03:00); an edge that falls in a fall-back
overlap (01:30 twice) is its first occurrence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.dialer.number_facts import number_facts
from callcenter.dialer.verdict import Permit, Reason, Refusal

__all__ = [
    "DEFAULT_WINDOWS", "UNKNOWN_ZONE", "WEEKDAYS", "CallingWindows", "Hours", "callee_zones", "load_zone",
    "next_permitted_s", "open_intervals", "parse_hhmm", "permitted",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
MINUTES_PER_DAY = 24 * 60
UNKNOWN_ZONE = "Etc/Unknown"  # libphonenumber's "no idea"
# How far ahead the next opening is looked for: two weeks covers any weekly window, whatever DST does meanwhile.
HORIZON_DAYS = 15
_HHMM = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")


def parse_hhmm(text: str) -> int:
    """"09:30" -> 570 minutes after local midnight; "24:00" is the end of the day. ValueError otherwise."""
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"must be a time written HH:MM (00:00 to 24:00), got {text!r}")
    minutes = int(match[1]) * 60 + int(match[2])
    if minutes > MINUTES_PER_DAY:
        raise ValueError(f"must be at most 24:00, got {text!r}")
    return minutes


@dataclass(frozen=True, slots=True)
class Hours:
    """Local wall-clock minutes after midnight, start included, end excluded (end 1440: until midnight)."""

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= MINUTES_PER_DAY:
            raise ValueError(f"hours must satisfy 00:00 <= start < end <= 24:00, got {self}")

    @classmethod
    def of(cls, start: str, end: str) -> Hours:
        return cls(parse_hhmm(start), parse_hhmm(end))


@dataclass(frozen=True, slots=True)
class CallingWindows:
    """Local calling hours for each weekday, Monday first; an empty tuple: no calls that day."""

    days: tuple[tuple[Hours, ...], ...]
    # Hashed once: a campaign's windows are part of the verdict cache's key on every row of its list, and hashing the
    # nested hours anew (a Python call per Hours) was a tenth of a cached verdict's cost.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("calling windows need seven weekdays, Monday first")
        for day in self.days:
            for before, after in zip(day, day[1:]):
                if after.start_min < before.end_min:
                    raise ValueError("a day's hours must be in order and must not overlap")
        object.__setattr__(self, "_hash", hash(self.days))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_mapping(cls, hours: Mapping[str, Iterable[tuple[str, str]]]) -> CallingWindows:
        """{"mon": [("09:00", "20:00")], ...}; a weekday left out has no calling hours."""
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
        return cls(tuple(tuple(Hours.of(s, e) for s, e in hours.get(day, ())) for day in WEEKDAYS))

    @property
    def never(self) -> bool:
        return not any(self.days)


DEFAULT_WINDOWS = CallingWindows.from_mapping({
    **{day: [("09:00", "20:00")] for day in WEEKDAYS[:5]},
    "sat": [("10:00", "17:00")],
})


def load_zone(name: str) -> ZoneInfo | None:
    """The IANA zone, or None for a name the tz database does not know (or libphonenumber's Etc/Unknown)."""
    if not isinstance(name, str) or not name or name == UNKNOWN_ZONE:
        return None
    return _load_zone(name)


@lru_cache(maxsize=1_024)
def _load_zone(name: str) -> ZoneInfo | None:
    # Cached with the misses: ZoneInfo keeps only 8 zones strongly and looks an unknown name up on disk every time.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not a key at all ("../x", absolute paths)
        return None


def callee_zones(e164: str, *, zone: str | None = None, fallback_zone: str | None = None) -> tuple[str, ...] | Refusal:
    """The zones the callee's window is judged in (see the module's order), or the refusal saying why there is none."""
    if zone is not None:
        if load_zone(zone) is None:
            return Refusal(Reason.NO_TIME_ZONE, f"the contact's time zone {zone!r} is not a known IANA zone")
        return (zone,)
    facts = number_facts(e164)  # one parse per number, cached (may_dial read the same facts just before)
    if facts.parse_error is not None:
        return Refusal(Reason.INVALID_NUMBER, f"{e164!r} is not an international number: {facts.parse_error}")
    if facts.zones:
        return facts.zones
    if fallback_zone is not None and load_zone(fallback_zone) is not None:
        return (fallback_zone,)
    return Refusal(Reason.NO_TIME_ZONE, f"{e164} maps to no known time zone and the campaign names no fallback zone")


def permitted(
    now_s: float,
    e164: str,
    windows: CallingWindows = DEFAULT_WINDOWS,
    *,
    zone: str | None = None,
    fallback_zone: str | None = None,
) -> Permit | Refusal:
    """Permit (until the window closes) when ``now_s`` is inside the window in every one of the callee's zones;
    else ``outside_window`` with the next opening (``retry_at_s``), or why the number has no zone."""
    zones = callee_zones(e164, zone=zone, fallback_zone=fallback_zone)
    if isinstance(zones, Refusal):
        return zones
    return _judge(now_s, zones, windows)


def next_permitted_s(
    now_s: float,
    e164: str,
    windows: CallingWindows = DEFAULT_WINDOWS,
    *,
    zone: str | None = None,
    fallback_zone: str | None = None,
) -> float | Refusal:
    """``now_s`` when the number may be called now, else the next instant it may; a Refusal when that is never (no
    zone, or no common hour within two weeks)."""
    verdict = permitted(now_s, e164, windows, zone=zone, fallback_zone=fallback_zone)
    if isinstance(verdict, Permit):
        return now_s
    return verdict if verdict.retry_at_s is None else verdict.retry_at_s


def _judge(now_s: float, zones: Sequence[str], windows: CallingWindows) -> Permit | Refusal:
    return _judged(tuple(zones), windows, now_s)


# A dial list is judged at one instant: its rows share a few dozen sets of zones, so each verdict is computed once per
# set (the verdicts are frozen, a shared one is safe). Keyed on the exact instant, not a rounding of it: the same
# answer as computing it, whatever the instant.
@lru_cache(maxsize=4_096)
def _judged(zones: tuple[str, ...], windows: CallingWindows, now_s: float) -> Permit | Refusal:
    where = _names(zones)
    # Two days answer nearly every question; the whole horizon only when nothing opens in them (a weekend, a
    # number whose zones rarely agree). A stretch longer than the span looked at reports its end within it.
    for horizon_days in (2, HORIZON_DAYS):
        for start_s, end_s in open_intervals(zones, windows, now_s, now_s + horizon_days * 86_400):
            if start_s <= now_s < end_s:
                return Permit(until_s=end_s, zones=zones)
            if start_s > now_s:
                opens = datetime.fromtimestamp(start_s, timezone.utc).isoformat()
                detail = f"outside calling hours in {where}; next opening {opens}"
                return Refusal(Reason.OUTSIDE_WINDOW, detail, start_s)
    if len(zones) > 1 and not windows.never:
        return Refusal(Reason.OUTSIDE_WINDOW, f"the number's zones ({where}) share no calling hour")
    return Refusal(Reason.OUTSIDE_WINDOW, f"the campaign has no calling hours in {where}")


def _names(zones: Sequence[str], most: int = 4) -> str:
    shown = ", ".join(zones[:most])
    return shown if len(zones) <= most else f"{shown} and {len(zones) - most} more"


def open_intervals(
    zones: Sequence[str], windows: CallingWindows, from_s: float, until_s: float
) -> list[tuple[float, float]]:
    """The instants (epoch seconds, [start, end) pairs in order) inside the window in every zone, overlapping
    [from_s, until_s)."""
    # Whole UTC days, so that every check of a campaign's numbers on a day shares one computation per set of zones.
    common = _common_intervals(tuple(zones), windows, math.floor(from_s / 86_400), math.ceil(until_s / 86_400))
    return [(s, e) for s, e in common if e > from_s and s < until_s]


@lru_cache(maxsize=4_096)
def _common_intervals(
    zones: tuple[str, ...], windows: CallingWindows, first_day: int, last_day: int
) -> tuple[tuple[float, float], ...]:
    from_s, until_s = first_day * 86_400.0, last_day * 86_400.0
    common: list[tuple[float, float]] | None = None
    for name in zones:
        zone = load_zone(name)
        if zone is None:
            raise ValueError(f"unknown time zone {name!r}")
        spans = _zone_intervals(zone, windows, from_s, until_s)
        common = spans if common is None else _intersect(common, spans)
        if not common:
            break
    return tuple(common or ())


def _zone_intervals(
    zone: ZoneInfo, windows: CallingWindows, from_s: float, until_s: float
) -> list[tuple[float, float]]:
    # One local day either side: a window that opened yesterday (local) may still be open at from_s.
    first = datetime.fromtimestamp(from_s, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(until_s, zone).date() + timedelta(days=1)
    spans: list[tuple[float, float]] = []
    day = first
    while day <= last:
        for hours in windows.days[day.weekday()]:
            start_s = _first_instant(day, hours.start_min, zone)
            end_s = _first_instant(day, hours.end_min, zone)
            if end_s <= start_s:  # a window inside a spring-forward gap does not exist that day
                continue
            if spans and start_s <= spans[-1][1]:  # 24:00 meets the next day's 00:00: one span
                spans[-1] = (spans[-1][0], max(spans[-1][1], end_s))
            else:
                spans.append((start_s, end_s))
        day += timedelta(days=1)
    return spans


@lru_cache(maxsize=65_536)
def _first_instant(day: date, minute: int, zone: ZoneInfo) -> float:
    """The first instant (epoch s) at which the wall clock in ``zone`` shows ``day`` ``minute`` or later."""
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    # PEP 495: fold=0 reads a repeated or skipped wall time with the offset before the transition, fold=1 after.
    one, other = wall.replace(tzinfo=zone, fold=0).timestamp(), wall.replace(tzinfo=zone, fold=1).timestamp()
    low, high = min(one, other), max(one, other)
    if _wall(low, zone) == wall:
        return low  # it exists (if twice, in a fall-back overlap: its first occurrence)
    # In a spring-forward gap: the clock jumps over ``wall`` between low (before it) and high (after it); the
    # transition instant is the first at which the clock reads ``wall`` or later. Transitions fall on whole seconds.
    before, after = math.floor(low), math.ceil(high)
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return float(after)


def _wall(epoch_s: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch_s, zone).replace(tzinfo=None)


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out
