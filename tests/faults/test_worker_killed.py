"""A CRM worker SIGKILLed mid-batch (issue 16's fault suite): the service runs the call path only, two crm-worker
processes stand by on the outbox; the first is killed as it writes the calls, the second takes the lease over and
hands the batch on again. The CRM ends as an undisturbed run's: one activity per call, one lead per new number, one
callback per missed number, nothing twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from callcenter.app_keys import DATABASE, OUTBOX, SETTINGS
from callcenter.events import CallEnded, CallOutcome
from crm_core.models import Activity, Lead, Phone, Task, TaskKind
from crm_core.outbox_models import OutboxEvent
from tests.faults.workers import WorkerProcess
from tests.floor import EXTENSIONS, Floor, running_floor

LEASE_S = 2.0
CONFIG = f"[workers]\nin_process = false\nlease_s = {LEASE_S}\npoll_s = 0.1\n"
NEW_CALLERS = [f"+1312555{7000 + i:04d}" for i in range(6)]
CALLS_S = 60.0


def worker_env(floor: Floor) -> dict[str, str]:
    settings = floor.app[SETTINGS]
    return {
        "CALLCENTER_DATABASE__URL": settings.database.url,
        "CALLCENTER_WORKERS__LEASE_S": str(LEASE_S),
        "CALLCENTER_WORKERS__POLL_S": "0.1",
        "CALLCENTER_ROUTING__DEFAULT_TEAM": settings.routing.default_team,
        "CALLCENTER_RECORDING__SPOOL_DIR": settings.recording.spool_dir,
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": settings.recording.asterisk_spool_dir,
        "CALLCENTER_RECORDING__STORE_DIR": settings.recording.store_dir,
        "CALLCENTER_RECORDING__MISSING_GRACE_S": "1",
        "CALLCENTER_LOG__LEVEL": "INFO",
    }


async def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(tmp_path: Path, empty_pg: str) -> None:
    async with running_floor(tmp_path, CONFIG, database_url=empty_pg) as floor:
        await floor.all_available()
        first = await WorkerProcess.start(tmp_path, "worker-1", worker_env(floor))
        second = None
        try:
            await first.wait_line("outbox consumer crm: held by", CALLS_S)
            second = await WorkerProcess.start(tmp_path, "worker-2", worker_env(floor))
            # Customers of the sample CRM (their managers answer) and new numbers (leads); every other new caller
            # gives up while it rings (a missed call: a callback).
            callers = [(floor.customer_of(ext), 60.0) for ext in EXTENSIONS]
            callers += [(number, 0.3 if i % 2 else 60.0) for i, number in enumerate(NEW_CALLERS)]
            for number, patience_s in callers:
                await floor.call(number, talk_s=1.0, patience_s=patience_s)
            # Killed as it writes: one call written, the rest of its batch not.
            await first.wait_line("call written", CALLS_S)
            await first.kill()
            ended = await floor.wait(lambda: (e := [x for x in floor.seen if isinstance(x, CallEnded)])
                                     and len(e) == len(callers) and e, "every call to end", timeout_s=CALLS_S)
            # Everything is in the outbox; the second worker takes the lease once it lapses and hands it all on.
            await asyncio.wait_for(floor.app[OUTBOX].idle.wait(), CALLS_S)
            async with floor.app[DATABASE].session() as s:
                last_id = await s.scalar(select(func.max(OutboxEvent.id)))
            await second.wait_line("caught up at id", CALLS_S + 2 * LEASE_S,
                                   where=lambda line: int(line.rsplit(" ", 1)[-1]) >= last_id)
            async with floor.app[DATABASE].session() as s:
                calls = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
                leads = list(await s.scalars(select(Phone.e164).join(Lead, Phone.lead_id == Lead.id)))
                callbacks = list(await s.scalars(select(Task.id).where(Task.kind == TaskKind.CALLBACK)))
            trouble = [line for line in first.lines + second.lines if "ERROR" in line or "failed" in line]
            assert Counter(calls) == Counter(e.call_id for e in ended), trouble  # every call, once
            assert Counter(leads) == Counter(NEW_CALLERS)  # one lead per new number
            missed = [e for e in ended if e.customer in NEW_CALLERS and e.outcome is not CallOutcome.ANSWERED]
            assert missed and len(callbacks) == len({e.customer for e in missed})  # one callback per missed number
        finally:
            await first.kill()
            if second is not None:
                await second.stop()
