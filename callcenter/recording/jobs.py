"""The transcription job's state machine (pure): what a claim, a success or a failure does to a job row.

    queued --claim--> leased --success--> done
      ^                 |  \\--failure (attempts left)--> queued (available again after a backoff)
      |                 |   \\-failure (last attempt, or permanent)--> dead
      |                 \\--lease expires (worker killed)--> claimable again; a claim past max_attempts -> dead
    (erasure) --> cancelled

The database adapter (``queue.py``) applies the returned column values; a finish is accepted only from the holder of
the current lease (its token), which is what makes a job complete exactly once even when a worker that was presumed
dead wakes up again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_core.recording_models import JobStatus

__all__ = ["JobView", "RetryPolicy", "claim", "claimable", "fail", "succeed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 5
    base_backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    lease_s: float = 300.0

    def backoff_s(self, *, attempt: int, job_id: int) -> float:
        """Exponential (base * 2^(attempt-1)), capped, with a deterministic +-20 % spread per job so that jobs that
        failed together (a full disk) do not all come back in the same second."""
        raw = min(self.base_backoff_s * 2 ** max(attempt - 1, 0), self.max_backoff_s)
        spread = int(hashlib.sha256(f"{job_id}:{attempt}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return raw * (0.8 + 0.4 * spread)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    id: int
    status: JobStatus
    attempts: int
    max_attempts: int
    available_at: datetime
    lease_expires_at: datetime | None


def claimable(job: JobView, now: datetime) -> bool:
    if job.status is JobStatus.QUEUED:
        return job.available_at <= now
    if job.status is JobStatus.LEASED:
        return job.lease_expires_at is not None and job.lease_expires_at <= now
    return False


def claim(job: JobView, *, now: datetime, owner: str, token: str, policy: RetryPolicy) -> dict[str, Any]:
    """Column values for taking the job. A job whose lease ran out ``max_attempts`` times (the worker died on it
    each time: a file that crashes the decoder, a machine out of memory) goes dead instead of killing more workers."""
    if not claimable(job, now):
        raise ValueError(f"job {job.id} is not claimable ({job.status.value})")
    if job.status is JobStatus.LEASED and job.attempts >= job.max_attempts:
        return {
            "status": JobStatus.DEAD,
            "lease_token": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "finished_at": now,
            "last_error": f"worker lost {job.attempts} times (killed or crashed while transcribing)",
        }
    return {
        "status": JobStatus.LEASED,
        "attempts": job.attempts + 1,
        "lease_owner": owner[:120],
        "lease_token": token,
        "lease_expires_at": now + timedelta(seconds=policy.lease_s),
    }


def succeed(*, now: datetime) -> dict[str, Any]:
    return {
        "status": JobStatus.DONE,
        "lease_token": None,
        "lease_expires_at": None,
        "finished_at": now,
        "last_error": None,
    }


def fail(job: JobView, *, error: str, now: datetime, policy: RetryPolicy, permanent: bool) -> dict[str, Any]:
    """Retry later with backoff, or dead-letter: after the last attempt, or at once for an error that no retry can
    fix (the file is not audio, longer than allowed)."""
    values: dict[str, Any] = {"lease_token": None, "lease_owner": None, "lease_expires_at": None,
                              "last_error": error[:1000]}
    if permanent or job.attempts >= job.max_attempts:
        return {**values, "status": JobStatus.DEAD, "finished_at": now}
    delay_s = policy.backoff_s(attempt=job.attempts, job_id=job.id)
    return {**values, "status": JobStatus.QUEUED, "available_at": now + timedelta(seconds=delay_s)}
