"""The recording store's disk full under traffic (issue 16's fault suite): calls are still routed and written to the
CRM as in an undisturbed run; each recording's rows are written first and say why the file is not stored (ENOSPC);
the maintenance loop tries them again, and once space returns every recording is stored, checksummed and linked to
its call's activity. tests/faults/disk.py says how the disk is made full (a tmpfs filled to the last byte where it
can be mounted, else the kernel's /dev/full)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import DATABASE
from callcenter.events import CallEnded, CallOutcome, RecordingReady
from callcenter.outbox.pipeline import crm_settled
from callcenter.recording.http import RECORDINGS
from crm_core.models import Activity, Lead, Phone, Task, TaskKind
from crm_core.recording_models import Recording, RecordingStatus
from tests.faults.disk import full_disk
from tests.floor import EXTENSIONS, running_floor

WAIT_S = 60.0
POLL_S = 0.1
RETRY_S = 0.5
# The maintenance loop retries every RETRY_S while the disk is full: attempts must not run out before it is freed.
CONFIG = f"[recording]\ningest_retry_interval_s = {RETRY_S}\ningest_max_attempts = 1000\nmissing_grace_s = 2\n"
# A call given up while it rang is recorded too, with no audio: stored as EMPTY, as in an undisturbed run.
SETTLED = (RecordingStatus.STORED, RecordingStatus.EMPTY)
NEW_CALLERS = [f"+1312555{6000 + i:04d}" for i in range(4)]


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll a database condition (the recording service publishes no event per row) until it holds, bounded."""

    async def watch() -> Any:
        while not (result := await check()):
            await asyncio.sleep(POLL_S)
        return result

    try:
        return await asyncio.wait_for(watch(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_full_recording_disk_loses_no_call_and_the_recordings_are_stored_once_space_returns(
        tmp_path: Path, empty_pg: str) -> None:
    with full_disk(tmp_path / "store") as disk:
        async with running_floor(tmp_path, CONFIG, database_url=empty_pg) as floor:
            recordings = floor.app[RECORDINGS]
            recordings.storage = disk.storage
            db = floor.app[DATABASE]
            await floor.all_available()
            disk.fill()

            # Customers of the sample CRM (their managers answer) and new numbers (leads); every other new caller
            # gives up while it rings (a missed call: a callback).
            callers = [(floor.customer_of(ext), 60.0) for ext in EXTENSIONS]
            callers += [(number, 0.3 if i % 2 else 60.0) for i, number in enumerate(NEW_CALLERS)]
            for number, patience_s in callers:
                await floor.call(number, talk_s=1.0, patience_s=patience_s)
            ended = await floor.wait(lambda: (e := [x for x in floor.seen if isinstance(x, CallEnded)])
                                     and len(e) == len(callers) and e, "every call to end", timeout_s=WAIT_S)
            recorded = {e.call_id for e in floor.seen if isinstance(e, RecordingReady)}
            answered = {e.call_id for e in ended if e.outcome is CallOutcome.ANSWERED}
            assert recorded and recorded >= answered

            # The CRM is as an undisturbed run's while the disk is full.
            assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S)
            async with db.session() as s:
                calls = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
                leads = list(await s.scalars(select(Phone.e164).join(Lead, Phone.lead_id == Lead.id)))
                callbacks = list(await s.scalars(select(Task.id).where(Task.kind == TaskKind.CALLBACK)))
            assert Counter(calls) == Counter(e.call_id for e in ended)  # every call once
            assert Counter(leads) == Counter(NEW_CALLERS)  # one lead per new number
            missed = {e.customer for e in ended if e.customer in NEW_CALLERS and e.outcome is not CallOutcome.ANSWERED}
            assert missed and len(callbacks) == len(missed)  # one callback per missed number

            async def rows() -> list[Recording]:
                async with db.session() as s:
                    return list(await s.scalars(select(Recording).order_by(Recording.id)))

            async def all_failed_twice() -> list[Recording] | None:
                found = await rows()
                done = {r.call_id for r in found} == recorded and all(
                    r.status is RecordingStatus.FAILED and r.ingest_attempts >= 2 for r in found)
                return found if done else None

            # Every recording's rows are on record, failed for want of space, and tried again by the maintenance loop.
            failed = await until(all_failed_twice, "every recording failed (disk full) and retried")
            assert all("No space left on device (ENOSPC)" in (r.reason or "") for r in failed)
            assert all(r.storage_key is None and r.sha256 is None for r in failed)
            assert not [p for p in disk.root.rglob("*.wav")]  # nothing half-written left as a recording
            assert not [p for p in disk.root.rglob(".tmp-*")]  # the temp files of failed writes are removed

            disk.free()

            async def all_stored() -> list[Recording] | None:
                found = await rows()
                return found if all(r.status in SETTLED for r in found) else None

            stored = await until(all_stored, "every recording stored once space returned")
            assert [r.id for r in stored] == [r.id for r in failed]  # the same rows: nothing lost, nothing twice
            for row in stored:
                assert row.status is RecordingStatus.STORED or row.call_id not in answered
                assert row.storage_key is not None and row.activity_id is not None
                data = (disk.root / row.storage_key).read_bytes()
                assert len(data) == row.size_bytes and hashlib.sha256(data).hexdigest() == row.sha256
            async with db.session() as s:
                linked = dict((await s.execute(select(Activity.call_id, Activity.recording_ref)
                                               .where(Activity.call_id.in_(answered)))).all())
            assert set(linked) == answered and all(ref and call_id in ref for call_id, ref in linked.items())
            # And the CRM is unchanged by the retries: still every call once.
            async with db.session() as s:
                again = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
            assert Counter(again) == Counter(calls)
