"""Report intervals in a time zone (pure): 15 minutes, hour, day, week (Monday), on the local clock, DST-correct.

A day is from local midnight to the next local midnight: 23 hours on a spring-forward day, 25 on a fall-back day
(so Europe/London's spring-forward day has 92 quarter-hours, its fall-back day 100; the repeated hour gives two
distinct hour intervals, both labelled 01:00 but with different offsets). A week starts at local midnight on Monday.
Quarter-hours and hours are measured in real time: every zone in use today has an offset of a whole number of
quarter-hours, so a local quarter-hour boundary is a UTC one; an hour boundary is one where the local minute is 0.

The intervals of a period are cut at its bounds: the first starts at ``from_s`` and the last ends at ``to_s``, so a
period that does not start on a boundary has a shorter first interval (a call is never outside every interval).
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["Interval", "interval_index", "interval_starts"]

QUARTER_S: Final = 900
MAX_INTERVALS: Final = 20_000  # 100 days of quarter-hours is 9,600


class Interval(enum.StrEnum):
    QUARTER = "15m"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


def _local_midnight(day: date, zone: ZoneInfo) -> float:
    # A midnight that does not exist (a zone that springs forward at 00:00) resolves, with fold=0, to the instant of
    # the change: the first moment of that local day.
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _boundaries(from_s: float, to_s: float, zone: ZoneInfo, interval: Interval) -> list[float]:
    """Every boundary of ``interval`` in the zone strictly inside (from_s, to_s)."""
    if interval in (Interval.QUARTER, Interval.HOUR):
        t = math.floor(from_s / QUARTER_S) * QUARTER_S + QUARTER_S
        if to_s - t > MAX_INTERVALS * QUARTER_S * 4:
            raise ValueError(f"a period of more than {MAX_INTERVALS} intervals")
        out = []
        while t < to_s:
            if interval is Interval.QUARTER or datetime.fromtimestamp(t, zone).minute == 0:
                out.append(float(t))
            t += QUARTER_S
        return out
    step = timedelta(days=7 if interval is Interval.WEEK else 1)
    out = []
    try:
        day = datetime.fromtimestamp(from_s, zone).date() + timedelta(days=1)
        if interval is Interval.WEEK:
            day += timedelta(days=(7 - day.weekday()) % 7)  # the next Monday (or this one)
        while (t := _local_midnight(day, zone)) < to_s:
            if t > from_s:
                out.append(t)
            day += step
    except OverflowError:
        pass  # the calendar ends (9999-12-31) before the period does
    return out


def interval_starts(from_s: float, to_s: float, zone: ZoneInfo, interval: Interval) -> list[float]:
    """The starts of the intervals covering [from_s, to_s): ``from_s`` and every boundary after it."""
    if not to_s > from_s:
        raise ValueError("the period must end after it starts")
    starts = [float(from_s), *_boundaries(from_s, to_s, zone, interval)]
    if len(starts) > MAX_INTERVALS:
        raise ValueError(f"a period of more than {MAX_INTERVALS} intervals")
    return starts


def interval_index(starts: Sequence[float], at_s: float) -> int:
    """The interval ``at_s`` falls in (the caller keeps ``at_s`` inside the period)."""
    return bisect.bisect_right(starts, at_s) - 1
