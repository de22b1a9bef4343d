"""Transcription: real recordings and speech clips on the bundled model (key words per speaker), the queue's
retries, dead letters and leases, the worker's result in the database, long and silent input."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update

from callcenter.recording.jobs import RetryPolicy
from callcenter.recording.pipeline import ChannelSpec, PermanentError, channels_for_take, transcribe_take
from callcenter.recording.queue import JobQueue
from callcenter.recording.transcript import AGENT, CUSTOMER, Segment, Word
from callcenter.recording.worker import run_worker
from crm_core.db import Database
from crm_core.models import Activity
from crm_core.recording_models import JobStatus, Transcript, TranscriptionJob
from crm_core.types import utcnow
from tests.recording.conftest import RX_TX_UID, STEREO_UID
from tests.recording.sound import clip, timeline, wav_header_claiming, write_wav
from tests.recording.test_ingest import add_activity, jobs_of, ready

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def words_of(turns: list[Any], speaker: str) -> str:
    return " ".join(t.text for t in turns if t.speaker == speaker).lower()


def assert_order_call(turns: list[Any]) -> None:
    """The captured call: the agent greets, the customer orders blue widgets (INDEX.md, scenario 1)."""
    customer, agent = words_of(turns, CUSTOMER), words_of(turns, AGENT)
    for word in ("hello", "order", "blue", "widgets", "tomorrow"):
        assert word in customer, customer
    for word in ("calling", "name"):
        assert word in agent, agent
    assert "widgets" not in agent and "calling" not in customer  # each side heard on its own channel only
    assert turns[0].speaker == AGENT  # the greeting comes first


# -- the bundled model on real and synthesised calls ---------------------------------------------------------------

def test_real_rx_tx_legs_per_speaker_with_word_times(traces_dir: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    src = traces_dir / "recordings"
    result = transcribe_take(channels_for_take({
        "rx": src / f"inbound_agi_dial_answer__{RX_TX_UID}-rx.wav",
        "tx": src / f"inbound_agi_dial_answer__{RX_TX_UID}-tx.wav",
    }), transcriber)
    assert_order_call(result.turns)
    customer_turn = next(t for t in result.turns if t.speaker == CUSTOMER)
    # The customer's sentence starts 5.5 s after the answer (sipp padding); word times are in call time.
    assert 4.5 < customer_turn.words[0].start_s < 6.5
    assert all(0 <= w.start_s <= w.end_s <= 13.6 for t in result.turns for w in t.words)
    m = result.metrics
    assert 4.0 < m["customer_talk_s"] < 7.0 and 3.5 < m["agent_talk_s"] < 6.0 and m["overtalk_s"] < 0.5
    assert m["duration_s"] == 13.5


def test_real_stereo_raw_left_customer_right_agent(traces_dir: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    path = traces_dir / "recordings" / f"inbound_agi_dial_answer_cdr__{STEREO_UID}-stereo.raw"
    assert_order_call(transcribe_take(channels_for_take({"stereo": path}), transcriber).turns)


def test_speech_clips_interrupting_each_other(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    customer = clip("customer_refund.wav")  # 4.2 s
    agent = clip("agent_refund.wav")  # 4.9 s
    # The agent starts apologising before the customer has finished: 1 s of overtalk.
    rx = write_wav(tmp_path / "c-rx.wav", timeline(11.0, [(0.5, customer)]))
    tx = write_wav(tmp_path / "c-tx.wav", timeline(11.0, [(3.7, agent)]))
    result = transcribe_take(channels_for_take({"rx": rx, "tx": tx}), transcriber)
    customer_words, agent_words = words_of(result.turns, CUSTOMER), words_of(result.turns, AGENT)
    assert "printer" in customer_words and "refund" in customer_words
    assert "replacement" in agent_words and "sorry" in agent_words
    assert [t.speaker for t in result.turns] == [CUSTOMER, AGENT] and result.turns[1].overlap
    assert 0.5 < result.metrics["overtalk_s"] < 1.5


# -- silence and size limits (no model needed: nothing should reach it) ----------------------------------------------

class NeverCalled:
    name = "never"

    def transcribe(self, audio_16k: np.ndarray, *, speaker: str) -> tuple[list[Segment], str | None]:
        raise AssertionError("silence must not reach the model")


def two_hour_silence(path: Path) -> Path:
    """A real 2-hour WAV of silence, made lazily: a sparse file costs no disk until read."""
    with path.open("wb") as f:
        f.write(wav_header_claiming(channels=1, rate_hz=8000, data_bytes=7200 * 16000))
        f.truncate(44 + 7200 * 16000)
    return path


def test_two_hours_of_silence_are_handled_without_the_model(tmp_path: Path) -> None:
    path = two_hour_silence(tmp_path / "long.wav")
    result = transcribe_take([ChannelSpec(speaker=CUSTOMER, path=path)], NeverCalled())
    assert result.turns == [] and result.duration_s == 7200.0
    assert result.metrics["longest_silence_s"] == 7200.0 and result.metrics["customer_talk_s"] == 0


def test_over_the_length_limit_is_a_clear_permanent_error(tmp_path: Path) -> None:
    path = two_hour_silence(tmp_path / "long.wav")
    with pytest.raises(PermanentError, match=r"2\.0 h long, over recording.max_transcribe_s \(1\.0 h\)"):
        transcribe_take([ChannelSpec(speaker=CUSTOMER, path=path)], NeverCalled(), max_duration_s=3600)


def test_not_audio_is_a_permanent_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_text("nope")
    with pytest.raises(PermanentError, match="not a WAV file"):
        transcribe_take([ChannelSpec(speaker=CUSTOMER, path=bad)], NeverCalled())


# -- the worker against the database -------------------------------------------------------------------------------

async def test_worker_stores_the_transcript_links_the_activity_and_finishes_the_job(db: Database, make_service, rx_tx_call, transcriber) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    activity_id = await add_activity(db, call_id)
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    events: list[tuple[str, dict]] = []
    stats = await run_worker(db=db, storage=service.storage, transcriber=transcriber, settings=service.settings,
                             until_drained=True, on_event=lambda name, data: events.append((name, data)))
    assert (stats.done, stats.failed, stats.dead) == (1, 0, 0)
    assert [name for name, _ in events] == ["leased", "done"]
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.DONE and job.attempts == 1 and job.lease_token is None
    async with db.session() as s:
        (transcript,) = list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id)))
        activity = await s.get(Activity, activity_id)
    assert transcript.activity_id == activity_id and transcript.recording_id == job.recording_id
    assert activity.transcript_ref == f"/api/v1/transcripts/{transcript.id}"
    assert activity.call_meta["speech"]["customer_talk_s"] > 4
    assert "customer:" in transcript.text and "widgets" in transcript.text.lower()
    speakers = {turn["speaker"] for turn in transcript.conversation}
    assert speakers == {CUSTOMER, AGENT} and all(turn["words"] for turn in transcript.conversation)


class Flaky:
    """Fails ``failures`` times, then returns a fixed sentence per speaker."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def transcribe(self, audio_16k: np.ndarray, *, speaker: str) -> tuple[list[Segment], str | None]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"model crashed (call {self.calls})")
        text = "I want a refund" if speaker == CUSTOMER else "Sorry to hear that"
        return [Segment(speaker=speaker, start_s=0.0, end_s=1.0, text=text,
                        words=(Word(start_s=0.0, end_s=1.0, text=text),))], "en"


