"""A transcription worker as its own process, for the kill test: ``python -m tests.recording.worker_proc ...``.

Prints one JSON line per worker event on stdout. With ``--hold-after-lease`` it stops right after taking its first
job (blocked reading stdin) so that the test can kill it mid-job deterministically, without sleeping or racing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from callcenter.recording.settings import RecordingSettings
from callcenter.recording.storage import LocalStorage
from callcenter.recording.transcriber import WhisperTranscriber
from callcenter.recording.worker import run_worker
from crm_core.db import Database


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--lease-s", type=float, default=300)
    parser.add_argument("--hold-after-lease", action="store_true")
    parser.add_argument("--until-drained", action="store_true")
    args = parser.parse_args()

    def on_event(name: str, data: dict) -> None:
        print(json.dumps({"event": name, **data}), flush=True)
        if name == "leased" and args.hold_after_lease:
            sys.stdin.readline()  # mid-job until killed

    async def run() -> None:
        settings = RecordingSettings(store_dir=args.store, job_lease_s=args.lease_s, worker_poll_interval_s=0.05)
        transcriber = WhisperTranscriber()
        transcriber.load()
        print(json.dumps({"event": "ready"}), flush=True)
        db = Database.from_url(args.db)
        try:
            await run_worker(db=db, storage=LocalStorage(root=Path(args.store)), transcriber=transcriber,
                             settings=settings, until_drained=args.until_drained, on_event=on_event)
        finally:
            await db.dispose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
