"""Report periods (pure): "today" in a team's time zone, and from/to as people type them, checked with clear errors.

A bound is a date (``2026-03-02``: local midnight in the team's zone) or a date and time (``2026-03-02T08:00``: local
time; ``...+01:00`` or ``...Z``: that instant). ``to`` is exclusive. Only ``from``: that local day (or, for a time,
until the next local midnight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["Period", "PeriodError", "parse_period", "today"]

DAY_S: Final = 86_400.0
DST_SLACK_S: Final = 3_600.0  # a range of N local days across a DST change is an hour longer than N * 24 h


class PeriodError(ValueError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    from_s: float
    to_s: float
    zone: ZoneInfo

    def iso(self, epoch_s: float) -> str:
        return datetime.fromtimestamp(epoch_s, self.zone).isoformat()


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def today(zone: ZoneInfo, now_s: float) -> Period:
    day = datetime.fromtimestamp(now_s, zone).date()
    return Period(_midnight(day, zone), _midnight(day + timedelta(days=1), zone), zone)


def _bound(raw: str, zone: ZoneInfo, field: str) -> float:
    try:
        moment = datetime.fromisoformat(raw)
        return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise PeriodError(
            f"{field} must be a date (2026-03-02) or a date and time (2026-03-02T08:00, optionally with +01:00 or Z),"
            f" got {raw!r}",
            field=field,
        ) from None


def parse_period(raw_from: str | None, raw_to: str | None, *, zone: ZoneInfo, now_s: float, max_days: int) -> Period:
    if raw_from is None:
        if raw_to is not None:
            raise PeriodError("to needs a from", field="to")
        return today(zone, now_s)
    from_s = _bound(raw_from, zone, "from")
    if raw_to is None:
        day = datetime.fromtimestamp(from_s, zone).date()
        to_s = _midnight(day + timedelta(days=1), zone)
    else:
        to_s = _bound(raw_to, zone, "to")
    if to_s <= from_s:
        raise PeriodError(f"from ({raw_from}) must be before to ({raw_to})", field="to")
    if to_s - from_s > max_days * DAY_S + DST_SLACK_S:
        raise PeriodError(f"a report covers at most {max_days} days", field="to")
    return Period(from_s, to_s, zone)
