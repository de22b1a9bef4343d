"""Two service instances on one machine sharing PostgreSQL and Redis, the one answering FastAGI SIGKILLed mid-traffic
(issue 16's fault suite). Instance B is a real `callcenter serve` process, instance A runs in the test; both read the
simulator's AMI (docs/architecture.md "Several instances"). The simulator's AGI() goes to B until B is killed, then to
A, as Asterisk's res_agi moves to the next address of the list when one cannot be reached; a call while AGI() still
points at the dead B, and any whose AGI session the kill cut (B is killed as soon as it has answered two: the CRM
lookups of the others are often still running), go to the dialplan's fallback queue. Both run the workers
in-process; A, up first, holds the outbox's feeds (a feed holder killed is test_worker_killed.py's). The CRM ends as
an undisturbed run's: one activity per call, one lead per new number, one callback per missed number."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from callcenter.app_keys import AGI, DATABASE, INSTANCE, SETTINGS
from callcenter.events import CallEnded, CallOutcome, CallRouted
from callcenter.outbox.pipeline import crm_settled
from crm_core.models import Activity, Lead, Phone, Task, TaskKind
from tests.conftest import free_port, require_service
from tests.faults.workers import WorkerProcess
from tests.floor import EXTENSIONS, QUEUE, Floor, running_floor

# Its instances share Redis pub/sub (channels span Redis databases): one such test at a time (pytest-xdist).
pytestmark = pytest.mark.xdist_group("redis-apps")

REDIS = "redis://127.0.0.1:6379/14"  # a database of its own: the test flushes it
LEASE_S = 2.0
WAIT_S = 60.0
# These tests are about who survives, not the answer's time budget: on a loaded 2-core machine a cold instance's first
# decisions can run past 300 ms and fail open to the queue (tests/routing covers the budget).
BUDGET_MS = 2000
CONFIG = (f'[redis]\nurl = "{REDIS}"\n[workers]\nlease_s = {LEASE_S}\npoll_s = 0.1\n'
          f'[agi]\ntime_budget_ms = {BUDGET_MS}\n')
NEW_CALLERS = [f"+1312555{5000 + i:04d}" for i in range(6)]



async def start_instance_b(floor: Floor, tmp_path: Path, agi_port: int) -> WorkerProcess:
    """`callcenter serve` with A's settings (database, Redis, the simulator's AMI, spool), its own FastAGI port."""
    settings = floor.app[SETTINGS]
    env = {
        "CALLCENTER_DATABASE__URL": settings.database.url,
        "CALLCENTER_AMI__HOST": settings.ami.host,
        "CALLCENTER_AMI__PORT": str(settings.ami.port),
        "CALLCENTER_AMI__SECRET": "callcenter",
        "CALLCENTER_AGI__DEFAULT_QUEUE": QUEUE,
        "CALLCENTER_AGI__TIME_BUDGET_MS": str(BUDGET_MS),
        "CALLCENTER_ROUTING__CRM_BUDGET_MS": str(settings.routing.crm_budget_ms),
        "CALLCENTER_ROUTING__DEFAULT_TEAM": settings.routing.default_team,
        "CALLCENTER_RECORDING__SPOOL_DIR": settings.recording.spool_dir,
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": settings.recording.asterisk_spool_dir,
        "CALLCENTER_RECORDING__STORE_DIR": settings.recording.store_dir,
        "CALLCENTER_REDIS__URL": REDIS,
        "CALLCENTER_WORKERS__LEASE_S": str(LEASE_S),
        "CALLCENTER_WORKERS__POLL_S": "0.1",
        "CALLCENTER_LOG__LEVEL": "INFO",
    }
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "serve", "--port", str(free_port()), "--agi-port", str(agi_port),
        cwd=b_dir, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return WorkerProcess(proc, tmp_path / "instance-b.log")


async def test_an_instance_killed_mid_traffic_the_other_routes_on_and_the_crm_has_every_call_once(
        tmp_path: Path, empty_pg: str) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    redis = aioredis.from_url(REDIS)
    await redis.flushdb()
    b = None
    try:
        async with running_floor(tmp_path, CONFIG, database_url=empty_pg) as floor:
            a_name = floor.app[INSTANCE]
            b_agi_port = free_port()
            b = await start_instance_b(floor, tmp_path, b_agi_port)
            await b.wait_line("serving on http://", WAIT_S)
            await b.wait_line("AMI live", WAIT_S)
            await floor.all_available()
            floor.sim.set_agi_address("127.0.0.1", b_agi_port)

            # Customers of the sample CRM (their managers answer) and new numbers (leads); every other new caller
            # gives up while it rings (a missed call: a callback). Some before B dies, one while the simulator's AGI
            # still points at the dead B, the rest after it points at A.
            callers = [(floor.customer_of(ext), 60.0) for ext in EXTENSIONS]
            callers += [(number, 0.3 if i % 2 else 60.0) for i, number in enumerate(NEW_CALLERS)]
            before, (orphan, orphan_patience_s), after = callers[:5], callers[5], callers[6:]
            for number, patience_s in before:
                await floor.call(number, talk_s=30.0, patience_s=patience_s)

            def by_b() -> list[CallRouted]:
                return [e for e in floor.seen if isinstance(e, CallRouted) and e.instance != a_name]

            # B has answered FastAGI for some calls (A sees its decisions through Redis) and dies with calls up.
            await floor.wait(lambda: len(by_b()) >= 2, "B to route calls", timeout_s=WAIT_S)
            await b.kill()
            routed_by_b = {e.call_id for e in by_b()}
            assert len([e for e in floor.seen if isinstance(e, CallEnded)]) < len(before)  # killed mid-traffic

            # A call while AGI() still points at the dead B: AGISTATUS=FAILURE, the dialplan's fallback queue.
            await floor.call(orphan, talk_s=1.0, patience_s=orphan_patience_s)
            (orphaned,) = await floor.wait(lambda: floor.ended(orphan), "the call with no FastAGI to end",
                                           timeout_s=WAIT_S)
            assert not [e for e in floor.seen if isinstance(e, CallRouted) and e.call_id == orphaned.call_id]
            floor.sim.set_agi_address("127.0.0.1", floor.app[AGI].port)
            for number, patience_s in after:
                await floor.call(number, talk_s=1.0, patience_s=patience_s)
            ended = await floor.wait(lambda: (e := [x for x in floor.seen if isinstance(x, CallEnded)])
                                     and len(e) == len(callers) and e, "every call to end", timeout_s=WAIT_S)
            by_a = {e.call_id for e in floor.seen if isinstance(e, CallRouted) and e.instance == a_name}
            after_ids = {e.call_id for e in ended if e.customer in {number for number, _ in after}}
            assert routed_by_b and after_ids <= by_a  # B answered calls before it died, A every call after

            # What B's outbox writer wrote and what A's wrote are one row each (dedupe key); A's feeds hand on all.
            assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S + 2 * LEASE_S)
            async with floor.app[DATABASE].session() as s:
                calls = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
                leads = list(await s.scalars(select(Phone.e164).join(Lead, Phone.lead_id == Lead.id)))
                callbacks = list(await s.scalars(select(Task.id).where(Task.kind == TaskKind.CALLBACK)))
            assert Counter(calls) == Counter(e.call_id for e in ended)  # every call once
            assert Counter(leads) == Counter(NEW_CALLERS)  # one lead per new number
            missed = {e.customer for e in ended if e.customer in NEW_CALLERS and e.outcome is not CallOutcome.ANSWERED}
            assert missed and len(callbacks) == len(missed)  # one callback per missed number
    finally:
        if b is not None:
            await b.kill()
        await redis.flushdb()
        await redis.aclose()
