"""Wallboard push latency: 1,000 WebSocket clients on loopback while the PBX simulator runs 100 concurrent calls,
against a bare aiohttp broadcaster sending the same messages to the same number of clients.

Four processes (spawned), so that none steals another's event loop and each one's CPU is its own:

  simulator   the built-in PBX simulator (callcenter/pbxsim) on the wall clock (speed 1), as Asterisk would be: its
              AMI server on loopback, FastAGI to the service. <calls> agent desk phones + 30%, all in queue "sales",
              answering 95% of rings after 1-4 s. Poisson arrivals at rate = calls / (mean talk + ~2.5 s ring), by
              Little's law; talk uniform --talk-s (default 30-90 s); patience 150-200 s (few abandon). The run starts
              in the steady state: a cohort of <calls> calls is placed first with remaining talk times drawn from
              the equilibrium residual distribution, so ~<calls> calls are up from the first seconds.
  service     build_app (callcenter/app.py) exactly as `callcenter serve` wires it: SQLite, AMI session, FastAGI
              routing, CRM writer, automation, recordings, the wallboard hub; <calls> * 1.3 agents (team "Sales")
              and one admin with an API token. Logging at ERROR (no per-event log lines, no per-call warnings).
  clients     <clients> aiohttp WebSocket clients on /api/v1/wallboard/ws (token in the Authorization header), like the
              page: snapshot, then deltas; a sequence gap sends {"type":"resync"}; a close with code 4000 (dropped
              for being slow) reconnects. Each delivery's receive time (time.time()) is recorded with its seq.
  baseline    (after the service and the simulator have stopped) a bare aiohttp WebSocket server with no hub: no
              sequence streams, scopes, state or snapshot. One json.dumps per message, appended to each client's
              outbox, drained by one writer task per client (--baseline tasks, the default: a full socket delays
              only its own client), or `for ws in clients: await ws.send_str(data)` (--baseline loop: the textbook
              broadcast, where one full socket stalls everybody). It replays the very messages the hub sent in the
              measured window: same count, same sizes, same instants.

Event-to-client latency: from the moment the event happened to the moment a client has the delta. The moment is
the domain event's at_s (CallEnded: ended_s), which comes from the AMI event's Timestamp (the simulator stamps
events with its RealtimeClock = time.time() at its start + monotonic time, i.e. wall time; the service's FastAGI
CallRouted uses the service's clock). Bench-side wrappers in the service process (on the hub instance's
state.apply and push: callcenter/wallboard is not changed) record for every hub sequence number the time of the
event that produced it and the wall time the hub pushed it; admin screens see every delta, numbered hub.seq. So
each latency splits into "ingest" (event -> hub: AMI socket, parser, call tracker) and "fan-out" (hub -> client).
Same wall clock, one machine. The figures feed's pushes (today's figures and missed calls, refreshed from the
database after a debounce) have no single event: they are timed from the push and reported apart ("refresh").
Baseline latency runs from each message's scheduled instant.

Figures over all (message, client) deliveries of the events that happened in the measured window: p50/p99/max,
deliveries/s, missing deliveries (not received by the end of the window + 5 s: a dropped and resynced client, or a
backlog), the service's CPU (user+sys of its process over the window, in % of one core) with the clients and,
just before they connect, without them (the wallboard's marginal cost), its RSS; CPU microseconds per delivery
(the capacity figure: on a shared box it tells cost apart from contention; one core / that = deliveries per
second one process can push); the same for the baseline; ratios ours/baseline. Latency by third of the window
shows a backlog growing. The box's load average is printed: on a shared 2-core box the other processes' load
shows up in the latencies.

Prints tables, then ONE JSON line. Usage:
  python bench/wallboard.py [--clients 1000] [--calls 100] [--duration-s 60] [--quick] [--py-spy FILE]
                            [--baseline tasks|loop|none] [--connect-concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter, deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TEAM = "Sales"
QUEUE = "sales"
DID = "8001"
FIRST_EXTENSION = 2000
RING_S = 2.5  # mean answer delay of the phones (1-4 s) in Little's law
AGENTS_PER_CALL = 1.3
GRACE_S = 5.0  # baseline: after the replay, its last deliveries still count until this much later
INGEST_GRACE_S = 3.0  # ours: the window's events still reaching the hub this long after it are waited for
RESYNC_CLOSE_CODE = 4000


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run_wait_s() -> float:
    """Time this process's threads spent runnable but waiting for a CPU (/proc schedstat): contention, not work."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


async def serve_commands(conn: Connection, handle: Any) -> None:
    """Answer the driver's commands (``handle(cmd, *args)`` -> reply) until it says "stop"."""
    loop = asyncio.get_running_loop()
    while True:
        msg = await loop.run_in_executor(None, conn.recv)
        if msg == "stop" or msg[0] == "stop":
            return
        conn.send(await handle(*msg))


