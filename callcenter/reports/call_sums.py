"""Call figures as additive sums (pure): what any set of calls adds up to, and the figures made from the sums.

The sums of two sets of calls are the sums of their union, so the same figures come from calls counted one by one in
Python (a team's day on the wallboard) or summed per group in the database (a month of a large floor,
``call_sums_store``) and merged per interval. ``figures_of`` is the one place each figure is defined from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

__all__ = ["CallSums", "add", "figures_of"]


@dataclass(slots=True, kw_only=True)
class CallSums:
    offered: int = 0
    answered: int = 0
    missed: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandon_wait_sum_s: float = 0.0
    abandon_wait_max_s: float | None = None
    answered_within_threshold: int = 0
    answered_wait_sum_s: float = 0.0
    talk_sum_s: float = 0.0  # of the answered calls
    wrapup_sum_s: float = 0.0  # of the answered calls
    transferred: int = 0
    fcr_calls: int = 0
    fcr_resolved: int = 0
    approximate: int = 0


def add(total: CallSums, part: CallSums) -> None:
    """``total`` += ``part``, field by field (the largest wait for the maximum)."""
    for f in fields(CallSums):
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if f.name == "abandon_wait_max_s":
            merged = theirs if mine is None else mine if theirs is None else max(mine, theirs)
            total.abandon_wait_max_s = merged
        else:
            setattr(total, f.name, mine + theirs)


def total_of(parts: Sequence[CallSums]) -> CallSums:
    out = CallSums()
    for part in parts:
        add(out, part)
    return out
