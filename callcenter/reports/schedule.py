"""When a scheduled report runs next (pure): daily or weekly at a local time in a time zone, DST-correct.

The wall-clock time is what the recipient expects ("every Monday at 08:00 in Berlin"), so the UTC instant moves by
an hour across a DST change. Two local times need a rule:
- a time that does not exist that day (skipped when clocks spring forward, e.g. 02:30 on the last Sunday of March in
  Berlin) runs as late as the gap is long, i.e. at 03:30 local (the instant 02:30 had on the old offset);
- a time that happens twice (clocks fall back: 02:30 on the last Sunday of October) runs once, at the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Cadence = Literal["daily", "weekly"]


class ScheduleError(ValueError):
    """A cadence, weekday, time or zone that cannot be scheduled; ``field`` names the input."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Recurrence:
    cadence: Cadence
    at: time
    zone: ZoneInfo
    weekday: int | None = None  # 0 = Monday (weekly only)


def parse_zone(name: str) -> ZoneInfo:
    try:
        if not name or name != name.strip() or len(name) > 64:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin", field="timezone") from None


def parse_time(text: str) -> time:
    try:
        hour_text, minute_text = text.split(":")
        if len(hour_text) != 2 or len(minute_text) != 2 or not (hour_text + minute_text).isdigit():
            raise ValueError(text)
        return time(int(hour_text), int(minute_text))
    except ValueError:
        raise ScheduleError(f"time {text!r} must be HH:MM on a 24-hour clock, e.g. 07:30", field="time") from None


def recurrence(cadence: str, at: str, zone: str, weekday: str | None = None) -> Recurrence:
    """The recurrence from its input fields, every error naming its field."""
    if cadence not in ("daily", "weekly"):
        raise ScheduleError(f"cadence {cadence!r} must be daily or weekly", field="cadence")
    day: int | None = None
    if cadence == "weekly":
        if weekday not in WEEKDAYS:
            raise ScheduleError(f"a weekly schedule needs a weekday: one of {', '.join(WEEKDAYS)}", field="weekday")
        day = WEEKDAYS.index(weekday)
    elif weekday is not None:
        raise ScheduleError("a daily schedule has no weekday", field="weekday")
    return Recurrence(cadence=cadence, at=parse_time(at), zone=parse_zone(zone), weekday=day)  # type: ignore[arg-type]


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``at`` on ``day`` in ``zone`` (first occurrence if twice; shifted by the gap if never)."""
    # fold=0: the earlier of two occurrences, and for a skipped time the offset before the change (so it lands
    # after the gap by the gap's length).
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(timezone.utc)


def next_run(rule: Recurrence, after: datetime) -> datetime:
    """The first run strictly after ``after`` (aware), in UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    start = after.astimezone(rule.zone).date() - timedelta(days=1)  # a day early: the offset may move the instant
    for offset in range(9):
        day = start + timedelta(days=offset)
        if rule.cadence == "weekly" and day.weekday() != rule.weekday:
            continue
        instant = local_instant(day, rule.at, rule.zone)
        if instant > after:
            return instant
    raise AssertionError("unreachable: a weekly run is within 8 days")