def pct(ordered: list[float] | array, q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if len(ordered) else float("nan")


# -- the simulator (child process) ---------------------------------------------------------------------------------


def residual_talk_s(rng: random.Random, low: float, high: float) -> float:
    """Remaining talk time of a call found in progress at a random instant (equilibrium residual of U(low, high)):
    density P(T > r) / E[T], sampled by rejection."""
    while True:
        r = rng.uniform(0.0, high)
        if r < low or rng.random() < (high - r) / (high - low):
            return max(1.0, r)


async def _simulator(conn: Connection, cfg: dict[str, Any]) -> None:
    from callcenter.pbxsim.callmodel import AgentPhone
    from callcenter.pbxsim.clock import RealtimeClock
    from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
    from callcenter.pbxsim.traffic import CallerMix, Traffic

    extensions = cfg["extensions"]
    phones = tuple(AgentPhone(extension=e, answer_probability=0.95, answer_delay_s=(1.0, 4.0)) for e in extensions)
    sim = Simulator(
        settings=SimulatorSettings(phones=phones, seed=cfg["seed"], monitor_dir=Path(cfg["tmp"]) / "monitor",
                                   record_audio=False),
        clock=RealtimeClock(speed=1.0),
    )
    await sim.start()
    conn.send(sim.ami_port)
    low, high = cfg["talk_s"]
    traffic = Traffic(pbx=sim.pbx, seed=cfg["seed"], mix=CallerMix(
        dids=(DID,), patience_s=(150.0, 200.0), talk_s=(low, high), agent_hangs_up_share=0.3))
    tasks: list[asyncio.Task[Any]] = []
    rng = random.Random(cfg["seed"] + 1)

    async def warm_cohort(n: int, spread_s: float) -> None:
        for i in range(n):
            await sim.clock.sleep(spread_s / n)
            traffic.place(dataclasses.replace(traffic.caller(label="warm"), talk_s=residual_talk_s(rng, low, high)))

    async def handle(cmd: str, *args: Any) -> Any:
        if cmd == "agi":
            sim.set_agi_address("127.0.0.1", args[0])
            for ext in extensions:
                sim.server.ops.queue_add(queue=QUEUE, interface=f"PJSIP/{ext}", member_name=ext,
                                         state_interface=f"PJSIP/{ext}", penalty=0, paused=False, reason="")
            return True
        if cmd == "traffic":
            rate, warm, spread_s = args
            tasks.append(sim.clock.spawn(warm_cohort(warm, spread_s), name="bench-warm"))
            tasks.append(sim.clock.spawn(traffic.poisson(rate_per_s=rate, duration_s=None), name="bench-traffic"))
            return True
        if cmd == "quiet":  # no new calls (before the service stops: no FastAGI errors on the way out)
            for task in tasks:
                task.cancel()
            return True
        if cmd == "stats":
            records = list(sim.pbx.calls.values())
            outcomes = Counter(r.outcome for r in records if r.ended_s is not None)
            return {"cpu_s": cpu_s(), "offered": traffic.offered, "in_progress": sum(r.ended_s is None for r in records),
                    "outcomes": dict(outcomes), "errors": len(sim.clock.errors)}
        raise ValueError(cmd)

    try:
        await serve_commands(conn, handle)
    finally:
        for task in tasks:
            task.cancel()
        await sim.stop()


def quiet_logs() -> None:
    """Errors only: no per-call warning lines (e.g. "recording missing": the simulator writes no audio here)."""
    logging.basicConfig(level=logging.ERROR, format="%(processName)s %(name)s: %(message)s")


def simulator_main(conn: Connection, cfg: dict[str, Any]) -> None:
    quiet_logs()
    asyncio.run(_simulator(conn, cfg))


# -- the service (child process) -----------------------------------------------------------------------------------


async def _seed(url: str, extensions: list[str]) -> str:
    from crm_core.access import Principal
    from crm_core.db import Database
    from crm_core.migrate import upgrade_async
    from crm_core.models import Role
    from crm_core.schemas import TeamIn, TokenIn, UserIn
    from crm_core.users import create_team, create_token, create_user

    await upgrade_async(url)
    db = Database.from_url(url)
    system = Principal.system()
    try:
        async with db.session() as s:
            team = await create_team(s, system, TeamIn(name=TEAM, timezone="UTC"))
            for ext in extensions:
                await create_user(s, system, UserIn(name=f"Agent {ext}", email=f"agent{ext}@bench.example",
                                                    role=Role.AGENT, team_id=team.id, extension=ext))
            admin = await create_user(s, system, UserIn(name="Bench Admin", email="admin@bench.example",
                                                        role=Role.ADMIN))
            _token, secret = await create_token(s, system, TokenIn(user_id=admin.id, name="bench"))
    finally:
        await db.dispose()
    return secret


async def _service(conn: Connection, cfg: dict[str, Any]) -> None:
    from aiohttp import web

    from callcenter.app import build_app
    from callcenter.app_keys import AGI, AMI, BUS, HUB, LIVE
    from callcenter.config import load_settings

    raise_fd_limit(cfg["fds"])
    tmp = Path(cfg["tmp"])
    url = f"sqlite+aiosqlite:///{tmp / 'cc.sqlite3'}"
    token = await _seed(url, cfg["extensions"])
    spool = str((tmp / "monitor").resolve())
    settings = load_settings(environ={
        "CALLCENTER_DATABASE__URL": url,
        "CALLCENTER_AMI__HOST": "127.0.0.1",
        "CALLCENTER_AMI__PORT": str(cfg["ami_port"]),
        "CALLCENTER_AMI__USERNAME": "callcenter",
        "CALLCENTER_AMI__SECRET": "callcenter",
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_AGI__DEFAULT_QUEUE": QUEUE,
        "CALLCENTER_ROUTING__DEFAULT_TEAM": TEAM,
        "CALLCENTER_RECORDING__SPOOL_DIR": spool,
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": spool,
        "CALLCENTER_RECORDING__STORE_DIR": str(tmp / "store"),
    })
    app = build_app(settings)
    hub, bus = app[HUB], app[BUS]
    # seq -> (the time of what caused it, when the hub had it, what caused it). Bench-side wrappers on this process's
    # objects (callcenter/wallboard is not changed): the hub turns a domain event into deltas through state.apply
    # then self.push; the figures feed calls hub.push directly after a debounced refresh (no single event: its
    # deltas are timed from the push). Admin screens see every delta, numbered hub.seq.
    seq_at, seq_hub, seq_kind = array("d"), array("d"), array("b")
    kinds: dict[str, int] = {}
    applying: list[object | None] = [None]
    state_apply, hub_push = hub.state.apply, hub.push

    def apply(event: object) -> Any:
        applying[0] = event
        return state_apply(event)

    def push(deltas: Any) -> None:
        event, applying[0] = applying[0], None
        hub_push(deltas)
        now = time.time()
        if event is None:
            at, name = now, "refresh"
        else:
            at = getattr(event, "at_s", None)
            if at is None:
                at = getattr(event, "ended_s", math.nan)
            name = type(event).__name__
        kind = kinds.setdefault(name, len(kinds))
        while len(seq_at) < hub.seq:
            seq_at.append(at)
            seq_hub.append(now)
            seq_kind.append(kind)

    hub.state.apply, hub.push = apply, push  # type: ignore[method-assign]
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await app[AMI].wait_live(30.0)
    conn.send({"http_port": http_port, "agi_port": app[AGI].port, "token": token, "pid": os.getpid()})

    concurrency: list[tuple[float, int]] = []

    async def sample() -> None:
        while True:
            concurrency.append((time.time(), len(app[LIVE].tracker.open_calls())))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())

    async def handle(cmd: str, *args: Any) -> Any:
        if cmd == "stats":
            return {"t": time.time(), "cpu_s": cpu_s(), "wait_s": run_wait_s(), **rss_mb(), "seq": hub.seq, "clients": len(hub.clients),
                    "dropped": getattr(hub, "dropped", None), "published": bus.published}
        if cmd == "seqmap":
            return {"at": seq_at, "hub": seq_hub, "kind": seq_kind, "kinds": {v: k for k, v in kinds.items()},
                    "concurrency": concurrency}
        raise ValueError(cmd)

    try:
        await serve_commands(conn, handle)
    finally:
        sampler.cancel()
        await runner.cleanup()


