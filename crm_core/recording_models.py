"""Call recordings, their transcription jobs, transcripts and per-team retention (migration 0004).

Identical on SQLite and PostgreSQL, except full-text search, which each database does its own way:
PostgreSQL keeps a ``tsvector`` column with a GIN index on ``transcripts``; SQLite keeps an FTS5 virtual table
``transcripts_fts`` (external content = ``transcripts``, kept in step by triggers). An FTS5 table and its shadow tables
cannot be declared as models, so schema comparisons skip them with ``include_name`` below.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base
from crm_core.types import BigId, StrEnumType, utcnow

# Names of the SQLite FTS5 objects (virtual table + its shadow tables share this prefix).
SQLITE_FTS_TABLE = "transcripts_fts"
# The text-search configuration for PostgreSQL; SQLite's FTS5 uses the porter stemmer to match it.
PG_TS_CONFIG = "english"


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: skip SQLite's FTS5 tables, which have no model."""
    return not (type_ == "table" and name is not None and name.startswith(SQLITE_FTS_TABLE))


class RecordingStatus(str, enum.Enum):
    PENDING = "pending"  # row written, file on its way into the store
    STORED = "stored"  # in the store, checksummed, complete
    TRUNCATED = "truncated"  # in the store, but shorter than its header says (reason says by how much)
    EMPTY = "empty"  # a valid file with no audio (0 s); stored, nothing to transcribe
    MISSING = "missing"  # the spool file was not there
    INVALID = "invalid"  # empty (0 bytes), not audio, or an unsupported format; left in the spool
    REFUSED = "refused"  # the name from AMI points outside the spool folder
    FAILED = "failed"  # the store could not write it (disk full...); the spool file is kept and retried
    DELETED = "deleted"  # erased (retention or a deletion request): the row stays as a tombstone


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    DEAD = "dead"  # gave up after max_attempts, or an error no retry can fix
    CANCELLED = "cancelled"  # the recording was erased before it ran


class Recording(Base):
    """One file of a call's recording. A MixMonitor with r()/t() gives three rows (mix, rx = customer,
    tx = agent); option D gives one (stereo). A second recording in the same call gets legs "mix-2", "rx-2"..."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("call_id", "leg", name="uq_recordings_call_id_leg"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    leg: Mapped[str] = mapped_column(String(24))
    # Which MixMonitor of the call (1, 2...): the legs of one take are transcribed together.
    take: Mapped[int] = mapped_column(default=1)
    status: Mapped[RecordingStatus] = mapped_column(StrEnumType(RecordingStatus), default=RecordingStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(500))
    source_path: Mapped[str] = mapped_column(String(1000))
    storage_key: Mapped[str | None] = mapped_column(String(500))
    source_format: Mapped[str | None] = mapped_column(String(16))
    codec: Mapped[str | None] = mapped_column(String(16))
    sample_rate_hz: Mapped[int | None]
    channels: Mapped[int | None]
    duration_s: Mapped[float | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    activity_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("activities.id", ondelete="SET NULL"), nullable=True, index=True
    )
    ingest_attempts: Mapped[int] = mapped_column(default=0)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    delete_reason: Mapped[str | None] = mapped_column(String(500))


class TranscriptionJob(Base):
    """Durable work item: one per recording take, written in the transaction that stores the recording."""

    __tablename__ = "transcription_jobs"
    __table_args__ = (Index("ix_transcription_jobs_due", "status", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The take's main row (mix or stereo); its legs are found by call_id + take.
    recording_id: Mapped[int] = mapped_column(BigId, ForeignKey("recordings.id", ondelete="CASCADE"), unique=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    # A fresh token per lease: only the holder of the current lease can finish the job (exactly once).
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


class Transcript(Base):
    """The merged conversation of one take: speaker-labelled turns with word timestamps, and call metrics."""

    __tablename__ = "transcripts"
    __table_args__ = (Index("ix_transcripts_search_vector", "search_vector", postgresql_using="gin"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(BigId, ForeignKey("recordings.id", ondelete="CASCADE"), unique=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    activity_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("activities.id", ondelete="SET NULL"), nullable=True, index=True
    )
    language: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    # "customer: ...\nagent: ..." - what full-text search indexes.
    text: Mapped[str] = mapped_column(Text, default="")
    conversation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float] = mapped_column(default=0.0)
    # PostgreSQL only (NULL on SQLite, which indexes ``text`` in its FTS5 table instead).
    search_vector: Mapped[Any | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordingRetention(Base):
    """How long a team's recordings are kept; teams without a row use the ``recording.retention_days`` setting."""

    __tablename__ = "recording_retention"

    team_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    retention_days: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


__all__ = [
    "JobStatus",
    "PG_TS_CONFIG",
    "Recording",
    "RecordingRetention",
    "RecordingStatus",
    "SQLITE_FTS_TABLE",
    "Transcript",
    "TranscriptionJob",
    "include_name",
]
