"""Ingest on RecordingReady: real MixMonitor files into the store, checksummed, linked, with their job - and every
way a file can be wrong reported on its row (missing, empty, not audio, truncated, 0 s, escaping, disk full)."""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.events import InProcessBus, RecordingReady
from callcenter.recording.storage import LocalStorage, StoredObject
from crm_core.db import Database
from crm_core.models import Activity, ActivityKind
from crm_core.recording_models import JobStatus, Recording, RecordingStatus, TranscriptionJob
from tests.recording.conftest import asterisk_name, new_call_id
from tests.recording.sound import wav_header_claiming


def ready(call_id: str, path: str, legs: tuple[str, ...] = ()) -> RecordingReady:
    return RecordingReady(call_id=call_id, at_s=1_795_390_505.0, path=path, leg_paths=legs)


async def rows_of(db: Database, call_id: str) -> dict[str, Recording]:
    async with db.session() as s:
        return {r.leg: r for r in await s.scalars(select(Recording).where(Recording.call_id == call_id))}


async def jobs_of(db: Database, call_id: str) -> list[TranscriptionJob]:
    async with db.session() as s:
        return list(await s.scalars(select(TranscriptionJob).where(TranscriptionJob.call_id == call_id)))


async def add_activity(db: Database, call_id: str, *, user_id: int | None = None) -> int:
    async with db.session() as s:
        activity = Activity(kind=ActivityKind.CALL, call_id=call_id, user_id=user_id, call_meta={})
        s.add(activity)
        await s.flush()
        return activity.id


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_rx_tx_recording_is_stored_checksummed_linked_and_queued(db: Database, make_service, rx_tx_call, spool: Path, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    activity_id = await add_activity(db, call_id)
    bus = InProcessBus()
    service = make_service()
    service.attach(bus)
    run = __import__("asyncio").create_task(service.run())
    bus.publish(ready(call_id, path, legs))  # through the bus, as the tracker publishes it
    await service.drain()
    run.cancel()

    rows = await rows_of(db, call_id)
    assert set(rows) == {"mix", "rx", "tx"}
    for leg, suffix in (("mix", ""), ("rx", "-rx"), ("tx", "-tx")):
        row = rows[leg]
        assert row.status is RecordingStatus.STORED and row.reason is None, (leg, row.reason)
        stored = store_dir / row.storage_key
        assert stored.read_bytes() == (spool / f"{call_id}{suffix}.wav").read_bytes()  # WAV kept byte for byte
        assert row.sha256 == sha(stored) and row.size_bytes == stored.stat().st_size == 216044
        assert (row.duration_s, row.sample_rate_hz, row.channels, row.source_format, row.codec) == (13.5, 8000, 1, "wav", "pcm_s16le")
        assert row.activity_id == activity_id
    assert not list(store_dir.rglob(".tmp-*"))
    (job,) = await jobs_of(db, call_id)
    assert job.recording_id == rows["mix"].id and job.status is JobStatus.QUEUED
    async with db.session() as s:
        activity = await s.get(Activity, activity_id)
        assert activity.recording_ref == f"/api/v1/calls/{call_id}/recordings"


async def test_stereo_raw_is_stored_as_playable_wav_with_the_same_samples(db: Database, make_service, stereo_call, spool: Path, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    call_id, path = stereo_call
    await make_service().ingest(ready(call_id, path))
    row = (await rows_of(db, call_id))["stereo"]
    assert row.status is RecordingStatus.STORED
    assert (row.source_format, row.channels, row.duration_s) == ("raw", 2, 13.5)
    stored = (store_dir / row.storage_key).read_bytes()
    assert stored[:4] == b"RIFF" and stored[44:] == (spool / f"{call_id}-stereo.raw").read_bytes()
    assert len(await jobs_of(db, call_id)) == 1


async def test_a_replayed_event_stores_nothing_twice(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service()
    first = await service.ingest(ready(call_id, path, legs))
    again = await service.ingest(ready(call_id, path, legs))
    assert sorted(r.id for r in first) == sorted(r.id for r in again)
    assert len(await rows_of(db, call_id)) == 3 and len(await jobs_of(db, call_id)) == 1
    assert service.stats.ingested == 3


async def test_a_second_recording_in_the_same_call_is_a_second_take(db: Database, make_service, rx_tx_call, spool: Path) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    (spool / "again.wav").write_bytes((spool / f"{call_id}.wav").read_bytes())
    await service.ingest(ready(call_id, asterisk_name("again.wav")))
    rows = await rows_of(db, call_id)
    assert set(rows) == {"mix", "rx", "tx", "mix-2"} and rows["mix-2"].take == 2
    assert len(await jobs_of(db, call_id)) == 2


def _bad_files(spool: Path, call_id: str) -> dict[str, tuple[str, RecordingStatus, str]]:
    """name -> (what it is, expected status, words in the reason)."""
    (spool / f"{call_id}-empty.wav").write_bytes(b"")
    (spool / f"{call_id}-text.wav").write_bytes(b"Just some text that someone saved with a .wav name\n" * 20)
    (spool / f"{call_id}-zero.wav").write_bytes(wav_header_claiming(channels=1, rate_hz=8000, data_bytes=0))
    # Header announces 2 hours; only 1 s made it to disk.
    (spool / f"{call_id}-cut.wav").write_bytes(wav_header_claiming(channels=1, rate_hz=8000, data_bytes=2 * 3600 * 16000)
                                               + b"\x01\x00" * 8000)
    (spool / f"{call_id}-gsm.wav").write_bytes(
        b"RIFF" + (100).to_bytes(4, "little") + b"WAVEfmt " + (20).to_bytes(4, "little")
        + bytes.fromhex("3100 0100 401f0000 59060000 4100 0000 0200 4001") + b"data" + (65).to_bytes(4, "little") + b"\0" * 65)
    return {
        "empty": ("0-byte file", RecordingStatus.INVALID, "empty file (0 bytes)"),
        "text": ("not audio", RecordingStatus.INVALID, "not a WAV file"),
        "zero": ("0-second WAV", RecordingStatus.EMPTY, "no audio (0 s)"),
        "cut": ("truncated copy", RecordingStatus.TRUNCATED, "7200.0 s"),
        "gsm": ("GSM WAV", RecordingStatus.INVALID, "GSM"),
        "gone": ("never written", RecordingStatus.MISSING, "file not found"),
    }


async def test_bad_files_are_reported_on_their_rows_never_dropped(db: Database, make_service, spool: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    base = new_call_id()
    for kind, (what, status, words) in _bad_files(spool, base).items():
        call_id = f"{base}-{kind}"
        await service.ingest(ready(call_id, asterisk_name(f"{base}-{kind}.wav")))
        (row,) = (await rows_of(db, call_id)).values()
        assert row.status is status and words in (row.reason or ""), (what, row.status, row.reason)
        # Only audio worth transcribing gets a job (the truncated file has 1 s of it).
        assert len(await jobs_of(db, call_id)) == (1 if kind == "cut" else 0), what
        if status is RecordingStatus.INVALID or status is RecordingStatus.MISSING:
            assert row.storage_key is None and row.sha256 is None
        else:
            assert row.storage_key and row.sha256


async def test_a_name_that_escapes_the_spool_is_refused_and_nothing_is_copied(db: Database, make_service, tmp_path: Path, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav_header_claiming(channels=1, rate_hz=8000, data_bytes=16000) + b"\0" * 16000)
    call_id = new_call_id()
    await make_service().ingest(ready(call_id, "/var/spool/asterisk/monitor/../../../../" + str(secret).lstrip("/"),
                                      ("/etc/passwd",)))
    rows = await rows_of(db, call_id)
    assert {leg: r.status for leg, r in rows.items()} == {"mix": RecordingStatus.REFUSED, "rx": RecordingStatus.REFUSED}
    assert all("refused" in r.reason for r in rows.values())
    assert not store_dir.exists() or not any(p.is_file() for p in store_dir.rglob("*"))
    assert await jobs_of(db, call_id) == []


class FullDisk:
    """A store whose disk is full: every write fails with ENOSPC (after taking some bytes, as a real disk would)."""

    def __init__(self, inner: LocalStorage) -> None:
        self.inner = inner
        self.full = True

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        if not self.full:
            return self.inner.put(key, chunks)

        def failing() -> Iterable[bytes]:
            for chunk in chunks:
                yield chunk
                raise OSError(errno.ENOSPC, "No space left on device")

        return self.inner.put(key, failing())

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


async def test_disk_full_keeps_the_row_and_the_spool_file_and_retries(db: Database, make_service, rx_tx_call, spool: Path, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    disk = FullDisk(LocalStorage(root=store_dir))
    service = make_service(storage=disk)
    await service.ingest(ready(call_id, path, legs))
    rows = await rows_of(db, call_id)
    assert {r.status for r in rows.values()} == {RecordingStatus.FAILED}
    assert all("No space left on device (ENOSPC)" in r.reason for r in rows.values())
    assert not [p for p in store_dir.rglob("*") if p.is_file()]  # no half-written file left behind
    assert (spool / f"{call_id}-rx.wav").exists()  # the only copy is kept
    assert await jobs_of(db, call_id) == []

    disk.full = False  # space was freed; the maintenance loop tries again
    assert await service.retry_unsettled() >= 3
    rows = await rows_of(db, call_id)
    assert {r.status for r in rows.values()} == {RecordingStatus.STORED}
    assert all(r.ingest_attempts == 2 for r in rows.values())
    assert len(await jobs_of(db, call_id)) == 1


async def test_a_missing_leg_is_retried_and_found_later(db: Database, make_service, rx_tx_call, spool: Path) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    tx = spool / f"{call_id}-tx.wav"
    held_back = tx.read_bytes()
    tx.unlink()
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    rows = await rows_of(db, call_id)
    assert rows["tx"].status is RecordingStatus.MISSING and rows["rx"].status is RecordingStatus.STORED
    assert len(await jobs_of(db, call_id)) == 1  # the mix and the customer leg are worth transcribing already
    tx.write_bytes(held_back)
    await service.retry_unsettled()
    assert (await rows_of(db, call_id))["tx"].status is RecordingStatus.STORED
    assert len(await jobs_of(db, call_id)) == 1



async def test_an_activity_written_after_the_recording_is_linked_when_the_call_is_logged(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    """The CRM writer and the recording service run in their own tasks: when the recording is stored first, the
    writer's CallLogged links them (rows -> activity, activity -> the recordings' URL)."""
    import asyncio

    from callcenter.automation.facts import CallLogged

    call_id, path, legs = rx_tx_call
    service = make_service()
    bus = InProcessBus()
    service.attach(bus)
    task = asyncio.create_task(service.run())
    try:
        bus.publish(ready(call_id, path, legs))
        await asyncio.wait_for(service.drain(), 10)
        assert {r.activity_id for r in (await rows_of(db, call_id)).values()} == {None}
        activity_id = await add_activity(db, call_id)
        bus.publish(CallLogged(call_id=call_id, activity_id=activity_id, direction="inbound", outcome="answered",
                               did=None, number=None, entity=None, record_id=None, responsible_id=None,
                               agent_user_id=None))
        await asyncio.wait_for(service.drain(), 10)
    finally:
        task.cancel()
    assert {r.activity_id for r in (await rows_of(db, call_id)).values()} == {activity_id}
    async with db.session() as s:
        activity = await s.get(Activity, activity_id)
    assert activity.recording_ref == f"/api/v1/calls/{call_id}/recordings" and activity.transcript_ref is None