def service_main(conn: Connection, cfg: dict[str, Any]) -> None:
    quiet_logs()
    asyncio.run(_service(conn, cfg))


# -- the bare baseline server (child process) ----------------------------------------------------------------------


async def _baseline(conn: Connection, cfg: dict[str, Any]) -> None:
    from aiohttp import web

    raise_fd_limit(cfg["fds"])
    clients: set[web.WebSocketResponse] = set()
    outboxes: dict[web.WebSocketResponse, tuple[deque[str], asyncio.Event]] = {}
    snapshot = json.dumps({"type": "snapshot", "seq": 0, "state": {}})

    async def writer(ws: web.WebSocketResponse, box: deque[str], wake: asyncio.Event) -> None:
        while not ws.closed:
            await wake.wait()
            wake.clear()
            while box and not ws.closed:
                await ws.send_str(box.popleft())

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await ws.send_str(snapshot)
        clients.add(ws)
        task = None
        if cfg["baseline"] == "tasks":
            outboxes[ws] = box, wake = deque(), asyncio.Event()
            task = asyncio.create_task(writer(ws, box, wake))
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
            outboxes.pop(ws, None)
            if task is not None:
                task.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    conn.send({"http_port": site._server.sockets[0].getsockname()[1], "pid": os.getpid()})

    async def play(offsets: list[float], sizes: list[int], delay_s: float) -> dict[str, Any]:
        """Broadcast message i (seq i+1, ``sizes[i]`` bytes) at t0 + offsets[i]."""
        loop = asyncio.get_running_loop()
        t0 = time.time() + delay_s
        base = loop.time() + delay_s
        cpu0 = cpu_s()
        for i, (offset, size) in enumerate(zip(offsets, sizes, strict=True)):
            wait = base + offset - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing the replayed timeline
            head = json.dumps({"type": "delta", "seq": i + 1, "pad": ""})
            data = head[:-2] + "x" * max(0, size - len(head)) + '"}'
            if cfg["baseline"] == "tasks":
                for box, wake in outboxes.values():
                    box.append(data)
                    wake.set()
            else:
                for ws in list(clients):
                    await ws.send_str(data)
        return {"t0": t0, "cpu_s": cpu_s() - cpu0, "wall_s": time.time() - t0, **rss_mb()}

    async def handle(cmd: str, *args: Any) -> Any:
        if cmd == "play":
            return await play(*args)
        if cmd == "stats":
            return {"t": time.time(), "cpu_s": cpu_s(), **rss_mb(), "clients": len(clients)}
        raise ValueError(cmd)

    try:
        await serve_commands(conn, handle)
    finally:
        await runner.cleanup()


