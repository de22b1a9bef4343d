"""Throughput of the AMI ingest pipeline against bare panoramisk parsing of the same bytes, in the same run.

ours:     FrameSplitter -> parse_event (typed) -> CallTracker -> InProcessBus (one counting subscriber)
baseline: panoramisk.ami_protocol.AMIProtocol.data_received (decode, split, Message.from_line, handle_message)
          with a factory whose dispatch() only counts - i.e. what panoramisk itself does for every event.

Input: every tests/data/ami-traces/*.ami concatenated, repeated until there is a few seconds of work. Each
repetition gets its Uniqueids/Linkedids/Timestamps shifted (same byte length) so the tracker sees new calls
instead of ignoring replays of calls it already closed. Both sides get the same bytes in the same 4 KiB chunks.

Prints a human summary, then ONE JSON line: {"ours_events_per_s", "baseline_events_per_s", "ratio", ...}.
Usage: python bench/ami_ingest.py [--repeat N] [--rounds R] [--traces DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from callcenter.calls.ingest import AmiIngest  # noqa: E402
from callcenter.calls.tracker import CallTracker  # noqa: E402
from callcenter.events import InProcessBus  # noqa: E402

CHUNK_BYTES = 4096
DEFAULT_TRACES = REPO.parent / "shared" / "ami-traces"


def load_stream(traces: Path, repeat: int) -> bytes:
    files = sorted(traces.glob("*.ami"))
    if not files:
        raise SystemExit(f"no .ami files in {traces}")
    one = b"".join(f.read_bytes() for f in files)
    # All ids and timestamps in the captures start with "1795"; "18NN" keeps every length (so Content is unchanged)
    # and makes each repetition a fresh set of calls with later timestamps.
    return b"".join(one.replace(b"1795", b"18%02d" % (k % 100)) for k in range(repeat))


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _CountingFactory:
    save_stream = None
    forgetable_actions: tuple[str, ...] = ()
    awaiting_actions: list[object] = []

    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, message: object) -> None:
        self.events += 1

    def connection_lost(self, exc: object) -> None:
        pass


def run_baseline(parts: list[bytes]) -> tuple[float, int]:
    factory = _CountingFactory()
    proto = AMIProtocol()
    proto.connection_made(_NullTransport())
    proto.factory = factory
    proto.close = lambda: None  # a Shutdown event in the captures must not stop the parser
    start = time.perf_counter()
    for part in parts:
        proto.data_received(part)
    return time.perf_counter() - start, factory.events


def run_ours(parts: list[bytes]) -> tuple[float, int, int]:
    bus = InProcessBus()
    delivered = 0

    def count(event: object) -> None:
        nonlocal delivered
        delivered += 1

    bus.subscribe(count)
    ingest = AmiIngest(tracker=CallTracker(wrapup_s=0.0), publish=bus.publish)
    start = time.perf_counter()
    for part in parts:
        ingest.feed_bytes(part)
    elapsed = time.perf_counter() - start
    if ingest.counters.parse_errors or ingest.malformed_frames:
        raise SystemExit(f"pipeline errors: {ingest.counters} malformed={ingest.malformed_frames}")
    return elapsed, ingest.counters.events, delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="copies of the concatenated captures")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side (best is kept)")
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    args = parser.parse_args(argv)

    data = load_stream(args.traces, args.repeat)
    parts = chunks(data)
    best_ours = best_base = float("inf")
    ours_events = base_events = domain_events = 0
    gc.collect()
    for _ in range(args.rounds):
        # Alternate so that drift (thermal, other load) hits both sides alike.
        elapsed, base_events = run_baseline(parts)
        best_base = min(best_base, elapsed)
        elapsed, ours_events, domain_events = run_ours(parts)
        best_ours = min(best_ours, elapsed)
    if ours_events != base_events:
        raise SystemExit(f"event counts differ: ours {ours_events} vs panoramisk {base_events}")
    ours_rate = ours_events / best_ours
    base_rate = base_events / best_base
    ratio = ours_rate / base_rate
    print(f"input: {len(data) / 1e6:.1f} MB, {ours_events} AMI events, {len(parts)} chunks of {CHUNK_BYTES} B")
    print(f"panoramisk data_received + Message.from_line: {best_base:.3f} s  -> {base_rate:,.0f} events/s")
    print(f"ours frames+typed events+tracker+bus:         {best_ours:.3f} s  -> {ours_rate:,.0f} events/s")
    print(f"domain events published: {domain_events}")
    print(f"ratio ours/baseline: {ratio:.2f}x (target >= 0.5x)")
    print(
        json.dumps(
            {
                "ours_events_per_s": round(ours_rate),
                "baseline_events_per_s": round(base_rate),
                "ratio": round(ratio, 3),
                "events": ours_events,
                "bytes": len(data),
                "domain_events": domain_events,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
