"""A worker killed (SIGKILL) in the middle of a job loses nothing: another worker finishes the job, exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from crm_core.db import Database
from crm_core.models import Activity
from crm_core.recording_models import JobStatus, Transcript
from tests.conftest import REPO
from tests.recording.test_ingest import add_activity, jobs_of, ready


def start_worker(db_url: str, store: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.recording.worker_proc", "--db", db_url, "--store", str(store), *extra],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def next_event(proc: subprocess.Popen[str], wanted: str) -> dict:
    """Block on the worker's own report (its stdout), not on a clock."""
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == wanted:
            return event
    raise AssertionError(f"worker exited ({proc.wait()}) before {wanted!r}")


async def test_killed_worker_job_is_finished_once_by_the_next(db: Database, db_url: str, make_service, rx_tx_call, store_dir: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    activity_id = await add_activity(db, call_id)
    await make_service().ingest(ready(call_id, path, legs))
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.QUEUED

    first = start_worker(db_url, store_dir, "--lease-s", "2", "--hold-after-lease")
    leased = next_event(first, "leased")
    assert leased["job_id"] == job.id
    (job,) = await jobs_of(db, call_id)  # the observable state the kill is aimed at
    assert job.status is JobStatus.LEASED and job.attempts == 1 and job.lease_owner == leased["worker"]
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    async with db.session() as s:
        assert list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id))) == []

    # The next worker waits out the dead worker's lease, takes the job and finishes it.
    second = start_worker(db_url, store_dir, "--until-drained")
    out, _ = second.communicate(timeout=300)  # a bound on a hang, not on speed (it needs seconds)
    assert second.returncode == 0, out
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events if e.get("job_id") == job.id] == ["leased", "done"]
    assert next(e for e in events if e["event"] == "leased")["attempt"] == 2

    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.DONE and job.attempts == 2
    async with db.session() as s:
        transcripts = list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id)))
        activity = await s.get(Activity, activity_id)
    assert len(transcripts) == 1
    text = transcripts[0].text.lower()
    assert "widgets" in text and "calling" in text
    assert activity.transcript_ref == f"/api/v1/transcripts/{transcripts[0].id}"