def baseline_main(conn: Connection, cfg: dict[str, Any]) -> None:
    asyncio.run(_baseline(conn, cfg))


# -- the WebSocket clients (child process) -------------------------------------------------------------------------


def seq_of(data: str) -> tuple[str, int]:
    """("delta" | "snapshot" | other type, seq) without parsing the whole message (this process must keep up)."""
    head = data[:80]
    i = head.find('"seq":')
    if head.startswith(('{"type":"delta"', '{"type": "delta"')) and i > 0:
        j = i + 6
        while head[j] == " ":
            j += 1
        k = j
        while head[k].isdigit():
            k += 1
        return "delta", int(head[j:k])
    msg = json.loads(data)
    return str(msg.get("type")), int(msg.get("seq", -1))


async def _clients(conn: Connection, cfg: dict[str, Any]) -> None:
    import aiohttp

    raise_fd_limit(cfg["fds"])
    url, n = cfg["url"], cfg["clients"]
    seqs, times = array("q"), array("d")
    sizes: dict[int, int] = {}  # client 0 only: seq -> bytes (the baseline replays the same sizes)
    counters = Counter[str]()
    connected = asyncio.Event()
    ready = [0]
    last_seq: list[int | None] = [None] * n  # per client, while its socket is open
    stopping = asyncio.Event()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))
    gate = asyncio.Semaphore(cfg["connect_concurrency"])
    auth = {"Authorization": f"Bearer {cfg['token']}"} if cfg.get("token") else None

    async def client(index: int) -> None:
        first = True
        while not stopping.is_set():
            try:
                async with gate:
                    ws = await session.ws_connect(url, autoping=True, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=5),
                                                  headers=auth)
            except (aiohttp.ClientError, OSError) as exc:
                counters[f"connect_error {type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)  # back off before reconnecting, as the page does
                continue
            last = None
            try:
                async for msg in ws:
                    now = time.time()
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    kind, seq = seq_of(msg.data)
                    if kind == "snapshot":
                        counters["snapshots"] += 1
                        if index == 0:
                            counters["snapshot_bytes"] = len(msg.data.encode())
                        last = last_seq[index] = seq
                        if first:
                            first = False
                            ready[0] += 1
                            if ready[0] == n:
                                connected.set()
                        continue
                    if kind != "delta":
                        counters[f"other {kind}"] += 1
                        continue
                    seqs.append(seq)
                    times.append(now)
                    if index == 0:
                        sizes[seq] = len(msg.data.encode())
                    if last is not None and seq != last + 1:
                        counters["gaps"] += 1
                        await ws.send_str('{"type":"resync"}')
                    last = last_seq[index] = seq
            finally:
                last_seq[index] = None
                if ws.close_code == RESYNC_CLOSE_CODE:
                    counters["resync_closes"] += 1
                elif not stopping.is_set():
                    counters[f"closed {ws.close_code}"] += 1
                await ws.close()

    cpu0 = cpu_s()
    t0 = time.time()
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connected.wait(), cfg["connect_timeout_s"])
    conn.send({"connect_s": time.time() - t0, "cpu_s": cpu_s() - cpu0, "connected": ready[0],
               "counters": dict(counters)})

    async def handle(cmd: str, *args: Any) -> Any:
        if cmd == "mark":
            return {"n": len(seqs), "cpu_s": cpu_s(), "t": time.time()}
        if cmd == "behind":  # open sockets that have not yet had seq args[0]
            return sum(1 for last in last_seq if last is not None and last < args[0])
        if cmd == "collect":
            stopping.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
            return {"seqs": seqs, "times": times, "sizes": sizes, "counters": dict(counters), "cpu_s": cpu_s(),
                    **rss_mb()}
        raise ValueError(cmd)

    await serve_commands(conn, handle)


def clients_main(conn: Connection, cfg: dict[str, Any]) -> None:
    asyncio.run(_clients(conn, cfg))


# -- the driver ----------------------------------------------------------------------------------------------------


class Child:
    """A spawned process with a command pipe."""

    def __init__(self, target: Any, cfg: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, cfg), daemon=True)
        self.proc.start()

    def recv(self, timeout_s: float = 120.0) -> Any:
        if not self.conn.poll(timeout_s):
            raise SystemExit(f"{self.proc.name}: no answer within {timeout_s:g} s")
        return self.conn.recv()

    def ask(self, *msg: Any, timeout_s: float = 120.0) -> Any:
        self.conn.send(msg)
        return self.recv(timeout_s)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()


