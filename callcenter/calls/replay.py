"""Replay a recorded AMI stream through frames -> typed events -> tracker and print what happened, as JSON lines.

One line per finished call (keys: call_id, direction, caller, did, outcome, answered_by, agents_rung, wait_s,
talk_s, hangup_cause, recordings, plus customer, hung_up_by, queue), then one line of counts:
``{"events", "unknown_events", "malformed_frames", "calls", "parse_errors", "open_calls"}``.

Wired by the CLI as ``callcenter replay FILE.ami [FILE.ami ...]`` -> ``main(argv)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded

__all__ = ["call_summary", "main", "run_replay", "run_replay_files"]


def call_summary(ended: CallEnded) -> dict[str, Any]:
    """The JSON-ready summary of one finished call."""
    return {
        "call_id": ended.call_id,
        "direction": str(ended.direction),
        "caller": ended.caller,
        "did": ended.did,
        "outcome": str(ended.outcome),
        "answered_by": ended.answered_by,
        "agents_rung": list(ended.agents_rung),
        "wait_s": round(ended.wait_s, 3),
        "talk_s": round(ended.talk_s, 3),
        "hangup_cause": ended.hangup_cause,
        "recordings": list(ended.recordings),
        "customer": ended.customer,
        "hung_up_by": None if ended.hung_up_by is None else str(ended.hung_up_by),
        "queue": ended.queue,
    }


def run_replay_files(streams: Sequence[bytes], out: TextIO, *, wrapup_s: float = 0.0) -> int:
    """Replay several captures in order; each is its own AMI connection (banner first). Returns an exit code."""
    tracker = CallTracker(wrapup_s=wrapup_s)
    calls = 0

    def on_event(event: object) -> None:
        nonlocal calls
        if isinstance(event, CallEnded):
            calls += 1
            out.write(json.dumps(call_summary(event), ensure_ascii=False) + "\n")

    ingest = AmiIngest(tracker=tracker, publish=on_event)
    for data in streams:
        ingest.reset_connection()
        ingest.feed_bytes(data)
    counts = {
        "events": ingest.counters.events,
        "unknown_events": ingest.counters.unknown_events,
        "malformed_frames": ingest.malformed_frames,
        "calls": calls,
        "parse_errors": ingest.counters.parse_errors,
        "open_calls": len(tracker.open_calls()),
    }
    out.write(json.dumps(counts) + "\n")
    return 0


def run_replay(data: bytes, out: TextIO, *, wrapup_s: float = 0.0) -> int:
    """Replay one recorded AMI stream (raw bytes as received). Returns an exit code (0)."""
    return run_replay_files([data], out, wrapup_s=wrapup_s)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callcenter replay", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="raw AMI capture(s), e.g. trace.ami")
    parser.add_argument("--wrapup-s", type=float, default=0.0, help="agent wrap-up seconds (default 0)")
    args = parser.parse_args(argv)
    streams = []
    for path in args.files:
        try:
            streams.append(path.read_bytes())
        except OSError as exc:
            print(f"callcenter replay: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return run_replay_files(streams, out if out is not None else sys.stdout, wrapup_s=args.wrapup_s)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
