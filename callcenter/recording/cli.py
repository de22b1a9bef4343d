"""``callcenter worker`` and ``callcenter transcribe``, added to the main parser by ``add_commands(sub)``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callcenter.config import Settings

__all__ = ["add_commands", "cmd_transcribe", "cmd_worker", "worker_main"]


def _load(args: argparse.Namespace) -> Settings:
    from callcenter.config import load_settings

    return load_settings(args.config)


def cmd_worker(args: argparse.Namespace) -> int:
    from callcenter import logs

    settings = _load(args)
    logs.setup(settings.log.level, as_json=settings.log.is_json)
    stats = asyncio.run(worker_main(settings, max_jobs=args.max_jobs, until_drained=args.until_drained))
    print(f"worker stopped: {stats.done} done, {stats.failed} failed, {stats.dead} dead", file=sys.stderr)
    return 0


async def worker_main(settings: Settings, *, max_jobs: int | None = None, until_drained: bool = False) -> Any:
    """One worker process: migrate-free (the service migrates), SIGTERM/SIGINT stop it after the current job."""
    from callcenter.metrics import WorkerMetrics, serve_worker_metrics
    from callcenter.recording.storage import LocalStorage
    from callcenter.recording.transcriber import WhisperTranscriber
    from callcenter.recording.worker import run_worker
    from crm_core.db import Database

    rec = settings.recording
    db = Database.from_url(settings.database.url, pool_size=2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    transcriber = WhisperTranscriber.from_settings(rec)
    # Load the model before taking any job, so a missing model fails the process at once, not a job.
    await asyncio.to_thread(transcriber.load)
    metrics = WorkerMetrics()
    listener = serve_worker_metrics(metrics, host=rec.worker_metrics_host, port=rec.worker_metrics_port) if (
        rec.worker_metrics_port) else None
    try:
        return await run_worker(db=db, storage=LocalStorage(root=Path(rec.store_dir)), transcriber=transcriber,
                                settings=rec, stop=stop, max_jobs=max_jobs, until_drained=until_drained, metrics=metrics)
    finally:
        if listener is not None:
            listener.shutdown()
            listener.server_close()
        await db.dispose()


def cmd_transcribe(args: argparse.Namespace) -> int:
    from callcenter.recording.batch import transcribe_paths

    rec = _load(args).recording
    results = transcribe_paths(args.paths, settings=rec, text=args.text)
    return 1 if any("error" in r for r in results) else 0


def add_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="transcription worker: takes jobs from the database until stopped")
    worker.add_argument("--max-jobs", type=int, help="stop after this many jobs")
    worker.add_argument("--until-drained", action="store_true", help="stop when no job is queued or running")
    worker.set_defaults(func=cmd_worker)

    transcribe = sub.add_parser("transcribe", help="transcribe recording files (x.wav + x-rx.wav + x-tx.wav, "
                                                   "x-stereo.raw); one JSON line per call")
    transcribe.add_argument("paths", nargs="+")
    transcribe.add_argument("--text", action="store_true", help="readable text instead of JSON lines")
    transcribe.set_defaults(func=cmd_transcribe)
