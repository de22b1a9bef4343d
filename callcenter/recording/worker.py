"""The transcription worker: claims jobs from the database, transcribes, stores the transcript (``callcenter worker``).

Runs as its own process (``run_worker``), so Whisper never competes with the service's event loop; inside it the
blocking pipeline runs in a thread while the loop keeps the lease alive with heartbeats. Killing a worker at any
point loses nothing: its lease expires and another worker takes the job; a finish is accepted only from the holder
of the current lease, in the same transaction as the transcript, so each job's transcript is written once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.recording.jobs import RetryPolicy
from callcenter.recording.pipeline import PermanentError, TakeResult, channels_for_take, transcribe_take
from callcenter.recording.queue import JobQueue, Lease
from callcenter.recording.service import link_activity, transcribable_roles
from callcenter.recording.settings import RecordingSettings
from callcenter.recording.storage import RecordingStorage
from callcenter.recording.transcriber import ModelUnavailable, Transcriber
from callcenter.waiting import wait_set
from crm_core.db import Database
from crm_core.recording_models import PG_TS_CONFIG, Recording, RecordingStatus, Transcript
from crm_core.types import utcnow

if TYPE_CHECKING:
    from callcenter.metrics import WorkerMetrics

__all__ = ["WorkerStats", "run_worker", "store_transcript"]

log = logging.getLogger("callcenter.worker")

EventHook = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True)
class WorkerStats:
    done: int = 0
    failed: int = 0
    dead: int = 0
    lost_leases: int = 0
    cancelled: int = 0


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(
    *,
    db: Database,
    storage: RecordingStorage,
    transcriber: Transcriber,
    settings: RecordingSettings,
    worker_id: str | None = None,
    stop: asyncio.Event | None = None,
    max_jobs: int | None = None,
    until_drained: bool = False,
    on_event: EventHook | None = None,
    clock: Callable[[], datetime] = utcnow,
    metrics: WorkerMetrics | None = None,
) -> WorkerStats:
    """Work the queue until ``stop`` is set (or ``max_jobs`` are finished, or - ``until_drained`` - no job is
    queued or leased any more). ``on_event(name, data)`` sees "leased", "done", "failed", "lost", "cancelled";
    ``metrics`` counts each finished job and each transcribed take's real-time factor."""
    owner = worker_id or _default_worker_id()
    policy = RetryPolicy(max_attempts=settings.job_max_attempts, base_backoff_s=settings.job_base_backoff_s,
                         lease_s=settings.job_lease_s)
    queue = JobQueue(db=db, policy=policy, clock=clock)
    stop = stop or asyncio.Event()
    stats = WorkerStats()
    emit = on_event or (lambda _name, _data: None)
    finished = 0
    log.info("worker %s started (%s)", owner, transcriber.name)
    while not stop.is_set():
        lease = await queue.claim(owner=owner)
        if lease is None:
            if until_drained and await queue.pending() == 0:
                break
            await wait_set(stop, settings.worker_poll_interval_s)
            continue
        emit("leased", {"job_id": lease.job_id, "call_id": lease.call_id, "attempt": lease.attempt, "worker": owner})
        outcome = await _work(lease, queue=queue, db=db, storage=storage, transcriber=transcriber,
                              settings=settings, policy=policy, metrics=metrics)
        setattr(stats, outcome, getattr(stats, outcome) + 1)
        if metrics is not None:
            metrics.finished(outcome)
        emit(outcome if outcome != "lost_leases" else "lost", {"job_id": lease.job_id, "call_id": lease.call_id})
        finished += 1
        if max_jobs is not None and finished >= max_jobs:
            break
    log.info("worker %s stopped: %s", owner, stats)
    return stats


