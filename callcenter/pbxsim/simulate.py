"""`callcenter simulate`: the simulator alone, its AMI server on ``ami_port`` and its FastAGI client aimed at any
running service (``agi_host:agi_port``), with Poisson traffic on the sample floor (callcenter.pbxsim.floor); progress
from the simulator's own view of the calls. It speaks AMI and FastAGI only, as Asterisk would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, TextIO

from callcenter.pbxsim.clock import RealtimeClock
from callcenter.pbxsim.floor import AGENTS, DIDS, QUEUE, phones
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from callcenter.pbxsim.traffic import CallerMix, Traffic
from callcenter.waiting import wait_set

__all__ = ["run_simulate"]

PROGRESS_EVERY_S = 5.0


def _print(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def _route_latency(round_trips_s: deque[float]) -> str:
    """p50/p99 of the FastAGI sessions since the last progress line (the samples are consumed)."""
    samples = sorted(round_trips_s)
    round_trips_s.clear()
    if not samples:
        return "route=-"
    p50, p99 = samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"route_p50={p50 * 1000:.1f}ms route_p99={p99 * 1000:.1f}ms"


async def run_simulate(
    *,
    ami_port: int,
    agi_host: str,
    agi_port: int,
    rate_per_s: float,
    duration_s: float | None,
    seed: int,
    out: TextIO = sys.stdout,
    speed: float = 1.0,
    monitor_dir: Path = Path("var/recordings"),
    secret: str = "callcenter",
) -> dict[str, Any]:
    """The simulator alone: AMI on ``ami_port``, FastAGI to ``agi_host:agi_port``, Poisson calls for
    ``duration_s`` wall seconds (None: until cancelled). Agents join the support queue themselves."""
    sim = Simulator(
        settings=SimulatorSettings(phones=phones(), seed=seed, ami_port=ami_port, secret=secret,
                                   monitor_dir=monitor_dir),
        clock=RealtimeClock(speed=speed),
    )
    await sim.start()
    sim.set_agi_address(agi_host, agi_port)
    for ext in AGENTS:
        sim.server.ops.queue_add(queue=QUEUE, interface=f"PJSIP/{ext}", member_name=ext,
                                 state_interface=f"PJSIP/{ext}", penalty=0, paused=False, reason="")
    traffic = Traffic(pbx=sim.pbx, seed=seed, mix=CallerMix(dids=DIDS))
    arrivals = sim.clock.spawn(traffic.poisson(rate_per_s=rate_per_s, duration_s=None), name="simulate-traffic")
    _print(out, f"simulate: AMI on 127.0.0.1:{sim.ami_port} (user {sim.settings.username}), FastAGI to "
                f"{agi_host}:{agi_port}, {rate_per_s:g} calls/s, seed {seed}")
    started = time.monotonic()
    stop = asyncio.Event()
    try:
        while duration_s is None or time.monotonic() - started < duration_s:
            left = PROGRESS_EVERY_S if duration_s is None else min(PROGRESS_EVERY_S,
                                                                    duration_s - (time.monotonic() - started))
            if await wait_set(stop, max(0.0, left)):
                break
            records = list(sim.pbx.calls.values())
            outcomes = Counter(r.outcome for r in records if r.ended_s is not None)
            _print(out, f"[{time.monotonic() - started:6.1f}s] offered={traffic.offered} "
                        f"answered={outcomes['answered']} abandoned={outcomes['abandoned']} "
                        f"unanswered={outcomes['unanswered']} live_channels={len(sim.pbx.live_channels())} "
                        f"ami_sessions={sim.server.sessions} {_route_latency(sim.pbx.stats.agi_round_trips_s)}")
    except asyncio.CancelledError:
        _print(out, "simulate: stopping")
    finally:
        arrivals.cancel()
        await sim.pbx.recorder.flush()
        records = list(sim.pbx.calls.values())
        outcomes = Counter(r.outcome for r in records if r.ended_s is not None)
        summary = {
            "calls_offered": traffic.offered,
            "calls_answered": outcomes["answered"],
            "calls_abandoned": outcomes["abandoned"],
            "calls_unanswered": outcomes["unanswered"],
            "calls_in_progress": sum(1 for r in records if r.ended_s is None),
            "recordings_written": len(sim.pbx.recorder.files),
            "ami_logins": sim.server.stats.logins,
        }
        await sim.stop()
    _print(out, json.dumps(summary))
    return summary
