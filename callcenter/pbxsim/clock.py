"""Simulation time: a virtual clock for deterministic tests, a real-time clock (with a speed factor) for demos.

Every simulated activity (a channel's dialplan, a phone deciding when to answer, a caller losing patience) is a
*process*: a coroutine started with ``clock.spawn``. A process waits only through the clock (``sleep`` or ``park``
on a ``Waiter`` that another process or a timer wakes). Real I/O (the FastAGI socket) is awaited directly and keeps
the process *active*.

The virtual clock advances time only when no process is active, i.e. every process is parked on the clock. Then
time jumps to the next timer: a two-minute call takes microseconds, yet a FastAGI round trip over a real socket is
always waited for, because the process doing it stays active. That is what makes a seeded run deterministic and
lets tests wait on events without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Coroutine
from typing import Any, Final, Protocol

__all__ = ["TIMEOUT", "RealtimeClock", "SimClock", "VirtualClock", "Waiter"]

log = logging.getLogger("callcenter.pbxsim")


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT: Final = _Timeout()

# Asterisk writes Timestamp with microseconds; events in one burst are a few microseconds apart.
_EVENT_STEP_S: Final = 0.000004


class Waiter:
    """One wake-up a process can park on. The first wake wins; later ones are ignored."""

    __slots__ = ("_clock", "future", "_timer_seq")

    def __init__(self, clock: _ClockBase) -> None:
        self._clock = clock
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._timer_seq: int | None = None

    @property
    def done(self) -> bool:
        return self.future.done()

    def wake(self, value: Any = None) -> bool:
        """Wake the parked process with ``value``; False when it was already woken."""
        if self.future.done():
            return False
        self._clock._woken(self)
        self.future.set_result(value)
        return True


class SimClock(Protocol):
    """What the simulator needs from a clock; both clocks implement it."""

    def now_s(self) -> float: ...

    def stamp_s(self) -> float: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]: ...

    def waiter(self) -> Waiter: ...

    async def park(self, waiter: Waiter, timeout_s: float | None = None) -> Any: ...

    async def sleep(self, delay_s: float) -> None: ...

    @property
    def errors(self) -> list[BaseException]: ...


class _ClockBase:
    def __init__(self, *, start_epoch_s: float) -> None:
        self._epoch_s = start_epoch_s
        self._last_stamp_s = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._errors: list[BaseException] = []

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions that escaped a process (a simulator bug): tests assert this stays empty."""
        return self._errors

    def now_s(self) -> float:
        raise NotImplementedError

    def stamp_s(self) -> float:
        """The Timestamp of the next event: now, but strictly after the previous event (Asterisk never repeats one)."""
        stamp = max(self.now_s(), self._last_stamp_s + _EVENT_STEP_S)
        self._last_stamp_s = stamp
        return stamp

    def waiter(self) -> Waiter:
        return Waiter(self)

    def _woken(self, waiter: Waiter) -> None:
        pass

    async def sleep(self, delay_s: float) -> None:
        await self.park(self.waiter(), max(0.0, delay_s))

    async def park(self, waiter: Waiter, timeout_s: float | None = None) -> Any:
        raise NotImplementedError

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._run(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a process crashing is a simulator bug: keep it visible, never kill the loop
            self._errors.append(exc)
            log.exception("pbxsim process failed")

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class VirtualClock(_ClockBase):
    """Time advances only when every process is parked; ``auto`` jumps to the next timer at once.

    With ``auto=False`` a test moves time itself with ``advance(dt)`` (e.g. to act in the middle of a call).
    """

    def __init__(self, *, start_epoch_s: float = 1_795_390_000.0, auto: bool = True) -> None:
        super().__init__(start_epoch_s=start_epoch_s)
        self._now_s = start_epoch_s
        self._timers: list[tuple[float, int, Waiter]] = []
        self._seq = itertools.count()
        self._active = 0
        self._auto = auto
        self._advance_pending = False
        self._idle_changed: asyncio.Event | None = None

    @property
    def auto(self) -> bool:
        return self._auto

    @auto.setter
    def auto(self, value: bool) -> None:
        self._auto = value
        self._check_idle()

    @property
    def active(self) -> int:
        return self._active

    def now_s(self) -> float:
        return self._now_s

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        self._active += 1  # counted at once: the task has not run yet, but time must not pass before it does
        return super().spawn(coro, name=name)

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await super()._run(coro)
        finally:
            self._active -= 1
            self._check_idle()

    def _woken(self, waiter: Waiter) -> None:
        self._active += 1  # the parked process is runnable from now on, before the loop gets to it

    async def park(self, waiter: Waiter, timeout_s: float | None = None) -> Any:
        if waiter.done:
            return waiter.future.result()
        if timeout_s is not None:
            heapq.heappush(self._timers, (self._now_s + max(0.0, timeout_s), next(self._seq), waiter))
        self._active -= 1
        self._check_idle()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if not waiter.future.done() or waiter.future.cancelled():
                self._active += 1  # balance: _run's finally counts this process out once more
            raise

    def _check_idle(self) -> None:
        if self._active > 0:
            return
        if self._idle_changed is not None:
            self._idle_changed.set()
        if self._auto and not self._advance_pending:
            self._advance_pending = True
            asyncio.get_running_loop().call_soon(self._auto_advance)

    def _auto_advance(self) -> None:
        self._advance_pending = False
        if self._active > 0 or not self._auto:
            return
        self._fire_next(limit_s=None)

    def _fire_next(self, *, limit_s: float | None) -> bool:
        """Fire the earliest pending timer (not later than limit_s); False when there is none."""
        timers = self._timers
        while timers:
            when, _, waiter = timers[0]
            if waiter.done:
                heapq.heappop(timers)
                continue
            if limit_s is not None and when > limit_s:
                return False
            heapq.heappop(timers)
            self._now_s = max(self._now_s, when)
            waiter.wake(TIMEOUT)
            return True
        return False

    def jump(self, delay_s: float) -> None:
        """Move time forward at once, firing nothing on the way (a restart: the old processes are gone)."""
        self._now_s += max(0.0, delay_s)
        self._check_idle()

    async def settle(self) -> None:
        """Wait until every process is parked on the clock (nothing runnable is left at this instant)."""
        while self._active > 0:
            self._idle_changed = asyncio.Event()
            await self._idle_changed.wait()
        await asyncio.sleep(0)

    async def advance(self, delay_s: float) -> None:
        """Manual mode: run everything due within ``delay_s`` of virtual time, in order, then stop there."""
        target = self._now_s + delay_s
        while True:
            await self.settle()
            if self._active > 0:
                continue
            if not self._fire_next(limit_s=target):
                break
        self._now_s = max(self._now_s, target)
        await self.settle()

    @property
    def next_timer_s(self) -> float | None:
        pending = [when for when, _, w in self._timers if not w.done]
        return min(pending) if pending else None


class RealtimeClock(_ClockBase):
    """Wall-clock time, optionally sped up: ``speed=10`` runs a 60 s call in 6 s (timestamps still say 60 s)."""

    def __init__(self, *, speed: float = 1.0, start_epoch_s: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        super().__init__(start_epoch_s=time.time() if start_epoch_s is None else start_epoch_s)
        self.speed = speed
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        return self._epoch_s + (time.monotonic() - self._t0) * self.speed

    async def park(self, waiter: Waiter, timeout_s: float | None = None) -> Any:
        if waiter.done:
            return waiter.future.result()
        handle = None
        if timeout_s is not None:
            handle = asyncio.get_running_loop().call_later(max(0.0, timeout_s) / self.speed, waiter.wake, TIMEOUT)
        try:
            return await waiter.future
        finally:
            if handle is not None:
                handle.cancel()
