"""Recordings into the store: ingest on ``RecordingReady``, retention, legal hold, erasure on request.

Ingest, per file of the recording (mix / rx / tx, or the stereo file):
1. a row is written first (status ``pending``), so that whatever happens next the call's recording is on record;
2. the AMI name is mapped into the spool folder (names that escape it are refused), the header probed, and the file
   copied into the store atomically with its SHA-256 (blocking work runs in a thread, off the event loop);
3. one transaction sets each row's outcome (stored, truncated, empty, missing, invalid, refused, failed + reason),
   links the call activity and adds the transcription job - so a stored recording always has its job.
Failed (disk full) and missing files are tried again by the maintenance loop; nothing is dropped silently.

The call's activity is written by the CRM bridge from the same call's ``CallEnded``, in its own task, so it may come
before or after the recording is stored: both sides link when they can (``link_activity`` here at ingest, on the
bridge's ``CallLogged`` and when a transcript is stored), and the link is idempotent.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.facts import CallLogged
from callcenter.events import EventBus, RecordingReady
from callcenter.recording import audiofile
from callcenter.recording.audio import AudioError, AudioInfo, wav_header
from callcenter.recording.jobs import RetryPolicy
from callcenter.recording.queue import enqueue
from callcenter.recording.settings import RecordingSettings
from callcenter.recording.spool import PathRefused, leg_name, plan_files, resolve_spool_path
from callcenter.recording.storage import COPY_CHUNK_BYTES, RecordingStorage, StoredObject, read_range, safe_key_part
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict, NotFound
from crm_core.models import Activity, AuditEntry, User
from crm_core.recording_models import (
    JobStatus,
    Recording,
    RecordingRetention,
    RecordingStatus,
    Transcript,
    TranscriptionJob,
)
from crm_core.types import utcnow

__all__ = ["ErasePlan", "EraseReport", "RecordingService", "link_activity", "recordings_url", "transcribable_roles"]

log = logging.getLogger("callcenter.recording")

# Rows whose file is in the store (or was, for deleted ones) are never ingested again.
_SETTLED: Final = frozenset({RecordingStatus.STORED, RecordingStatus.TRUNCATED, RecordingStatus.EMPTY,
                             RecordingStatus.DELETED})
# Outcomes the maintenance loop tries again (the file may still appear / the disk may have room now).
_RETRYABLE: Final = frozenset({RecordingStatus.PENDING, RecordingStatus.MISSING, RecordingStatus.FAILED})
_HAS_AUDIO: Final = frozenset({RecordingStatus.STORED, RecordingStatus.TRUNCATED})
MISSING_POLL_S: Final = 0.5


def transcribable_roles(rows: list[Recording]) -> dict[str, Recording]:
    """role -> row for a take's files that hold audio (legs preferred by the worker, the mix as a fallback)."""
    out = {}
    for row in rows:
        if row.status in _HAS_AUDIO and (row.duration_s or 0) > 0:
            out[row.leg.partition("-")[0]] = row
    return out


def recordings_url(call_id: str) -> str:
    return f"/api/v1/calls/{call_id}/recordings"


async def link_activity(session: AsyncSession, call_id: str) -> Activity | None:
    """Point the call's activity at its stored recordings and first transcript (and its call metrics), and those
    rows at the activity.

    Idempotent, in the caller's transaction; does nothing (None) while the activity is not written yet.
    """
    activity = await session.scalar(select(Activity).where(Activity.call_id == call_id))
    if activity is None:
        return None
    for model in (Recording, Transcript):
        await session.execute(
            update(model).where(model.call_id == call_id, model.activity_id.is_(None)).values(activity_id=activity.id)
        )
    has_audio = await session.scalar(
        select(Recording.id).where(Recording.call_id == call_id, Recording.status.in_(_HAS_AUDIO)).limit(1))
    if has_audio is not None:
        activity.recording_ref = recordings_url(call_id)
    first = (await session.execute(
        select(Transcript.id, Transcript.metrics).where(Transcript.call_id == call_id).order_by(Transcript.id).limit(1)
    )).first()
    if first is not None:
        activity.transcript_ref = f"/api/v1/transcripts/{first.id}"
        # Talk time per side, overtalk, longest silence: on the activity, so call lists need no join.
        if activity.call_meta.get("speech") != first.metrics:
            activity.call_meta = {**activity.call_meta, "speech": first.metrics}
    return activity


