"""Retention per team, legal hold, erasure on request: files, transcripts and search entries go, tombstones and audit
entries stay; a hold stops both."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from callcenter.recording.worker import run_worker
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict
from crm_core.models import Activity, AuditEntry, Role
from crm_core.recording_models import JobStatus, RecordingStatus, Transcript
from crm_core.schemas import TeamIn, UserIn
from crm_core.types import utcnow
from crm_core.users import create_team, create_user
from tests.recording.test_ingest import add_activity, jobs_of, ready, rows_of
from tests.recording.test_worker import Flaky


async def search_hits(db: Database, word: str) -> list[str]:
    """Call ids whose transcript matches, straight from each database's full-text index."""
    async with db.session() as s:
        if db.dialect == "postgresql":
            rows = await s.execute(text("SELECT call_id FROM transcripts WHERE search_vector @@ plainto_tsquery('english', :w)"), {"w": word})
        else:
            rows = await s.execute(text("SELECT t.call_id FROM transcripts_fts f JOIN transcripts t ON t.id = f.rowid "
                                        "WHERE transcripts_fts MATCH :w"), {"w": f'"{word}"'})
        return [r[0] for r in rows]


async def transcribed_call(db: Database, service, call, *, user_id: int | None = None) -> str:  # type: ignore[no-untyped-def]
    call_id, path, legs = call
    await add_activity(db, call_id, user_id=user_id)
    await service.ingest(ready(call_id, path, legs))
    await run_worker(db=db, storage=service.storage, transcriber=Flaky(failures=0), settings=service.settings,
                     until_drained=True)
    return call_id


async def test_erasure_removes_files_transcript_and_search_entries_and_audits(db: Database, make_service, rx_tx_call, spool: Path, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    call_id = await transcribed_call(db, service, rx_tx_call)
    stored = [store_dir / r.storage_key for r in (await rows_of(db, call_id)).values()]
    assert all(p.exists() for p in stored) and call_id in await search_hits(db, "refund")

    report = await service.erase_call(call_id=call_id, reason="GDPR request #42", actor=Principal.system())
    assert (report.recordings, report.transcripts, report.files_deleted) == (3, 1, 3)
    assert not any(p.exists() for p in stored)
    assert not (spool / f"{call_id}-rx.wav").exists()  # the spool copy too
    assert call_id not in await search_hits(db, "refund")
    rows = await rows_of(db, call_id)
    assert {r.status for r in rows.values()} == {RecordingStatus.DELETED}  # tombstones
    assert all(r.delete_reason == "GDPR request #42" and r.storage_key is None and r.sha256 is None for r in rows.values())
    async with db.session() as s:
        assert list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id))) == []
        audit = list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "erase")))
        activity = await s.scalar(select(Activity).where(Activity.call_id == call_id))
    mine = [a for a in audit if a.changes.get("call_id") == call_id]
    assert sorted(a.entity for a in mine) == ["recordings"] * 3 + ["transcripts"]
    assert all(a.changes["reason"] == "GDPR request #42" for a in mine)
    assert "refund" not in str([a.changes for a in mine]).lower()  # the audit keeps no erased text
    assert activity.recording_ref is None and activity.transcript_ref is None
    assert activity.call_meta["recording_erased"]["reason"] == "GDPR request #42"

    # A replay of the call's RecordingReady must not bring it back.
    _, path, legs = rx_tx_call
    await service.ingest(ready(call_id, path, legs))
    assert {r.status for r in (await rows_of(db, call_id)).values()} == {RecordingStatus.DELETED}


async def test_erasure_cancels_a_job_not_run_yet(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    await service.erase_call(call_id=call_id, reason="customer asked", actor=Principal.system())
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.CANCELLED and "customer asked" in job.last_error


async def test_legal_hold_stops_erasure_and_retention(db: Database, make_service, rx_tx_call, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(retention_days=30)
    call_id = await transcribed_call(db, service, rx_tx_call)
    async with db.session() as s:
        assert await service.set_legal_hold(s, call_id=call_id, hold=True, reason="litigation 2026-17", actor_id=None) == 3
    with pytest.raises(Conflict, match="legal hold: litigation 2026-17"):
        await service.erase_call(call_id=call_id, reason="GDPR", actor=Principal.system())
    assert await service.apply_retention(now=utcnow() + timedelta(days=400)) == 0
    assert all((store_dir / r.storage_key).exists() for r in (await rows_of(db, call_id)).values())

    async with db.session() as s:
        await service.set_legal_hold(s, call_id=call_id, hold=False, reason=None, actor_id=None)
    assert await service.apply_retention(now=utcnow() + timedelta(days=400)) == 1
    assert {r.status for r in (await rows_of(db, call_id)).values()} == {RecordingStatus.DELETED}


async def test_retention_follows_the_answering_agents_team(db: Database, make_service, rx_tx_call, stereo_call, spool: Path) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as s:
        system = Principal.system()
        short = await create_team(s, system, TeamIn(name="Short memory"))
        keep = await create_team(s, system, TeamIn(name="Keep forever"))
        agent_short = await create_user(s, system, UserIn(name="A", role=Role.AGENT, team_id=short.id))
        agent_keep = await create_user(s, system, UserIn(name="B", role=Role.AGENT, team_id=keep.id))
    service = make_service(retention_days=0)  # default: keep forever
    await service.set_retention(team_id=short.id, days=30)
    short_call = await transcribed_call(db, service, rx_tx_call, user_id=agent_short.id)
    stereo_id, stereo_path = stereo_call
    await add_activity(db, stereo_id, user_id=agent_keep.id)
    await service.ingest(ready(stereo_id, stereo_path))

    assert await service.apply_retention(now=utcnow() + timedelta(days=29)) == 0  # not old enough yet
    assert await service.apply_retention(now=utcnow() + timedelta(days=31)) == 1
    assert {r.status for r in (await rows_of(db, short_call)).values()} == {RecordingStatus.DELETED}
    assert (await rows_of(db, short_call))["mix"].delete_reason == "retention: older than 30 days"
    assert (await rows_of(db, stereo_id))["stereo"].status is RecordingStatus.STORED
    async with db.session() as s:
        assert list(await s.scalars(select(Transcript).where(Transcript.call_id == short_call))) == []
