"""How much live traffic the whole service sustains against the PBX simulator on this box: concurrent calls and
calls per second, stepped up until the FastAGI route latency p99 passes 50 ms (the curve is the result).

Three processes, so each one's CPU is its own:
  service     the whole service as `callcenter serve` builds it (build_app: AMI session and live model, FastAGI
              routing with the CRM lookup, CRM writer, recording ingest, wallboard hub) on a fresh, seeded CRM database
              (--db: SQLite, the embedded default, or PostgreSQL) holding the demo's customers and deals, plus as
              many agents as the largest step needs
  simulator   callcenter.pbxsim in real time (speed 1): AMI server, dialplan, queues, desk phones; it places Poisson
              calls and times every FastAGI session from connect to close, which is the route latency Asterisk sees
  baseline    a bare panoramisk FastAGI handler that does nothing, driven by the same simulator traffic with no AMI
              client (what the protocol and the simulator cost by themselves): ratio = ours p99 / baseline p99

Each step targets C concurrent calls: arrivals at C / talk_s calls per second (Little's law), agents = 1.3 x C so
calls are answered at once; the step ramps for one talk time, then measures for --measure-s seconds. Between
steps the simulator drains every call. Agents answer after 1-2 s; callers are 50% known customers (owner routing),
50% new numbers (each becomes a lead: the CRM writer works too). The simulator writes the recordings (WAV, one
per leg) and the service ingests them into its store, as beside Asterisk.

Prints a table, then ONE JSON line. Usage:
  python bench/sim_capacity.py [--db sqlite|postgresql] [--steps 10,25,50,100,150,200] [--talk-s 10]
                               [--measure-s 20] [--no-baseline] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

P99_LIMIT_MS = 50.0
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_EXTENSION = 2000
DID = "8001"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def extensions(agents: int) -> list[str]:
    return [str(FIRST_EXTENSION + i) for i in range(agents)]


# -- the service (child process) ----------------------------------------------------------------------------------


async def _seed(url: str, agents: int) -> list[str]:
    from callcenter.demo.crm_seed import TEAM, seed_crm
    from crm_core.access import Principal
    from crm_core.db import Database
    from crm_core.migrate import upgrade_async
    from crm_core.models import Role, Team
    from crm_core.schemas import UserIn
    from crm_core.users import create_user
    from sqlalchemy import select

    await upgrade_async(url)
    db = Database.from_url(url)
    exts = extensions(agents)
    crm = await seed_crm(db, extensions=exts[:4], seed=7)  # customers with owners and open deals
    async with db.session() as s:
        team_id = (await s.execute(select(Team.id).where(Team.name == TEAM))).scalar_one()
        for ext in exts[4:]:
            await create_user(s, Principal.system(), UserIn(name=f"Agent {ext}", role=Role.AGENT, team_id=team_id,
                                                            extension=ext, email=f"agent{ext}@example.com"))
    await db.dispose()
    return sorted(crm.customers)


async def _database(db: str, workdir: str) -> str:
    """A fresh CRM database for this run: a SQLite file (the embedded default) or a PostgreSQL database."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{workdir}/cc.sqlite3"
    import asyncpg

    name = f"cc_capacity_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()


async def _serve_ours(conn: Connection, ami_port: int, agents: int, workdir: str, db: str) -> None:
    from aiohttp import web

    from callcenter.app import build_app
    from callcenter.app_keys import AGI, AMI
    from callcenter.config import load_settings
    from callcenter.demo.crm_seed import TEAM

    url = await _database(db, workdir)
    customers = await _seed(url, agents)
    settings = load_settings(environ={
        "CALLCENTER_DATABASE__URL": url,
        "CALLCENTER_AMI__HOST": "127.0.0.1",
        "CALLCENTER_AMI__PORT": str(ami_port),
        "CALLCENTER_AMI__SECRET": "callcenter",
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_AGI__DEFAULT_QUEUE": "sales",
        "CALLCENTER_ROUTING__DEFAULT_TEAM": TEAM,
        "CALLCENTER_CRM__COMPANY_NUMBERS": DID,
        "CALLCENTER_RECORDING__SPOOL_DIR": f"{workdir}/rec",
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": f"{workdir}/rec",
        "CALLCENTER_RECORDING__STORE_DIR": f"{workdir}/store",
    })
    app = build_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await app[AMI].wait_live(30.0)
    conn.send({"agi_port": app[AGI].port, "customers": customers})
    await _answer_stats(conn)
    await runner.cleanup()
    await _drop_database(url)


