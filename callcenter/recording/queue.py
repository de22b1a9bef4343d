"""The durable transcription queue: job rows in the database, leased with expiry (the adapter around ``jobs.py``).

Claiming is one short transaction: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets many workers claim different jobs
without waiting on each other; SQLite ignores it and serialises claimers with its write lock (BEGIN IMMEDIATE).
A worker that dies leaves its lease to expire; the next claim takes the job again. Only the holder of the current
lease token can finish a job, and the finish (transcript + job row) is one transaction, so a job completes once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.recording import jobs
from callcenter.recording.jobs import JobView, RetryPolicy
from crm_core.db import Database
from crm_core.recording_models import JobStatus, Recording, TranscriptionJob
from crm_core.types import utcnow

__all__ = ["JobQueue", "Lease", "enqueue"]

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    job_id: int
    recording_id: int
    call_id: str
    token: str
    attempt: int
    max_attempts: int


def _view(job: TranscriptionJob) -> JobView:
    return JobView(
        id=job.id, status=job.status, attempts=job.attempts, max_attempts=job.max_attempts,
        available_at=job.available_at, lease_expires_at=job.lease_expires_at,
    )


async def enqueue(session: AsyncSession, *, recording: Recording, policy: RetryPolicy, now: datetime) -> bool:
    """Add the job for a take's main recording inside the caller's transaction; False if it already has one."""
    existing = await session.scalar(select(TranscriptionJob.id).where(TranscriptionJob.recording_id == recording.id))
    if existing is not None:
        return False
    session.add(
        TranscriptionJob(
            recording_id=recording.id, call_id=recording.call_id, status=JobStatus.QUEUED,
            max_attempts=policy.max_attempts, available_at=now, created_at=now, updated_at=now,
        )
    )
    await session.flush()
    return True


class JobQueue:
    def __init__(self, *, db: Database, policy: RetryPolicy, clock: Clock = utcnow) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock

    async def claim(self, *, owner: str) -> Lease | None:
        """Take the oldest due job (or one whose lease expired); None when there is nothing to do now."""
        while True:
            now = self.clock()
            async with self.db.session() as session:
                due = or_(
                    and_(TranscriptionJob.status == JobStatus.QUEUED, TranscriptionJob.available_at <= now),
                    and_(TranscriptionJob.status == JobStatus.LEASED, TranscriptionJob.lease_expires_at <= now),
                )
                job = await session.scalar(
                    select(TranscriptionJob)
                    .where(due)
                    .order_by(TranscriptionJob.available_at, TranscriptionJob.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if job is None:
                    return None
                token = uuid.uuid4().hex
                values = jobs.claim(_view(job), now=now, owner=owner, token=token, policy=self.policy)
                for key, value in values.items():
                    setattr(job, key, value)
                job.updated_at = now
                if job.status is JobStatus.DEAD:
                    continue  # dead-lettered a job that kept killing workers; look for the next one
                return Lease(job_id=job.id, recording_id=job.recording_id, call_id=job.call_id, token=token,
                             attempt=job.attempts, max_attempts=job.max_attempts)

    async def heartbeat(self, lease: Lease) -> bool:
        """Extend the lease while the work goes on; False = we lost it (expired and taken by another worker)."""
        now = self.clock()
        async with self.db.session() as session:
            result = await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == lease.job_id, TranscriptionJob.lease_token == lease.token,
                       TranscriptionJob.status == JobStatus.LEASED)
                .values(lease_expires_at=now + timedelta(seconds=self.policy.lease_s), updated_at=now)
            )
            return result.rowcount == 1

    async def complete(self, lease: Lease, write: Callable[[AsyncSession], Awaitable[None]]) -> bool:
        """Run ``write`` (store the transcript) and mark the job done in one transaction, if we still hold it."""
        async with self.db.session() as session:
            job = await _held(session, lease)
            if job is None:
                return False
            await write(session)
            now = self.clock()
            for key, value in jobs.succeed(now=now).items():
                setattr(job, key, value)
            job.updated_at = now
        return True

    async def fail(self, lease: Lease, *, error: str, permanent: bool = False) -> JobStatus | None:
        """Record a failed attempt: back to the queue after a backoff, or dead. None if the lease was lost."""
        async with self.db.session() as session:
            job = await _held(session, lease)
            if job is None:
                return None
            now = self.clock()
            values = jobs.fail(_view(job), error=error, now=now, policy=self.policy, permanent=permanent)
            for key, value in values.items():
                setattr(job, key, value)
            job.updated_at = now
            return job.status

    async def cancel(self, lease: Lease, *, reason: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == lease.job_id, TranscriptionJob.lease_token == lease.token)
                .values(status=JobStatus.CANCELLED, lease_token=None, lease_expires_at=None,
                        last_error=reason[:1000], finished_at=self.clock(), updated_at=self.clock())
            )

    async def pending(self) -> int:
        """Jobs not finished yet (queued or leased): a drained queue has none."""
        async with self.db.session() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(TranscriptionJob)
                    .where(TranscriptionJob.status.in_((JobStatus.QUEUED, JobStatus.LEASED)))
                ) or 0
            )

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(TranscriptionJob.status, func.count()).group_by(TranscriptionJob.status)
            )
            return {status.value: int(n) for status, n in rows}


async def _held(session: AsyncSession, lease: Lease) -> TranscriptionJob | None:
    """The job, row-locked, if ``lease`` is still the one it runs under (None once another worker took it over)."""
    return await session.scalar(
        select(TranscriptionJob)
        .where(TranscriptionJob.id == lease.job_id, TranscriptionJob.lease_token == lease.token,
               TranscriptionJob.status == JobStatus.LEASED)
        .with_for_update()
    )
