"""Recording fixtures: a spool folder shaped like Asterisk's, a local store, settings, the bundled speech model."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.recording.service import RecordingService
from callcenter.recording.settings import RecordingSettings
from callcenter.recording.storage import LocalStorage
from callcenter.recording.transcriber import ModelUnavailable, WhisperTranscriber
from tests.conftest import IN_CI

ASTERISK_SPOOL = "/var/spool/asterisk/monitor"
# The real MixMonitor output (tests/data/ami-traces/recordings, INDEX.md "Recordings").
RX_TX_UID = "1795390491.0"
STEREO_UID = "1795390948.9"


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    """The bundled tiny.en, loaded once per test session."""
    model = WhisperTranscriber()
    try:
        model.load()
    except ModelUnavailable as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: the transcription tests must run)")
        pytest.skip(str(exc))
    return model


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def rec_settings(spool: Path, store_dir: Path) -> RecordingSettings:
    return RecordingSettings(
        spool_dir=str(spool), asterisk_spool_dir=ASTERISK_SPOOL, store_dir=str(store_dir), missing_grace_s=0,
        job_base_backoff_s=0.01, worker_poll_interval_s=0.05,
    )


@pytest.fixture
def make_service(db, rec_settings: RecordingSettings, store_dir: Path):  # type: ignore[no-untyped-def]
    def make(storage=None, **overrides) -> RecordingService:  # type: ignore[no-untyped-def]
        settings = rec_settings.model_copy(update=overrides) if overrides else rec_settings
        return RecordingService(db=db, storage=storage or LocalStorage(root=store_dir), settings=settings)

    return make


def new_call_id() -> str:
    # Unique per test: PostgreSQL tests share one database.
    return f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().int % 100}"


def asterisk_name(spool_name: str) -> str:
    return f"{ASTERISK_SPOOL}/{spool_name}"


@pytest.fixture
def rx_tx_call(traces_dir: Path, spool: Path) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """The real r()/t() recording copied into the spool under a fresh call id: (call_id, path, leg_paths)."""
    call_id = new_call_id()
    src = traces_dir / "recordings"
    for suffix in ("", "-rx", "-tx"):
        shutil.copy(src / f"inbound_agi_dial_answer__{RX_TX_UID}{suffix}.wav", spool / f"{call_id}{suffix}.wav")
    yield call_id, asterisk_name(f"{call_id}.wav"), (asterisk_name(f"{call_id}-rx.wav"), asterisk_name(f"{call_id}-tx.wav"))


@pytest.fixture
def stereo_call(traces_dir: Path, spool: Path) -> tuple[str, str]:
    """The real option-D recording (2-channel raw) in the spool: (call_id, path)."""
    call_id = new_call_id()
    shutil.copy(traces_dir / "recordings" / f"inbound_agi_dial_answer_cdr__{STEREO_UID}-stereo.raw",
                spool / f"{call_id}-stereo.raw")
    return call_id, asterisk_name(f"{call_id}-stereo.raw")
