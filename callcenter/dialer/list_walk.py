"""Walking a campaign's dial list for the next numbers to call, and knowing when the list is done (pure state).

The list is the saved report re-evaluated now (campaign_store.dial_list_page), read a keyset page at a time. A pass
walks it from the start to the end; permitted rows a page had beyond what the pacing asked for wait in a buffer (each
is checked again immediately before its dial, so a stale verdict never dials anything). At the end of a pass:

* something was permitted this pass: start the next pass at once (retries become due, records enter the report);
* nothing was, and nothing can change by waiting (no refusal with a ``retry_at_s``, no number in flight, nothing in
  flight for the campaign): the list is **done** and the campaign finishes;
* nothing was, but something is waiting (a retry delay, a calling window, an attempt in flight): sleep until the
  earliest ``retry_at_s`` (at most ``max_sleep_s``: a record can enter the report any time) and walk again.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from callcenter.dialer.verdict import Reason, Refusal

__all__ = ["ListWalk", "Candidate"]


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    record_id: int
    e164: str
    contact_id: int | None
    lead_id: int | None
    values: dict[str, Any]


@dataclasses.dataclass(slots=True)
class ListWalk:
    max_sleep_s: float = 60.0
    cursor: str | None = None
    buffer: deque[Candidate] = dataclasses.field(default_factory=deque)
    found_this_pass: bool = False
    waiting: bool = False  # a refusal this pass could lift by waiting
    earliest_retry_s: float | None = None
    asleep_until_s: float | None = None  # nothing callable: the next pass starts then
    rows_this_pass: int = 0
    passes: int = 0

    def asleep(self, now_s: float) -> bool:
        return self.asleep_until_s is not None and now_s < self.asleep_until_s

    def take(self, candidate: Candidate) -> None:
        self.buffer.append(candidate)
        self.found_this_pass = True

    def refused(self, refusal: Refusal) -> None:
        if refusal.reason is Reason.IN_FLIGHT:
            self.waiting = True
        elif refusal.retry_at_s is not None:
            self.waiting = True
            if self.earliest_retry_s is None or refusal.retry_at_s < self.earliest_retry_s:
                self.earliest_retry_s = refusal.retry_at_s

    def page_read(self, next_cursor: str | None, rows: int) -> None:
        self.cursor = next_cursor
        self.rows_this_pass += rows

    def end_pass(self, now_s: float, *, in_flight: int) -> bool:
        """The walk reached the list's end: True when the list is done (see the module's rules)."""
        done = not self.found_this_pass and not self.buffer and not self.waiting and in_flight == 0
        if not self.found_this_pass and not done:
            wake = now_s + self.max_sleep_s
            if self.earliest_retry_s is not None:
                wake = min(wake, max(self.earliest_retry_s, now_s))
            self.asleep_until_s = wake
        self.passes += 1
        self.cursor = None
        self.found_this_pass = self.waiting = False
        self.earliest_retry_s = None
        self.rows_this_pass = 0
        return done