async def _work(lease: Lease, *, queue: JobQueue, db: Database, storage: RecordingStorage, transcriber: Transcriber,
                settings: RecordingSettings, policy: RetryPolicy, metrics: WorkerMetrics | None = None) -> str:
    call = {"call_id": lease.call_id}
    async with db.session() as session:
        main = await session.get(Recording, lease.recording_id)
        rows = list(await session.scalars(
            select(Recording).where(Recording.call_id == lease.call_id, Recording.take == (main.take if main else 1))
        )) if main is not None else []
    if main is None or all(r.status is RecordingStatus.DELETED for r in rows):
        await queue.cancel(lease, reason="recording erased")
        return "cancelled"
    usable = transcribable_roles(rows)
    if not usable:
        await queue.fail(lease, error="no stored audio in this recording", permanent=True)
        return "dead"

    lost = asyncio.Event()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(policy.lease_s / 3)
            if not await queue.heartbeat(lease):
                lost.set()
                return

    beat = asyncio.create_task(heartbeat(), name=f"lease-{lease.job_id}")
    try:
        result = await asyncio.to_thread(_transcribe_blocking, storage, usable, transcriber, settings)
    except (PermanentError, ModelUnavailable) as exc:
        beat.cancel()
        log.error("transcription job %d failed for good: %s", lease.job_id, exc, extra=call)
        await queue.fail(lease, error=str(exc), permanent=True)
        return "dead"
    except Exception as exc:
        beat.cancel()
        log.exception("transcription job %d failed (attempt %d/%d)", lease.job_id, lease.attempt,
                      lease.max_attempts, extra=call)
        status = await queue.fail(lease, error=f"{type(exc).__name__}: {exc}")
        return "dead" if status is not None and status.value == "dead" else "failed"
    finally:
        beat.cancel()
        with suppress(asyncio.CancelledError):
            await beat
    if lost.is_set():
        log.warning("transcription job %d: lease lost while working; the result is discarded", lease.job_id, extra=call)
        return "lost_leases"

    async def write(session: AsyncSession) -> None:
        await store_transcript(session, recording_id=lease.recording_id, call_id=lease.call_id, result=result,
                               dialect=db.dialect)

    if not await queue.complete(lease, write):
        log.warning("transcription job %d: lease taken over before the finish; discarded", lease.job_id, extra=call)
        return "lost_leases"
    processing_s = sum(result.timings_s.values())
    log.info("transcribed %.1f s of audio in %.1f s (%s)", result.duration_s, processing_s, transcriber.name, extra=call)
    if metrics is not None:
        metrics.transcribed(audio_s=result.duration_s, processing_s=processing_s)
    return "done"


async def store_transcript(session: AsyncSession, *, recording_id: int, call_id: str, result: TakeResult,
                           dialect: str) -> Transcript:
    """The transcript row, its search entry and the activity's references, in the caller's transaction."""
    text = result.text
    transcript = Transcript(  # activity_id: set by link_activity, once the activity is there
        recording_id=recording_id, call_id=call_id,
        language=result.language, model=result.model[:200], text=text, conversation=result.conversation(),
        metrics=result.metrics, duration_s=round(result.duration_s, 3), created_at=utcnow(),
    )
    if dialect == "postgresql":
        transcript.search_vector = func.to_tsvector(PG_TS_CONFIG, text)
    session.add(transcript)
    await session.flush()
    await link_activity(session, call_id)
    return transcript


def _transcribe_blocking(storage: RecordingStorage, usable: dict[str, Recording], transcriber: Transcriber,
                         settings: RecordingSettings) -> TakeResult:
    with _local_files(storage, usable) as files:
        return transcribe_take(channels_for_take(files), transcriber, window_s=settings.window_s,
                               max_duration_s=settings.max_transcribe_s)


class _local_files:
    """role -> readable local path for the take's stored files (remote stores are copied to a temp folder)."""

    def __init__(self, storage: RecordingStorage, rows: dict[str, Recording]) -> None:
        self.storage = storage
        self.rows = rows
        self.tmp: Path | None = None

    def __enter__(self) -> dict[str, Path]:
        files = {}
        for role, row in self.rows.items():
            assert row.storage_key is not None
            local = self.storage.local_path(row.storage_key)
            if local is None:
                if self.tmp is None:
                    self.tmp = Path(tempfile.mkdtemp(prefix="cc-transcribe-"))
                local = self.tmp / f"{role}.wav"
                with self.storage.open(row.storage_key) as src, local.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            files[role] = local
        return files

    def __exit__(self, *_exc: object) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