@dataclass(slots=True)
class _Outcome:
    status: RecordingStatus
    reason: str | None = None
    info: AudioInfo | None = None
    stored: StoredObject | None = None
    source: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasePlan:
    call_id: str
    recordings: int
    transcripts: int
    keys: list[tuple[int, str]]
    spool: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class EraseReport:
    call_id: str
    recordings: int
    files_deleted: int
    transcripts: int


@dataclass(slots=True)
class _Stats:
    ingested: int = 0
    failed: int = 0
    jobs_queued: int = 0
    erased_calls: int = 0
    retention_deleted: int = 0
    errors: list[str] = field(default_factory=list)


def _oserror_reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


class RecordingService:
    def __init__(
        self,
        *,
        db: Database,
        storage: RecordingStorage,
        settings: RecordingSettings,
        clock: Callable[[], datetime] = utcnow,
        on_job_queued: Callable[[], None] | None = None,
        queue_limit: int = 100_000,
    ) -> None:
        self.db = db
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.on_job_queued = on_job_queued
        self.policy = RetryPolicy(
            max_attempts=settings.job_max_attempts, base_backoff_s=settings.job_base_backoff_s,
            lease_s=settings.job_lease_s,
        )
        self.spool_dir = Path(settings.spool_dir)
        # RecordingReady to ingest, CallLogged to link (one task: a call's link never overtakes its ingest).
        self.queue: asyncio.Queue[RecordingReady | CallLogged] = asyncio.Queue(maxsize=queue_limit)
        self.idle = asyncio.Event()
        self.idle.set()
        self.stats = _Stats()
        self._background: set[asyncio.Task[Any]] = set()

    # -- the bus ------------------------------------------------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._enqueue, event_type=RecordingReady)
        bus.subscribe(self._enqueue, event_type=CallLogged)

    def _enqueue(self, event: RecordingReady | CallLogged) -> None:
        try:
            self.queue.put_nowait(event)
            self.idle.clear()
        except asyncio.QueueFull:
            # The file stays in the spool; the row is missing, so say so loudly with the name.
            log.error("recording queue full: %s not handled", getattr(event, "path", "call link"),
                      extra={"call_id": event.call_id})

    async def run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                if isinstance(event, RecordingReady):
                    await self.ingest(event)
                else:
                    async with self.db.session() as session:
                        await link_activity(session, event.call_id)
            except Exception:
                self.stats.failed += 1
                log.exception("recording %s failed", "ingest" if isinstance(event, RecordingReady) else "link",
                              extra={"call_id": event.call_id})
            finally:
                if self.queue.empty():
                    self.idle.set()

    async def run_maintenance(self) -> None:
        """Retry failed/missing ingests, purge files of erased rows, apply retention - forever, on intervals."""
        retry_s = self.settings.ingest_retry_interval_s
        retention_s = self.settings.retention_scan_interval_s
        next_retention = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.retry_unsettled()
                await self.purge_deleted_files()
                if loop.time() >= next_retention:
                    await self.apply_retention()
                    next_retention = loop.time() + retention_s
            except Exception:
                log.exception("recording maintenance failed")
            await asyncio.sleep(min(retry_s, retention_s))

    # -- ingest -------------------------------------------------------------------------------------------------

    async def ingest(self, ready: RecordingReady) -> list[Recording]:
        """Store the files of one recording; idempotent (a replayed event finds its rows settled)."""
        rows = await self._reserve_rows(ready)
        outcomes: dict[int, _Outcome] = {}
        for row in rows:
            if row.status in _SETTLED:
                continue
            outcomes[row.id] = await self._store_one(row, first_try=row.ingest_attempts == 0)
        return await self._settle(ready.call_id, rows, outcomes)

    async def _reserve_rows(self, ready: RecordingReady) -> list[Recording]:
        planned = plan_files(ready.path, ready.leg_paths)
        for _ in range(3):
            try:
                async with self.db.session() as session:
                    existing = list(await session.scalars(select(Recording).where(Recording.call_id == ready.call_id)))
                    same = [r for r in existing if r.source_path == ready.path[:1000]]
                    take = same[0].take if same else max((r.take for r in existing), default=0) + 1
                    by_leg = {r.leg: r for r in existing}
                    rows = []
                    for plan in planned:
                        leg = leg_name(plan.role, take)
                        row = by_leg.get(leg)
                        if row is None:
                            row = Recording(
                                call_id=ready.call_id, leg=leg, take=take, status=RecordingStatus.PENDING,
                                source_path=plan.source[:1000], created_at=self.clock(), ingest_attempts=0,
                                legal_hold=False,
                            )
                            session.add(row)
                        rows.append(row)
                    await session.flush()
                    return rows
            except IntegrityError:
                # Another instance reserved the same legs at the same moment: read theirs.
                continue
        raise RuntimeError(f"could not reserve recording rows for call {ready.call_id}")

    async def _store_one(self, row: Recording, *, first_try: bool) -> _Outcome:
        try:
            source = resolve_spool_path(
                row.source_path, spool_dir=self.spool_dir, asterisk_spool_dir=self.settings.asterisk_spool_dir
            )
        except PathRefused as exc:
            log.error("recording refused: %s", exc, extra={"call_id": row.call_id})
            return _Outcome(RecordingStatus.REFUSED, f"refused: {exc}")
        if not await self._appears(source, wait=first_try):
            return _Outcome(RecordingStatus.MISSING, f"file not found: {row.source_path}", source=source)
        try:
            info = await asyncio.to_thread(audiofile.probe, source)
        except AudioError as exc:
            return _Outcome(RecordingStatus.INVALID, exc.message, source=source)
        except FileNotFoundError:
            return _Outcome(RecordingStatus.MISSING, f"file not found: {row.source_path}", source=source)
        except OSError as exc:
            return _Outcome(RecordingStatus.FAILED, f"cannot read spool file: {_oserror_reason(exc)}", source=source)
        key = self._key(row)
        try:
            stored = await asyncio.to_thread(self.storage.put, key, self._chunks(source, info))
        except OSError as exc:
            log.error("recording store write failed for %s: %s", key, exc, extra={"call_id": row.call_id})
            return _Outcome(RecordingStatus.FAILED, f"storage write failed: {_oserror_reason(exc)}", info=info,
                            source=source)
        if info.frames == 0:
            return _Outcome(RecordingStatus.EMPTY, "no audio (0 s)", info=info, stored=stored, source=source)
        if info.truncated:
            return _Outcome(RecordingStatus.TRUNCATED, info.describe_truncation(), info=info, stored=stored,
                            source=source)
        reason = "header never finalised (writer stopped early); length taken from the file" if (
            info.header_unfinalised) else None
        return _Outcome(RecordingStatus.STORED, reason, info=info, stored=stored, source=source)

    async def _appears(self, path: Path, *, wait: bool) -> bool:
        # MixMonitor closes its file on its own thread after the hangup; give it a moment on the first try.
        deadline = asyncio.get_running_loop().time() + (self.settings.missing_grace_s if wait else 0)
        while True:
            if await asyncio.to_thread(path.exists):
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(MISSING_POLL_S)

    def _key(self, row: Recording) -> str:
        day = row.created_at
        return f"{day:%Y/%m/%d}/{safe_key_part(row.call_id)}/{safe_key_part(row.leg)}.wav"

    @staticmethod
    def _chunks(source: Path, info: AudioInfo) -> Iterator[bytes]:
        """WAV files are stored byte for byte; headerless ones get a WAV header (same samples) to be playable."""
        with source.open("rb") as f:
            if info.source_format != "wav":
                yield wav_header(channels=info.channels, sample_rate_hz=info.sample_rate_hz,
                                 data_bytes=info.data_bytes, codec=info.codec)
                size = info.data_bytes
            else:
                size = info.file_bytes
            # Only what the probe measured: bytes MixMonitor appends meanwhile would not match the recorded size.
            yield from read_range(f, start=0, end_inclusive=size - 1, chunk_bytes=COPY_CHUNK_BYTES)

    async def _settle(self, call_id: str, rows: list[Recording], outcomes: dict[int, _Outcome]) -> list[Recording]:
        now = self.clock()
        queued = False
        async with self.db.session() as session:
            fresh = {r.id: r for r in await session.scalars(
                select(Recording).where(Recording.id.in_([r.id for r in rows])).with_for_update()
            )}
            for row_id, outcome in outcomes.items():
                row = fresh[row_id]
                if row.status in _SETTLED:
                    continue  # another instance finished it meanwhile
                row.status = outcome.status
                row.reason = outcome.reason[:500] if outcome.reason else None
                row.ingest_attempts += 1
                if outcome.info is not None:
                    info = outcome.info
                    row.source_format = info.source_format
                    row.codec = info.codec
                    row.sample_rate_hz = info.sample_rate_hz
                    row.channels = info.channels
                    row.duration_s = round(info.duration_s, 3)
                if outcome.stored is not None:
                    row.storage_key = outcome.stored.key
                    row.size_bytes = outcome.stored.size_bytes
                    row.sha256 = outcome.stored.sha256
                    row.stored_at = now
                    self.stats.ingested += 1
                log_fn = log.info if outcome.status in _HAS_AUDIO else log.warning
                log_fn("recording %s %s: %s%s", row.leg, outcome.status.value,
                       row.storage_key or row.source_path, f" ({row.reason})" if row.reason else "",
                       extra={"call_id": call_id})
            for take in sorted({r.take for r in rows}):
                take_rows = [fresh[r.id] for r in rows if r.take == take]
                if self.settings.transcribe and transcribable_roles(take_rows):
                    queued |= await enqueue(session, recording=take_rows[0], policy=self.policy, now=now)
            await session.flush()
            await link_activity(session, call_id)
            result = list(fresh.values())
        if queued:
            self.stats.jobs_queued += 1
            if self.on_job_queued is not None:
                self.on_job_queued()
        if self.settings.delete_from_spool:
            for row_id, outcome in outcomes.items():
                if outcome.stored is not None and outcome.source is not None:
                    await asyncio.to_thread(outcome.source.unlink, True)
        return result

    async def retry_unsettled(self) -> int:
        """Ingest again the rows that failed (disk full) or whose file was missing; returns how many were tried."""
        async with self.db.session() as session:
            rows = list(await session.scalars(
                select(Recording)
                .where(Recording.status.in_(_RETRYABLE),
                       Recording.ingest_attempts < self.settings.ingest_max_attempts)
                .order_by(Recording.id).limit(500)
            ))
        by_call: dict[str, list[Recording]] = {}
        for row in rows:
            by_call.setdefault(row.call_id, []).append(row)
        for call_id, call_rows in by_call.items():
            outcomes = {row.id: await self._store_one(row, first_try=False) for row in call_rows}
            async with self.db.session() as session:
                siblings = list(await session.scalars(
                    select(Recording).where(Recording.call_id == call_id,
                                            Recording.take.in_({r.take for r in call_rows}))
                ))
            await self._settle(call_id, siblings, outcomes)
        return len(rows)

    # -- retention, legal hold, erasure ---------------------------------------------------------------------------

    async def set_retention(self, *, team_id: int, days: int) -> None:
        async with self.db.session() as session:
            policy = await session.get(RecordingRetention, team_id)
            if policy is None:
                session.add(RecordingRetention(team_id=team_id, retention_days=days, updated_at=self.clock()))
            else:
                policy.retention_days = days

    async def set_legal_hold(self, session: AsyncSession, *, call_id: str, hold: bool, reason: str | None,
                             actor_id: int | None) -> int:
        rows = list(await session.scalars(select(Recording).where(Recording.call_id == call_id).with_for_update()))
        if not rows:
            raise NotFound(f"call {call_id} has no recording", field="call_id")
        for row in rows:
            row.legal_hold = hold
            row.legal_hold_reason = (reason or None) and reason[:500]
            session.add(AuditEntry(at=self.clock(), actor_id=actor_id, entity="recordings", entity_id=row.id,
                                   action="hold" if hold else "release",
                                   changes={"call_id": call_id, "leg": row.leg, "reason": reason}))
        return len(rows)

    async def erase_call(self, *, call_id: str, reason: str, actor: Principal) -> EraseReport:
        """Delete a call's recording files, transcripts and search entries; keep tombstone rows and audit entries.

        Refused (409) while the call is under legal hold: a hold exists precisely to stop deletion.
        """
        async with self.db.session(actor_id=actor.user_id) as session:
            plan = await self.erase_in(session, call_id=call_id, reason=reason, actor_id=actor.user_id)
        return await self.finish_erase(plan)

    async def erase_in(self, session: AsyncSession, *, call_id: str, reason: str, actor_id: int | None) -> ErasePlan:
        """The database half of an erasure, in the caller's transaction; ``finish_erase`` after the commit."""
        (recordings, transcripts), keys, spool = await self._erase_in(
            session, call_id=call_id, reason=reason, actor_id=actor_id
        )
        return ErasePlan(call_id=call_id, recordings=recordings, transcripts=transcripts, keys=keys, spool=spool)

    async def finish_erase(self, plan: ErasePlan) -> EraseReport:
        """The files: stored copies (a failure is retried by the maintenance loop) and leftover spool copies."""
        deleted = await self._delete_files(plan.keys)
        # Also the spool copies, if Asterisk's side has not cleaned them up: an erasure covers every copy.
        await asyncio.to_thread(self._remove_spool_copies, plan.spool)
        return EraseReport(call_id=plan.call_id, recordings=plan.recordings, transcripts=plan.transcripts,
                           files_deleted=deleted)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run after-commit work in the background, tracked so that ``drain`` (and shutdown) can wait for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self) -> None:
        """Wait until queued ingests and background work are finished."""
        await self.idle.wait()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def erase_number(self, *, e164: str, reason: str, actor: Principal) -> list[EraseReport]:
        """A data subject's request: every recorded call with this number."""
        async with self.db.session() as session:
            call_ids = list(await session.scalars(
                select(Recording.call_id).distinct()
                .join(Activity, Activity.call_id == Recording.call_id)
                .where(or_(Activity.from_e164 == e164, Activity.to_e164 == e164))
            ))
        return [await self.erase_call(call_id=c, reason=reason, actor=actor) for c in sorted(call_ids)]

    async def _erase_in(self, session: AsyncSession, *, call_id: str, reason: str,
                        actor_id: int | None) -> tuple[tuple[int, int], list[tuple[int, str]], list[str]]:
        rows = list(await session.scalars(select(Recording).where(Recording.call_id == call_id).with_for_update()))
        if not rows:
            raise NotFound(f"call {call_id} has no recording", field="call_id")
        held = [r for r in rows if r.legal_hold]
        if held:
            raise Conflict(f"call {call_id} is under legal hold: {held[0].legal_hold_reason or 'no reason given'}",
                           field="call_id", legal_hold=True)
        now = self.clock()
        transcripts = list(await session.scalars(select(Transcript).where(Transcript.call_id == call_id)))
        for transcript in transcripts:
            # Never the text itself: the audit entry must not keep what the request erased.
            session.add(AuditEntry(at=now, actor_id=actor_id, entity="transcripts", entity_id=transcript.id,
                                   action="erase", changes={"call_id": call_id, "reason": reason}))
        # The FTS5 trigger (SQLite) removes the search entries with the rows; PostgreSQL's tsvector is in the row.
        await session.execute(delete(Transcript).where(Transcript.call_id == call_id))
        await session.execute(
            update(TranscriptionJob)
            .where(TranscriptionJob.call_id == call_id,
                   TranscriptionJob.status.in_((JobStatus.QUEUED, JobStatus.LEASED)))
            .values(status=JobStatus.CANCELLED, lease_token=None, lease_expires_at=None, finished_at=now,
                    last_error=f"recording erased: {reason}"[:1000], updated_at=now)
        )
        keys: list[tuple[int, str]] = []
        for row in rows:
            if row.status is RecordingStatus.DELETED and not row.storage_key:
                continue
            session.add(AuditEntry(
                at=now, actor_id=actor_id, entity="recordings", entity_id=row.id, action="erase",
                changes={"call_id": call_id, "leg": row.leg, "reason": reason, "sha256": row.sha256,
                         "size_bytes": row.size_bytes, "status": row.status.value},
            ))
            if row.storage_key:
                keys.append((row.id, row.storage_key))
            row.status = RecordingStatus.DELETED
            row.deleted_at = now
            row.delete_reason = reason[:500]
            row.sha256 = None
        activity = await session.scalar(select(Activity).where(Activity.call_id == call_id))
        if activity is not None:
            activity.recording_ref = None
            activity.transcript_ref = None
            activity.call_meta = {**activity.call_meta, "recordings": [], "recording_legs": [],
                                  "recording_erased": {"at": now.isoformat(), "reason": reason}}
        self.stats.erased_calls += 1
        return (len(rows), len(transcripts)), keys, [r.source_path for r in rows]

    def _remove_spool_copies(self, names: list[str]) -> None:
        for name in names:
            try:
                source = resolve_spool_path(name, spool_dir=self.spool_dir,
                                            asterisk_spool_dir=self.settings.asterisk_spool_dir)
                source.unlink(missing_ok=True)
            except (PathRefused, OSError) as exc:
                log.debug("spool copy of %s not removed: %s", name, exc)

    async def _delete_files(self, keys: list[tuple[int, str]]) -> int:
        """Delete stored files after the erasure committed; a failure leaves storage_key set for the purge loop."""
        deleted = 0
        done: list[int] = []
        for row_id, key in keys:
            try:
                await asyncio.to_thread(self.storage.delete, key)
                deleted += 1
                done.append(row_id)
            except OSError as exc:
                log.error("could not delete stored recording %s: %s (retried later)", key, exc)
        if done:
            async with self.db.session() as session:
                await session.execute(update(Recording).where(Recording.id.in_(done)).values(storage_key=None))
        return deleted

    async def purge_deleted_files(self) -> int:
        async with self.db.session() as session:
            rows = list(await session.execute(
                select(Recording.id, Recording.storage_key)
                .where(Recording.status == RecordingStatus.DELETED, Recording.storage_key.is_not(None)).limit(500)
            ))
        return await self._delete_files([(r.id, r.storage_key) for r in rows])

    async def apply_retention(self, *, now: datetime | None = None) -> int:
        """Erase the calls whose recordings are older than their team's retention (legal holds excepted).

        The team is the answering agent's (activity.user_id); calls without one use ``recording.retention_days``.
        """
        now = now or self.clock()
        default_days = self.settings.retention_days
        async with self.db.session() as session:
            policies = {t: d for t, d in await session.execute(
                select(RecordingRetention.team_id, RecordingRetention.retention_days))}
            shortest = min([d for d in (*policies.values(), default_days) if d > 0], default=0)
            if shortest == 0:
                return 0
            rows = list(await session.execute(
                select(Recording.call_id, Recording.created_at, User.team_id)
                .outerjoin(Activity, Activity.call_id == Recording.call_id)
                .outerjoin(User, User.id == Activity.user_id)
                .where(Recording.status != RecordingStatus.DELETED, Recording.legal_hold.is_(False),
                       Recording.created_at < now - timedelta(days=shortest))
                .order_by(Recording.created_at).limit(5000)
            ))
        expired: dict[str, int] = {}
        for call_id, created_at, team_id in rows:
            days = policies.get(team_id, default_days) if team_id is not None else default_days
            if days > 0 and created_at < now - timedelta(days=days):
                expired[call_id] = days
        erased = 0
        for call_id, days in expired.items():
            try:
                await self.erase_call(call_id=call_id, reason=f"retention: older than {days} days",
                                      actor=Principal.system())
                erased += 1
            except (Conflict, NotFound) as exc:
                log.info("retention skipped call %s: %s", call_id, exc, extra={"call_id": call_id})
        self.stats.retention_deleted += erased
        return erased

