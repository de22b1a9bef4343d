"""Failed sign-ins per client address: after ``max_failures`` within ``window_s`` the address is refused (429 with
Retry-After) until its oldest failure in the window ages out. Pure: the clock is passed in."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

MAX_ADDRESSES = 100_000  # bounded memory under a spray of addresses: the oldest entries are forgotten first


@dataclass
class FailureThrottle:
    max_failures: int = 20
    window_s: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str, now_s: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after_s(self, address: str, now_s: float) -> int | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        times = self._recent(address, now_s)
        if times is None or len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window_s - now_s))

    def failed(self, address: str, now_s: float) -> None:
        times = self._recent(address, now_s)
        if times is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))
            times = self._failures[address] = deque(maxlen=self.max_failures)
        times.append(now_s)