@SQLITE_ONLY
async def test_failures_are_retried_with_backoff_then_dead_lettered(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service(job_max_attempts=3)
    await service.ingest(ready(call_id, path, legs))
    flaky = Flaky(failures=99)
    stats = await run_worker(db=db, storage=service.storage, transcriber=flaky, settings=service.settings,
                             until_drained=True)
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.DEAD and job.attempts == 3 and (stats.failed, stats.dead) == (2, 1)
    assert "RuntimeError: model crashed" in job.last_error
    assert flaky.calls == 3


@SQLITE_ONLY
async def test_a_retry_succeeds_and_the_transcript_is_written_once(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    stats = await run_worker(db=db, storage=service.storage, transcriber=Flaky(failures=1), settings=service.settings,
                             until_drained=True)
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.DONE and job.attempts == 2 and (stats.failed, stats.done) == (1, 1)
    async with db.session() as s:
        assert len(list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id)))) == 1


@SQLITE_ONLY
async def test_too_long_goes_dead_at_once_with_the_reason(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service(max_transcribe_s=5.0)
    await service.ingest(ready(call_id, path, legs))
    stats = await run_worker(db=db, storage=service.storage, transcriber=NeverCalled(), settings=service.settings,
                             until_drained=True)
    (job,) = await jobs_of(db, call_id)
    assert job.status is JobStatus.DEAD and job.attempts == 1 and stats.dead == 1
    assert "over recording.max_transcribe_s" in job.last_error


async def test_only_the_current_lease_can_finish_a_job(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    queue = JobQueue(db=db, policy=RetryPolicy(lease_s=60))
    first = await queue.claim(owner="presumed-dead")
    assert first is not None and await queue.claim(owner="other") is None  # leased: nobody else gets it
    async with db.session() as s:  # its lease runs out (the worker hung)
        await s.execute(update(TranscriptionJob).where(TranscriptionJob.id == first.job_id)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    second = await queue.claim(owner="rescuer")
    assert second is not None and second.job_id == first.job_id and second.attempt == 2

    async def write(session: Any) -> None:
        session.add(Transcript(recording_id=first.recording_id, call_id=call_id, model="m", text="x",
                               conversation=[], metrics={}, duration_s=1.0, created_at=utcnow()))

    assert await queue.heartbeat(first) is False  # the old holder learns it lost the job
    assert await queue.complete(first, write) is False  # and its late result is refused
    assert await queue.complete(second, write) is True
    async with db.session() as s:
        assert len(list(await s.scalars(select(Transcript).where(Transcript.call_id == call_id)))) == 1
    assert (await jobs_of(db, call_id))[0].status is JobStatus.DONE


async def test_concurrent_claims_get_different_jobs(db: Database, make_service, rx_tx_call, stereo_call) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    call_a, path_a, legs_a = rx_tx_call
    call_b, path_b = stereo_call
    await service.ingest(ready(call_a, path_a, legs_a))
    await service.ingest(ready(call_b, path_b))
    queues = [JobQueue(db=db, policy=RetryPolicy()) for _ in range(3)]
    leases = await asyncio.gather(*(q.claim(owner=f"w{i}") for i, q in enumerate(queues)))
    mine = [lease for lease in leases if lease is not None and lease.call_id in (call_a, call_b)]
    assert sorted(lease.call_id for lease in mine) == sorted([call_a, call_b])