def latency_figures(lat_s: array | list[float], missing: int = 0) -> dict[str, Any]:
    """min/p50/p99/max in ms over the received deliveries plus ``missing`` ones that never came, counted as
    infinitely late: a percentile that falls among them is null (it is later than anything measured), so a backlog
    that keeps deliveries from ever arriving cannot make the figures look better."""
    ordered = sorted(lat_s)
    total = len(ordered) + max(0, missing)

    def q(p: float) -> float | None:
        i = min(total - 1, int(p * total)) if total else 0
        return round(ordered[i] * 1000, 2) if i < len(ordered) else None

    out: dict[str, Any] = {"min_ms": round(ordered[0] * 1000, 2) if ordered else None, "p50_ms": q(0.50),
                           "p99_ms": q(0.99), "max_ms": round(ordered[-1] * 1000, 2) if ordered and missing <= 0
                           else None}
    if missing > 0:
        out["never_delivered"] = missing
    return out


def py_spy_top(raw: Path, top: int = 15) -> list[tuple[str, float, float]]:
    """From py-spy's raw (collapsed) output: (function, self share, inclusive share), by self share."""
    self_n: Counter[str] = Counter()
    incl_n: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        self_n[frames[-1]] += n
        for f in set(frames):
            incl_n[f] += n
    return [(f, n / total, incl_n[f] / total) for f, n in self_n.most_common(top)] if total else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=100, help="concurrent calls (Little's law sets the arrival rate)")
    ap.add_argument("--duration-s", type=float, default=60.0, help="the measured window")
    ap.add_argument("--idle-s", type=float, default=15.0, help="window without clients (the service's own CPU)")
    ap.add_argument("--talk-s", default="30,90", help="talk time, uniform LOW,HIGH seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drain-s", type=float, default=90.0,
                    help="after the window, wait at most this long for every client to have the window's deltas")
    ap.add_argument("--connect-concurrency", type=int, default=8, help="clients connecting at once")
    ap.add_argument("--connect-timeout-s", type=float, default=300.0, help="go on with the clients connected by then")
    ap.add_argument("--baseline", choices=("tasks", "loop", "none"), default="tasks",
                    help="tasks: a writer task per client (sends never wait for each other); loop: `for ws in clients: "
                         "await ws.send_str(data)` (one full socket stalls the broadcast)")
    ap.add_argument("--py-spy", type=Path, help="profile the service during the window (py-spy raw output here)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 100 clients, 20 calls, 10 s windows")
    args = ap.parse_args(argv)
    if args.quick:
        args.clients, args.calls, args.duration_s, args.idle_s, args.talk_s = 100, 20, 10.0, 4.0, "10,30"
    low, high = (float(x) for x in args.talk_s.split(","))
    rate = args.calls / ((low + high) / 2 + RING_S)
    agents = math.ceil(args.calls * AGENTS_PER_CALL)
    extensions = [str(FIRST_EXTENSION + i) for i in range(agents)]
    fds = args.clients + 1024
    raise_fd_limit(fds)
    tmp = Path(tempfile.mkdtemp(prefix="cc_bench_wallboard_"))
    base_cfg = {"tmp": str(tmp), "seed": args.seed, "connect_concurrency": args.connect_concurrency,
                "connect_timeout_s": args.connect_timeout_s, "extensions": extensions, "fds": fds, "talk_s": (low, high),
                "baseline": args.baseline}
    print(f"wallboard bench: {args.clients} clients, ~{args.calls} concurrent calls (Poisson {rate:.2f} calls/s, talk "
          f"U({low:g},{high:g}) s, {agents} agents), {args.duration_s:g} s window; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)

    children: list[Child] = []
    figures: dict[str, Any] = {"bench": "wallboard", "baseline_kind": args.baseline, "clients": args.clients, "target_calls": args.calls,
                               "arrival_rate_per_s": round(rate, 3), "talk_s": [low, high], "agents": agents,
                               "window_s": args.duration_s}
    try:
        sim = Child(simulator_main, base_cfg)
        children.append(sim)
        ami_port = sim.recv()
        svc = Child(service_main, base_cfg | {"ami_port": ami_port})
        children.append(svc)
        info = svc.recv(180)
        sim.ask("agi", info["agi_port"])
        sim.ask("traffic", rate, args.calls, 5.0)
        # the warm cohort is placed over 5 s and answered within ~5 s more
        time.sleep(12.0)  # wall-clock pacing of the scenario, not synchronisation

        # window 1: the calls, no wallboard client
        s0 = svc.ask("stats")
        time.sleep(args.idle_s)
        s1 = svc.ask("stats")
        idle_cpu = (s1["cpu_s"] - s0["cpu_s"]) / (s1["t"] - s0["t"])

        # the clients connect (each gets a snapshot), then window 2
        # A non-browser client sends its token in the Authorization header (tokens never go in URLs).
        ws_url = f"http://127.0.0.1:{info['http_port']}/api/v1/wallboard/ws"
        cl = Child(clients_main, base_cfg | {"url": ws_url, "clients": args.clients, "token": info["token"]})
        children.append(cl)
        hello = cl.recv(600)
        print(f"ours: {hello['connected']}/{args.clients} clients connected (snapshot each) in {hello['connect_s']:.1f} s "
              f"({args.connect_concurrency} at a time); {hello['counters']}", flush=True)
        time.sleep(2.0)
        profiler = None
        if args.py_spy:
            profiler = subprocess.Popen(
                ["py-spy", "record", "--pid", str(info["pid"]), "--duration", str(int(args.duration_s)), "--rate", "100",
                 "--format", "raw", "--output", str(args.py_spy), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load0 = os.getloadavg()
        s2, m2, c2 = svc.ask("stats"), sim.ask("stats"), cl.ask("mark")
        w0 = s2["t"]
        time.sleep(args.duration_s)
        s3, m3, c3 = svc.ask("stats"), sim.ask("stats"), cl.ask("mark")
        w1 = s3["t"]
        load1 = os.getloadavg()
        # every open socket gets the window's last delta, or --drain-s runs out (a backlog that never drains). An
        # event of the window can reach the hub after the window ends (ingest lag on a busy box): the drain waits
        # for what the hub had INGEST_GRACE_S later, else such a delivery, still on its way, would count as never.
        time.sleep(INGEST_GRACE_S)
        last_window_seq = svc.ask("stats")["seq"]
        while (behind := cl.ask("behind", last_window_seq)) and time.time() < w1 + args.drain_s:
            time.sleep(1.0)  # polling the clients' progress, bounded by --drain-s
        drained_s = time.time() - w1
        s4 = svc.ask("stats")
        got = cl.ask("collect", timeout_s=300)
        seqmap = svc.ask("seqmap", timeout_s=120)
        cl.stop()
        if profiler is not None:
            profiler.wait(60)
        sim_stats = sim.ask("stats")
        sim.ask("quiet")
        svc.stop()
        sim.stop()

        # -- ours: deliveries of the events that happened inside the window
        at, hub_t, kind = seqmap["at"], seqmap["hub"], seqmap["kind"]
        window = [s for s in range(1, len(at) + 1) if w0 <= at[s - 1] < w1]
        in_window = set(window)
        refresh = next((k for k, v in seqmap["kinds"].items() if v == "refresh"), None)
        e2c, h2c, r2c = array("d"), array("d"), array("d")  # domain events; refresh pushes (hub -> client)
        slices: list[array] = [array("d") for _ in range(3)]  # event -> client by third of the window: a backlog grows
        per_kind: dict[str, array] = {}
        delivered = 0
        for seq, t in zip(got["seqs"], got["times"], strict=True):
            if seq not in in_window:
                continue
            delivered += 1
            per_kind.setdefault(seqmap["kinds"][kind[seq - 1]], array("d")).append(t - at[seq - 1])
            if kind[seq - 1] == refresh:
                r2c.append(t - hub_t[seq - 1])
                continue
            e2c.append(t - at[seq - 1])
            h2c.append(t - hub_t[seq - 1])
            slices[min(2, int(3 * (at[seq - 1] - w0) / (w1 - w0)))].append(t - at[seq - 1])
        ingest = array("d", (hub_t[s - 1] - at[s - 1] for s in window if kind[s - 1] != refresh))
        # every client connected at the start of the window should get each of the window's deltas once
        clients_n = hello["connected"]
        expected = len(window) * clients_n
        kind_n = Counter(seqmap["kinds"][kind[s - 1]] for s in window)
        slice_n = Counter(min(2, int(3 * (at[s - 1] - w0) / (w1 - w0))) for s in window if kind[s - 1] != refresh)
        domain_expected = sum(slice_n.values()) * clients_n
        conc = [n for t, n in seqmap["concurrency"] if w0 <= t <= w1]
        wall = w1 - w0
        ours_cpu = (s3["cpu_s"] - s2["cpu_s"]) / wall
        received = c3["n"] - c2["n"]  # deliveries the clients got during the window (whenever their event was)
        ours = {
            "messages": len(window),
            "messages_per_s": round(len(window) / wall, 2),
            "message_bytes_mean": round(sum(got["sizes"].values()) / len(got["sizes"])) if got["sizes"] else None,
            "snapshot_bytes": got["counters"].pop("snapshot_bytes", None),
            "deliveries": delivered,
            "deliveries_expected": expected,
            "missing_deliveries": expected - delivered,
            "drain_s": round(drained_s, 1),
            "behind_after_drain": behind,
            "event_to_client": latency_figures(e2c, domain_expected - len(e2c)),
            "event_to_hub": latency_figures(ingest),
            "hub_to_client": latency_figures(h2c, domain_expected - len(h2c)),
            "refresh_messages": sum(kind[s - 1] == refresh for s in window),
            "refresh_hub_to_client": latency_figures(r2c, kind_n["refresh"] * clients_n - len(r2c)) if r2c else None,
            "event_to_client_p50_ms_by_third": [latency_figures(x, slice_n[i] * clients_n - len(x))["p50_ms"]
                                                for i, x in enumerate(slices)],
            "received_in_window_per_s": round(received / (c3["t"] - c2["t"])),
            "service_cpu_us_per_delivery": round(ours_cpu * wall / received * 1e6, 1) if received else None,
            "wallboard_cpu_us_per_delivery": round((ours_cpu - idle_cpu) * wall / received * 1e6, 1) if received else None,
            "event_to_client_by_event": {k: latency_figures(v, kind_n[k] * clients_n - len(v)) | {"n": len(v)}
                                         for k, v in sorted(per_kind.items())},
            "dropped_by_hub": (s4["dropped"] - s2["dropped"]) if s2.get("dropped") is not None else None,
            "client_counters": got["counters"],
            "service_cpu_pct": round(ours_cpu * 100, 1),
            "service_cpu_pct_without_clients": round(idle_cpu * 100, 1),
            "wallboard_cpu_pct": round((ours_cpu - idle_cpu) * 100, 1),
            "service_runqueue_wait_pct": round((s3["wait_s"] - s2["wait_s"]) / wall * 100, 1),
            "service_rss_mb": s3.get("VmRSS"),
            "service_rss_mb_without_clients": s1.get("VmRSS"),
            "simulator_cpu_pct": round((m3["cpu_s"] - m2["cpu_s"]) / wall * 100, 1),
            "clients_cpu_pct": round((c3["cpu_s"] - c2["cpu_s"]) / (c3["t"] - c2["t"]) * 100, 1),
            "concurrent_calls": {"mean": round(sum(conc) / len(conc), 1) if conc else None,
                                 "min": min(conc, default=None), "max": max(conc, default=None)},
            "calls": {"offered": sim_stats["offered"], "outcomes": sim_stats["outcomes"],
                      "simulator_errors": sim_stats["errors"]},
            "connect_s": round(hello["connect_s"], 2),
            "connected": hello["connected"],
            "connect_counters": hello["counters"],
            "loadavg_1m": [round(load0[0], 2), round(load1[0], 2)],
        }
        figures["ours"] = ours
        if args.py_spy and args.py_spy.exists():
            figures["profile_top_self"] = [[f, round(s, 3), round(i, 3)] for f, s, i in py_spy_top(args.py_spy)]

        # -- baseline: the same messages (count, sizes, instants) from a bare broadcaster
        if args.baseline != "none" and window:
            sizes = got["sizes"]
            fallback = round(sum(sizes.values()) / len(sizes)) if sizes else 200
            offsets = [at[s - 1] - w0 for s in window]
            order = sorted(range(len(window)), key=offsets.__getitem__)
            offsets = [offsets[i] for i in order]
            msg_sizes = [sizes.get(window[i], fallback) for i in order]
            bl = Child(baseline_main, base_cfg)
            children.append(bl)
            binfo = bl.recv()
            bcl = Child(clients_main, base_cfg | {"url": f"http://127.0.0.1:{binfo['http_port']}/ws",
                                                  "clients": args.clients})
            children.append(bcl)
            bhello = bcl.recv(600)
            time.sleep(2.0)
            bload0 = os.getloadavg()
            b0 = bl.ask("stats")
            c0 = bcl.ask("mark")
            played = bl.ask("play", offsets, msg_sizes, 1.0, timeout_s=args.duration_s * 10 + 120)
            time.sleep(1.0)  # the last broadcast's deliveries
            c1 = bcl.ask("mark")
            time.sleep(GRACE_S)
            bgot = bcl.ask("collect", timeout_s=300)
            b1 = bl.ask("stats")
            bload1 = os.getloadavg()
            bcl.stop()
            bl.stop()
            sched = [played["t0"] + o for o in offsets]
            end = played["t0"] + args.duration_s + GRACE_S
            blat = array("d", (t - sched[seq - 1] for seq, t in zip(bgot["seqs"], bgot["times"], strict=True)
                               if 0 < seq <= len(sched) and t <= end))
            bwall = max(played["wall_s"], args.duration_s)
            base_cpu = (b1["cpu_s"] - b0["cpu_s"]) / bwall
            baseline = {
                "messages": len(offsets),
                "deliveries": len(blat),
                "deliveries_expected": len(offsets) * args.clients,
                "event_to_client": latency_figures(blat, len(offsets) * args.clients - len(blat)),
                "server_cpu_pct": round(base_cpu * 100, 1),
                "server_cpu_us_per_delivery": round((b1["cpu_s"] - b0["cpu_s"]) / (c1["n"] - c0["n"]) * 1e6, 1)
                if c1["n"] > c0["n"] else None,
                "server_rss_mb": b1.get("VmRSS"),
                "clients_cpu_pct": round((c1["cpu_s"] - c0["cpu_s"]) / (c1["t"] - c0["t"]) * 100, 1),
                "client_counters": bgot["counters"],
                "connect_s": round(bhello["connect_s"], 2),
                "loadavg_1m": [round(bload0[0], 2), round(bload1[0], 2)],
            }
            figures["baseline"] = baseline
            for q in ("p99", "p50"):  # null when ours never delivered that share (later than anything measured)
                mine, theirs = ours["event_to_client"][f"{q}_ms"], baseline["event_to_client"][f"{q}_ms"]
                figures[f"ratio_{q}"] = round(mine / theirs, 2) if mine is not None and theirs else None
            figures["ratio_cpu_service"] = round(ours_cpu / base_cpu, 2) if base_cpu else None
            figures["ratio_cpu_wallboard"] = round((ours_cpu - idle_cpu) / base_cpu, 2) if base_cpu else None
            if ours["wallboard_cpu_us_per_delivery"] and baseline["server_cpu_us_per_delivery"]:
                figures["ratio_cpu_per_delivery"] = round(
                    ours["wallboard_cpu_us_per_delivery"] / baseline["server_cpu_us_per_delivery"], 2)
    finally:
        for child in children:
            if child.proc.is_alive():
                child.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    report(figures)
    print(json.dumps(figures, separators=(",", ":")))
    return 0


def cell(ms: float | None) -> str:
    return f"{ms:8.1f}" if ms is not None else f"{'never':>8}"


def report(f: dict[str, Any]) -> None:
    o = f["ours"]
    print(f"calls: concurrent mean {o['concurrent_calls']['mean']} (min {o['concurrent_calls']['min']}, max "
          f"{o['concurrent_calls']['max']}) over the window; offered {o['calls']['offered']}, outcomes "
          f"{o['calls']['outcomes']}")
    print(f"window: {o['messages']} hub messages ({o['messages_per_s']}/s, {o['message_bytes_mean']} B mean; snapshot "
          f"{o['snapshot_bytes']} B) x {f['clients']} clients = "
          f"{o['deliveries_expected']} deliveries expected, {o['deliveries']} delivered (waited {o['drain_s']} s after "
          f"the window; {o['behind_after_drain']} open sockets still behind), "
          f"hub drops {o['dropped_by_hub']}, client counters {o['client_counters']}")
    print(f"{'latency ms':28} {'p50':>8} {'p99':>8} {'max':>8}   (never: among the deliveries that never came)")
    rows = [("ours event -> client", o["event_to_client"]), ("  event -> hub (ingest)", o["event_to_hub"]),
            ("  hub -> client (fan-out)", o["hub_to_client"])]
    if o["refresh_hub_to_client"]:
        rows.append(("figures refresh hub->client", o["refresh_hub_to_client"]))
    if "baseline" in f:
        rows.append(("bare aiohttp broadcast", f["baseline"]["event_to_client"]))
    for name, r in rows:
        print(f"{name:28} {cell(r['p50_ms'])} {cell(r['p99_ms'])} {cell(r['max_ms'])}")
    print(f"  event -> client p50 by third of the window (a growing backlog shows here): "
          f"{o['event_to_client_p50_ms_by_third']} ms")
    for name, r in o["event_to_client_by_event"].items():
        print(f"  {name:26} {cell(r['p50_ms'])} {cell(r['p99_ms'])} {cell(r['max_ms'])}  n={r['n']}")
    print(f"CPU (% of one core): service {o['service_cpu_pct']} with clients, {o['service_cpu_pct_without_clients']} "
          f"without -> wallboard {o['wallboard_cpu_pct']}; simulator {o['simulator_cpu_pct']}; clients process "
          f"{o['clients_cpu_pct']}; service RSS {o['service_rss_mb']} MB ({o['service_rss_mb_without_clients']} MB "
          f"without clients); load average {o['loadavg_1m']}")
    print(f"service threads runnable but waiting for a CPU (other processes on the box): "
          f"{o['service_runqueue_wait_pct']}% of the window")
    print(f"service CPU per delivery received in the window ({o['received_in_window_per_s']}/s): "
          f"{o['service_cpu_us_per_delivery']} us, of which wallboard {o['wallboard_cpu_us_per_delivery']} us")
    if "baseline" in f:
        b = f["baseline"]
        print(f"baseline: server CPU {b['server_cpu_pct']}% ({b['server_cpu_us_per_delivery']} us per delivery), RSS {b['server_rss_mb']} MB, clients process "
              f"{b['clients_cpu_pct']}%, {b['deliveries']}/{b['deliveries_expected']} delivered, load {b['loadavg_1m']}")
        print(f"ratio ours/baseline: p99 {f['ratio_p99']}x, p50 {f['ratio_p50']}x, CPU {f['ratio_cpu_service']}x "
              f"(whole service) / {f['ratio_cpu_wallboard']}x (wallboard share), "
              f"CPU per delivery {f.get('ratio_cpu_per_delivery')}x")
    for func, self_share, incl in f.get("profile_top_self", []):
        print(f"  py-spy self {self_share:6.1%} incl {incl:6.1%}  {func}")


if __name__ == "__main__":
    raise SystemExit(main())
