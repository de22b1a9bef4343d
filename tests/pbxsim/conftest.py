"""The real service pieces (AmiConnection -> LiveCalls -> bus, FastAgiServer) against the simulator, over sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from callcenter.ami.agi import AgiRequest, FastAgiServer, RouteDecision
from callcenter.ami.connection import AmiConnection
from callcenter.calls.live import LiveCalls
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded, InProcessBus
from callcenter.pbxsim.callmodel import AgentPhone
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulator import DIALPLANS, Simulator, SimulatorSettings

T = TypeVar("T")
WAIT_S = 10.0  # bound on every wait for the service; a healthy run needs milliseconds


@dataclass
class Service:
    sim: Simulator
    clock: VirtualClock
    agi: FastAgiServer
    conn: AmiConnection
    live: LiveCalls
    bus: InProcessBus
    seen: list[Any] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    consumer: asyncio.Task[None] | None = None

    def on_event(self, event: Any) -> None:
        self.seen.append(event)
        self.changed.set()

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self.seen if isinstance(e, kind)]

    @property
    def ended(self) -> list[CallEnded]:
        return self.of(CallEnded)

    async def wait(self, predicate: Callable[[], bool], *, what: str, timeout_s: float = WAIT_S) -> None:
        """Wait for a domain event condition; fails with ``what`` after ``timeout_s``."""

        async def watch() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(watch(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; seen {[type(e).__name__ for e in self.seen]}")

    async def wait_ended(self, count: int = 1) -> list[CallEnded]:
        await self.wait(lambda: len(self.ended) >= count, what=f"{count} CallEnded")
        return self.ended

    async def send(self, action: dict[str, Any]) -> Any:
        return await self.conn.send(action)


Decide = Callable[[AgiRequest], Awaitable[RouteDecision]]
Factory = Callable[..., Awaitable[Service]]


def dial_plan(*targets_by_attempt: str, ring_timeout_s: int = 15, overflow: str = "sales") -> Decide:
    """A decider: attempt n dials targets_by_attempt[n-1]; past the list, the overflow queue."""

    async def decide(request: AgiRequest) -> RouteDecision:
        if request.attempt <= len(targets_by_attempt):
            return RouteDecision.for_dial([targets_by_attempt[request.attempt - 1]], ring_timeout_s=ring_timeout_s,
                                          reason="test", overflow_queue=overflow, queue_timeout_s=60)
        return RouteDecision.for_queue(overflow, reason="test", queue_timeout_s=60)

    return decide


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Factory]:
    started: list[Service] = []

    async def factory(*, phones: tuple[AgentPhone, ...] | None = None, decide: Decide | None = None,
                      auto: bool = True, seed: int = 1, customers: dict[str, Any] | None = None,
                      manager_conf: Path | None = DIALPLANS / "manager.conf") -> Service:
        # Start at the wall clock: the service dates a resync with its own time.time() (AmiConnection), so an
        # Asterisk clock hours away from it would make every call look older than the latest restart.
        clock = VirtualClock(auto=auto, start_epoch_s=time.time())
        settings = SimulatorSettings(
            phones=phones or tuple(AgentPhone(extension=str(e)) for e in (1002, 1003, 1004)),
            seed=seed,
            monitor_dir=tmp_path / "monitor",
            manager_conf=manager_conf,  # the shipped manager.conf unless a test needs more classes
        )
        sim = Simulator(settings=settings, clock=clock, customers=customers)
        await sim.start()
        agi = FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60, decide=decide)
        await agi.start()
        sim.set_agi_address("127.0.0.1", agi.port)
        bus = InProcessBus()
        live = LiveCalls(tracker=CallTracker(), bus=bus)
        conn = AmiConnection(host="127.0.0.1", port=sim.ami_port, username="callcenter", secret="callcenter",
                             reconnect_min_s=0.02, reconnect_max_s=0.2, ping_interval_s=30)
        svc = Service(sim=sim, clock=clock, agi=agi, conn=conn, live=live, bus=bus)
        bus.subscribe(svc.on_event)
        conn.start()
        svc.consumer = asyncio.create_task(conn.run(live))
        await conn.wait_live(WAIT_S)
        started.append(svc)
        return svc

    yield factory
    for svc in started:
        if svc.consumer is not None:
            svc.consumer.cancel()
            await asyncio.gather(svc.consumer, return_exceptions=True)
        await svc.conn.stop()
        await svc.agi.stop()
        await svc.sim.stop()
        assert svc.clock.errors == [], svc.clock.errors