async def _serve_bare(conn: Connection) -> None:
    from panoramisk import fast_agi

    app = fast_agi.Application(loop=asyncio.get_running_loop())

    async def route(_request: Any) -> None:
        return None

    app.add_route("inbound", route)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0)
    conn.send({"agi_port": server.sockets[0].getsockname()[1], "customers": []})
    await _answer_stats(conn)
    server.close()
    await server.wait_closed()


async def _answer_stats(conn: Connection) -> None:
    """Answer "cpu" with this process's CPU seconds until "stop"."""
    loop = asyncio.get_running_loop()
    while (msg := await loop.run_in_executor(None, conn.recv)) != "stop":
        conn.send(time.process_time() if msg == "cpu" else None)


def server_main(kind: str, conn: Connection, ami_port: int, agents: int, workdir: str, db: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    runner = _serve_ours(conn, ami_port, agents, workdir, db) if kind == "ours" else _serve_bare(conn)
    asyncio.run(runner)


# -- the simulator (child process) ---------------------------------------------------------------------------------


async def _simulate(conn: Connection, agents: int, workdir: str, seed: int) -> None:
    from callcenter.pbxsim.callmodel import AgentPhone
    from callcenter.pbxsim.clock import RealtimeClock
    from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
    from callcenter.pbxsim.traffic import CallerMix, Traffic

    exts = extensions(agents)
    sim = Simulator(
        settings=SimulatorSettings(
            phones=tuple(AgentPhone(extension=e, answer_delay_s=(1.0, 2.0)) for e in exts),
            monitor_dir=Path(workdir) / "rec", seed=seed,
        ),
        clock=RealtimeClock(speed=1.0),
    )
    await sim.start()
    for ext in exts:  # queue members for the calls routing sends to the queue
        sim.server.ops.queue_add(queue="sales", interface=f"PJSIP/{ext}", member_name=ext,
                                 state_interface=f"PJSIP/{ext}", penalty=0, paused=False, reason="")
    conn.send(sim.ami_port)
    loop = asyncio.get_running_loop()
    while (msg := await loop.run_in_executor(None, conn.recv)) != "stop":
        sim.set_agi_address("127.0.0.1", msg["agi_port"])
        talk_s = msg["talk_s"]
        traffic = Traffic(pbx=sim.pbx, seed=seed, mix=CallerMix(
            dids=(DID,), known_numbers=tuple(msg["customers"]), known_share=0.5 if msg["customers"] else 0.0,
            patience_s=(90.0, 120.0), talk_s=(0.8 * talk_s, 1.2 * talk_s), agent_hangs_up_share=0.3))
        conn.send(await _step(sim, traffic, rate_per_s=msg["rate_per_s"], ramp_s=msg["ramp_s"],
                              measure_s=msg["measure_s"]))
    await sim.stop()


async def _step(sim: Any, traffic: Any, *, rate_per_s: float, ramp_s: float, measure_s: float) -> dict[str, Any]:
    pbx = sim.pbx
    before = {k: getattr(pbx.stats, k) for k in ("calls_offered", "calls_answered", "calls_abandoned",
                                                 "calls_unanswered")}
    arrivals = sim.clock.spawn(traffic.poisson(rate_per_s=rate_per_s, duration_s=None), name="bench-traffic")
    await asyncio.sleep(ramp_s)  # a bench, not a test: the ramp is wall time by design
    pbx.stats.agi_round_trips_s.clear()
    cpu0, wall0 = time.process_time(), time.monotonic()
    offered0 = traffic.offered
    concurrent: list[int] = []
    while time.monotonic() - wall0 < measure_s:
        await asyncio.sleep(0.5)
        concurrent.append(sum(1 for r in pbx.calls.values() if r.ended_s is None))
    samples = list(pbx.stats.agi_round_trips_s)
    offered_in_window = traffic.offered - offered0
    window_s = time.monotonic() - wall0
    sim_cpu_s = time.process_time() - cpu0
    arrivals.cancel()
    drain_until = time.monotonic() + 120.0
    while any(r.ended_s is None for r in pbx.calls.values()) and time.monotonic() < drain_until:
        await asyncio.sleep(0.5)
    after = {k: getattr(pbx.stats, k) - v for k, v in before.items()}
    return {
        "route_samples": len(samples),
        "route_p50_ms": round(pct(samples, 0.5) * 1000, 2),
        "route_p99_ms": round(pct(samples, 0.99) * 1000, 2),
        "route_max_ms": round(max(samples, default=float("nan")) * 1000, 2),
        "calls_per_s": round(offered_in_window / window_s, 2),
        "concurrent_mean": round(sum(concurrent) / max(1, len(concurrent)), 1),
        "concurrent_max": max(concurrent, default=0),
        "answered_share": round(after["calls_answered"] / max(1, after["calls_offered"]), 3),
        "abandoned": after["calls_abandoned"],
        "unanswered": after["calls_unanswered"],
        "sim_cpu_pct": round(100 * sim_cpu_s / window_s, 1),
        "window_s": window_s,
    }


def simulator_main(conn: Connection, agents: int, workdir: str, seed: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_simulate(conn, agents, workdir, seed))


# -- the driver ----------------------------------------------------------------------------------------------------


def run(kind: str, steps: list[int], *, talk_s: float, measure_s: float, seed: int,
        db: str = "sqlite") -> dict[int, dict[str, Any]]:
    agents = int(max(steps) * 1.3) + 4
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix=f"cc_capacity_{kind}_") as workdir:
        sim_conn, sim_child = ctx.Pipe()
        sim = ctx.Process(target=simulator_main, args=(sim_child, agents, workdir, seed), daemon=True)
        sim.start()
        ami_port = sim_conn.recv()
        srv_conn, srv_child = ctx.Pipe()
        srv = ctx.Process(target=server_main, args=(kind, srv_child, ami_port, agents, workdir, db),
                          daemon=True)
        srv.start()
        hello = srv_conn.recv()
        results: dict[int, dict[str, Any]] = {}
        try:
            for concurrent in steps:
                rate = concurrent / talk_s
                srv_conn.send("cpu")
                cpu0 = srv_conn.recv()
                sim_conn.send({"agi_port": hello["agi_port"], "customers": hello["customers"], "talk_s": talk_s,
                               "rate_per_s": rate, "ramp_s": talk_s, "measure_s": measure_s})
                step = sim_conn.recv()
                srv_conn.send("cpu")
                # CPU over ramp + window + drain, per wall second of the ramp + window (drain is idle-ish)
                step["service_cpu_pct"] = round(100 * (srv_conn.recv() - cpu0) / (talk_s + step.pop("window_s")), 1)
                step["load_1m"] = round(os.getloadavg()[0], 2)
                results[concurrent] = step
                print(f"{kind:>8} C={concurrent:<4} {rate:6.2f} calls/s  route p50 {step['route_p50_ms']:7.2f} ms"
                      f"  p99 {step['route_p99_ms']:7.2f} ms  answered {step['answered_share']:.3f}"
                      f"  service cpu {step['service_cpu_pct']:5.1f}%  sim cpu {step['sim_cpu_pct']:5.1f}%"
                      f"  load {step['load_1m']}", flush=True)
        finally:
            for c in (sim_conn, srv_conn):
                c.send("stop")
            sim.join(30)
            srv.join(30)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="10,25,50,100,150,200", help="target concurrent calls per step")
    ap.add_argument("--talk-s", type=float, default=10.0, help="mean talk time (the ramp of each step)")
    ap.add_argument("--measure-s", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: steps 5,10, 5 s talk, 5 s windows")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the service's CRM database: the embedded default or PostgreSQL on 127.0.0.1:5432")
    ap.add_argument("--no-baseline", action="store_true", help="ours only (e.g. while profiling it)")
    args = ap.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    talk_s, measure_s = args.talk_s, args.measure_s
    if args.quick:
        steps, talk_s, measure_s = [5, 10], 5.0, 5.0
    print(f"whole service ({args.db}) vs PBX simulator on loopback, {os.cpu_count()} cores; steps {steps} concurrent calls, "
          f"talk {talk_s:g} s, {measure_s:g} s windows", flush=True)
    ours = run("ours", steps, talk_s=talk_s, measure_s=measure_s, seed=args.seed, db=args.db)
    bare = {} if args.no_baseline else run("bare", steps, talk_s=talk_s, measure_s=measure_s, seed=args.seed)
    curve = []
    for c in steps:
        row = {"concurrent_target": c, **ours[c]}
        if c in bare:
            row |= {"baseline_p50_ms": bare[c]["route_p50_ms"], "baseline_p99_ms": bare[c]["route_p99_ms"],
                    "p99_ratio_vs_bare": round(ours[c]["route_p99_ms"] / bare[c]["route_p99_ms"], 2)}
        curve.append(row)
    within = [r for r in curve if r["route_p99_ms"] <= P99_LIMIT_MS and r["answered_share"] >= 0.95]
    best = max(within, key=lambda r: r["concurrent_mean"], default=None)
    print(json.dumps({
        "bench": "sim_capacity",
        "db": args.db,
        "p99_limit_ms": P99_LIMIT_MS,
        "talk_s": talk_s,
        "sustained_concurrent_calls": best["concurrent_mean"] if best else 0,
        "sustained_calls_per_s": best["calls_per_s"] if best else 0,
        "p99_ratio_vs_bare_at_sustained": best.get("p99_ratio_vs_bare") if best else None,
        "curve": curve,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
