"""Redis restarted mid-traffic (issue 16's fault suite): the service keeps its routing state in a redis-server of
the test's own, which is killed while calls run and started again on the same port (empty: no persistence). While
it is down routing fails open to the team queue (``route_fail_open_total{reason=state-error}`` counts each); once it
is back calls are routed through Redis again, and the CRM ends as an undisturbed run's: every call once, one lead per
new number, one callback per missed number."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from callcenter.app_keys import DATABASE, ROUTING
from callcenter.events import CallEnded, CallRouted
from callcenter.outbox.pipeline import crm_settled
from tests.faults.crm_check import assert_crm_matches_the_simulator, finished_calls
from tests.floor import EXTENSIONS, Floor, running_floor
from tests.prom import Scrape, metrics_headers

WAIT_S = 30.0
FAIL_OPEN = "state-error->queue"
NEW_CALLERS = [f"+1312555{4000 + i:04d}" for i in range(6)]


class RedisServer:
    """A redis-server of this test's own (the shared one must stay up), without persistence: a restart is empty."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        async with asyncio.timeout(WAIT_S):  # its log says when it accepts connections
            while b"Ready to accept connections" not in await self.proc.stdout.readline():
                assert not self.proc.stdout.at_eof(), "redis-server exited"

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
        if self.proc is not None:
            await self.proc.wait()


async def fail_opens(floor: Floor, headers: dict[str, str]) -> float:
    async with floor.http_as(floor.crm.agents["1002"]) as http:
        async with http.get("/metrics", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return Scrape(await resp.text()).get("callcenter_route_fail_open_total", reason="state-error") or 0.0


async def calls(floor: Floor, numbers: list[tuple[str, float]]) -> list[CallRouted]:
    """Place the calls, wait until the simulator and the service have ended them; their routing answers."""
    before = set(floor.sim.pbx.calls)
    for number, patience_s in numbers:
        await floor.call(number, talk_s=5.0, patience_s=patience_s)
    await floor.wait(lambda: len(floor.sim.pbx.calls) == len(before) + len(numbers)
                     and not floor.sim.pbx.live_channels(), "the calls to end in the simulator", timeout_s=WAIT_S)
    ids = set(floor.sim.pbx.calls) - before
    await floor.wait(lambda: ids <= {e.call_id for e in floor.seen if isinstance(e, CallEnded)},
                     "the service to end the calls", timeout_s=WAIT_S)
    return [e for e in floor.seen if isinstance(e, CallRouted) and e.call_id in ids]


async def test_routing_fails_open_while_redis_is_down_and_recovers_after_its_restart(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        async with running_floor(tmp_path, f'[redis]\nurl = "{redis.url}"\n') as floor:
            headers = await metrics_headers(floor.app[DATABASE])
            await floor.all_available()
            customers = [(floor.customer_of(ext), 60.0) for ext in EXTENSIONS]
            # every other new caller gives up while it rings: a missed call
            news = [(number, 0.3 if i % 2 else 60.0) for i, number in enumerate(NEW_CALLERS)]

            routed = await calls(floor, customers + news[:2])
            assert routed and all(e.reason != FAIL_OPEN for e in routed)  # through Redis
            assert await fail_opens(floor, headers) == 0

            await redis.kill()
            routed = await calls(floor, customers + news[2:4])
            assert routed and all(e.reason == FAIL_OPEN for e in routed)  # every call still routed, to the queue
            assert await fail_opens(floor, headers) == len(routed)

            follower = floor.app[ROUTING].follower
            assert not follower.in_step.is_set()  # the agents' state changes of those calls were not written
            await redis.start()  # same port, empty
            # The follower writes every agent's latest state again (the calls' answers above found Redis down).
            await asyncio.wait_for(follower.in_step.wait(), WAIT_S)
            routed = await calls(floor, customers + news[4:])
            assert routed and all(e.reason != FAIL_OPEN for e in routed)  # through Redis again
            owners = {e.call_id: e for e in routed if e.reason == "owner"}
            assert len(owners) == len(customers)  # each customer reaches their own manager again

            assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S)
            assert len(finished_calls(floor)) == 3 * len(customers) + len(news)
            await assert_crm_matches_the_simulator(floor, set(NEW_CALLERS))
    finally:
        await redis.kill()
