"""The metrics of a routed call, end to end: the whole service against the simulator over real sockets, scraped
through GET /metrics with a monitoring token before and after one call."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from callcenter.app_keys import DATABASE, ROUTING
from callcenter.events import CallOutcome
from tests.floor import ANSWER, WAIT_S, Floor, running_floor
from tests.prom import Scrape, metrics_headers


async def _scrape(floor: Floor, headers: dict[str, str]) -> Scrape:
    async with floor.http_as(floor.crm.agents["1002"]) as http:
        async with http.get("/metrics", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return Scrape(await resp.text())


def _delta(after: Scrape, before: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - (before.get(name, **labels) or 0)


async def test_a_routed_call_moves_the_route_and_call_metrics(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        headers = await metrics_headers(floor.app[DATABASE])
        await floor.all_available()
        before = await _scrape(floor, headers)
        assert before.value("callcenter_ami_up") == 1
        assert before.value("callcenter_ami_sessions_total") == 1 and before.value("callcenter_ami_reconnects_total") == 0
        assert before.value("callcenter_calls_ended_total", outcome="answered") == 0

        number = floor.customer_of("1003")
        floor.sim.pbx.phones["1003"].scripted.append(ANSWER)
        await floor.call(number, talk_s=5.0)
        (ended,) = await floor.wait(lambda: floor.ended(number), "the call to end")
        routed = floor.routed(number)
        after = await _scrape(floor, headers)

    assert ended.outcome is CallOutcome.ANSWERED
    # One answer observed per FastAGI request the call made, under the action it was answered with.
    by_action = collections.Counter(event.action for event in routed)
    assert by_action == {"dial": 1}
    for action, count in by_action.items():
        assert _delta(after, before, "callcenter_route_answer_seconds_count", route="inbound", outcome=action) == count
        # A real answer over a real socket took some time, and under the FastAGI budget on this floor's decider.
        assert 0 < _delta(after, before, "callcenter_route_answer_seconds_sum", route="inbound", outcome=action) < 5
    assert _delta(after, before, "callcenter_calls_ended_total", outcome="answered") == 1
    for outcome in CallOutcome:
        if outcome is not CallOutcome.ANSWERED:
            assert _delta(after, before, "callcenter_calls_ended_total", outcome=outcome.value) == 0
    assert after.value("callcenter_agi_answered_total") - before.value("callcenter_agi_answered_total") == len(routed)
    # Nothing failed open; the AMI stream kept up (the backlog's age is read at the scrape).
    assert sum(v for (name, _), v in after.samples.items() if name == "callcenter_route_fail_open_total") == 0
    assert after.value("callcenter_ami_messages_total") > before.value("callcenter_ami_messages_total")
    assert after.value("callcenter_ami_lag_seconds") >= 0 and after.value("callcenter_ami_queue_depth") >= 0
    assert after.value("callcenter_metrics_database_up") == 1


@asynccontextmanager
async def own_redis(tmp_path: Path) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A redis-server of this test's own (the shared one must stay up), on a free port, no persistence."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(WAIT_S):  # its log says when it accepts connections
            while b"Ready to accept connections" not in await server.stdout.readline():
                pass
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        if server.returncode is None:
            server.kill()
        await server.wait()


async def test_redis_down_is_counted_as_a_fail_open(tmp_path: Path) -> None:
    async with own_redis(tmp_path) as (url, redis_server):
        async with running_floor(tmp_path, f'[redis]\nurl = "{url}"\n') as floor:
            headers = await metrics_headers(floor.app[DATABASE])
            await floor.all_available()
            # Redis goes away: the routing store cannot answer; the caller still reaches the team queue.
            redis_server.kill()
            await redis_server.wait()
            number = floor.customer_of("1002")
            await floor.call(number, talk_s=5.0)
            await floor.wait(lambda: floor.ended(number), "the call to end")
            routed = floor.routed(number)
            after = await _scrape(floor, headers)

    assert routed and all(event.reason == "state-error->queue" for event in routed)
    assert after.value("callcenter_route_fail_open_total", reason="state-error") == len(routed)
    assert after.value("callcenter_route_answer_seconds_count", route="inbound", outcome="queue") == len(routed)
