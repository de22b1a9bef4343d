"""Working hours and holidays of a team, in the team's time zone. Pure: the time is passed in.

A week is seven lists of [open, close) minute ranges in local wall-clock time, so daylight-saving changes move the
UTC instants, not the opening hours. A range that runs past midnight ("22:00-06:00") is split over two days.
A holiday closes the whole local day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["DAY_NAMES", "HoursStatus", "WorkingHours", "window_start_s"]

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY: Final = 24 * 60
_RANGE_RE: Final = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class HoursStatus:
    open: bool
    local: datetime  # the instant in the team's zone, for explanations
    holiday: str | None = None  # name (or the date) when closed for a holiday


def _minute(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"bad time in {text!r}")
    return h * 60 + m


def _parse_ranges(text: str) -> list[tuple[int, int]]:
    text = text.strip().lower()
    if text in ("", "closed", "-"):
        return []
    out = []
    for part in text.split(","):
        match = _RANGE_RE.match(part)
        if match is None:
            raise ValueError(f"opening hours {part!r} must look like 09:00-18:00")
        start = _minute(match[1], match[2], part)
        end = _minute(match[3], match[4], part)
        if start == end:
            raise ValueError(f"empty opening range {part!r}")
        out.append((start, end))
    return out


def _parse_days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        if first not in DAY_NAMES or (dash and last not in DAY_NAMES):
            raise ValueError(f"day {part!r} must be one of {','.join(DAY_NAMES)} or a range like mon-fri")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if dash else a
        day = a
        while True:  # ranges may wrap: fri-mon
            days.append(day)
            if day == b:
                break
            day = (day + 1) % 7
    return days


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingHours:
    """Opening hours per weekday (Monday first) and holidays, in ``timezone``. ``always`` means never closed."""

    timezone: str = "UTC"
    weekly: tuple[Ranges, ...] = ()
    holidays: tuple[tuple[date, str], ...] = ()
    always: bool = False
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _holidays: Mapping[date, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Resolved once here so that the policy, which only calls status(), never touches the tz database.
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))
        object.__setattr__(self, "_holidays", dict(self.holidays))
        if not self.always and len(self.weekly) != 7:
            raise ValueError("weekly needs seven entries, Monday first")

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> WorkingHours:
        return cls(timezone=timezone, always=True)

    @classmethod
    def parse(
        cls,
        *,
        timezone: str,
        week: Mapping[str, str],
        holidays: Mapping[str, str] | Iterable[str] = (),
    ) -> WorkingHours:
        """``week={"mon-fri": "09:00-18:00", "sat": "10:00-14:00"}``; days not named are closed.
        ``holidays`` is a list of ISO dates or a mapping ISO date -> name. An empty week means always open."""
        hol: list[tuple[date, str]] = []
        items = holidays.items() if isinstance(holidays, Mapping) else ((d, d) for d in holidays)
        for day, name in items:
            try:
                hol.append((date.fromisoformat(str(day).strip()), str(name)))
            except ValueError:
                raise ValueError(f"holiday {day!r} must be an ISO date like 2026-12-25") from None
        if not week:
            return cls(timezone=timezone, always=True, holidays=tuple(hol))
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for spec, ranges in week.items():
            for day in _parse_days(spec):
                for start, end in _parse_ranges(ranges):
                    if end > start:
                        per_day[day].append((start, end))
                    else:  # past midnight: the tail belongs to the next day
                        per_day[day].append((start, _MINUTES_PER_DAY))
                        per_day[(day + 1) % 7].append((0, end))
        return cls(timezone=timezone, weekly=tuple(tuple(sorted(r)) for r in per_day), holidays=tuple(hol))

    def holiday(self, day: date) -> str | None:
        return self._holidays.get(day)

    def status(self, now_s: float) -> HoursStatus:
        local = datetime.fromtimestamp(now_s, self.zone)
        name = self.holiday(local.date())
        if name is not None:
            return HoursStatus(open=False, local=local, holiday=name)
        if self.always:
            return HoursStatus(open=True, local=local)
        minute = local.hour * 60 + local.minute
        is_open = any(start <= minute < end for start, end in self.weekly[local.weekday()])
        return HoursStatus(open=is_open, local=local)


MAX_DUE_SEARCH_DAYS: Final = 400  # a team closed for longer than this has no business hours at all


def due_after(hours: WorkingHours, start_s: float, open_s: float) -> float:
    """The instant ``open_s`` seconds of opening time after ``start_s`` (an SLA that only runs while the team is
    open: a miss at 17:55 with a 15-minute SLA and a 18:00 close is due at 09:10 the next working day)."""
    if hours.always and not hours.holidays:
        return start_s + open_s
    remaining = open_s
    cursor = start_s
    day = datetime.fromtimestamp(start_s, hours.zone).date()
    for _ in range(MAX_DUE_SEARCH_DAYS):
        if hours.holiday(day) is None:
            ranges = ((0, _MINUTES_PER_DAY),) if hours.always else hours.weekly[day.weekday()]
            midnight = datetime(day.year, day.month, day.day, tzinfo=hours.zone)
            for start_min, end_min in ranges:
                # Local wall times -> instants, so DST days are as long as they really are.
                begin = max(cursor, (midnight + timedelta(minutes=start_min)).timestamp())
                end = (midnight + timedelta(minutes=end_min)).timestamp()
                if end <= begin:
                    continue
                if end - begin >= remaining:
                    return begin + remaining
                remaining -= end - begin
        day += timedelta(days=1)
    raise ValueError(f"no opening hours within {MAX_DUE_SEARCH_DAYS} days")


def window_start_s(now_s: float, *, zone: ZoneInfo, window_s: float) -> float:
    """Start of the load window: ``window_s`` seconds back, or (``window_s == 0``) local midnight of today."""
    if window_s > 0:
        return now_s - window_s
    local = datetime.fromtimestamp(now_s, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    start = midnight.timestamp()
    # A zone that skips midnight on a DST day maps it past now; yesterday's midnight is the safe answer then.
    return start if start <= now_s else (midnight - timedelta(days=1)).timestamp()
