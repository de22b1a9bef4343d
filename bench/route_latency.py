"""FastAGI route latency on loopback: our routing (memory and Redis stores) against a bare panoramisk handler.

Each server runs in its own process; this process plays Asterisk, open loop: request i starts at t0 + i/rate
whether or not earlier ones finished, and its latency runs from that scheduled start until the server closes the
connection (so a server that falls behind pays for it, no coordinated omission). One request = connect, the agi_*
block the shipped dialplan sends, a "200 result=1" reply to every command, close.

servers:
  panoramisk-bare   panoramisk.fast_agi.Application, a route that does nothing (the baseline asked for)
  panoramisk-8set   the same, sending the 8 SET VARIABLE commands our answer has (protocol cost, for reference)
  ours-memory       FastAgiServer + RoutingService + MemoryRoutingStore
  ours-redis        FastAgiServer + RoutingService + RedisRoutingStore on 127.0.0.1:6379

Our servers route among 30 agents with owner routing on. The CRM is SIMULATED: a lookup callable backed by a dict
of 1,000,000 phone numbers (70% of callers are in it, drawn at random, so nearly every lookup misses the cache and
reaches the dict). Each call's reservation is released right after the answer (a CallEnded applied in the
background), so agents stay available and every request takes the full path: CRM, snapshot, policy, reservation.
Logging stays at WARNING (no per-request log lines), as for the baseline.

Prints a table, then ONE JSON line. Usage: python bench/route_latency.py [--seconds 3] [--rates 100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CRM_ENTRIES = 1_000_000
AGENTS = 30
KNOWN_SHARE = 0.7
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVERS = ("panoramisk-bare", "panoramisk-8set", "ours-memory", "ours-redis")


def crm_number(n: int) -> str:
    return f"+1415{n:07d}"


# -- servers (child processes) ------------------------------------------------------------------------------------


async def _serve_panoramisk(kind: str, conn: Connection) -> None:
    from panoramisk import fast_agi

    app = fast_agi.Application(loop=asyncio.get_running_loop())
    if kind == "panoramisk-bare":
        async def route(request: Any) -> None:
            return None
    else:
        async def route(request: Any) -> None:
            for name in ("CC_TARGET", "CC_RING_TIMEOUT_S", "CC_DIAL_OPTS", "CC_QUEUE", "CC_QUEUE_TIMEOUT_S",
                         "CC_MAILBOX", "CC_REASON", "CC_ACTION"):
                await request.send_command(f'SET VARIABLE {name} "x"')
    app.add_route("inbound", route)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0)
    conn.send(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    server.close()
    await server.wait_closed()


async def _serve_ours(kind: str, conn: Connection) -> None:
    import redis.asyncio as aioredis

    from callcenter.ami.agi import AgiRequest, FastAgiServer, RouteDecision
    from callcenter.events import AgentState, CallDirection, CallEnded, CallOutcome
    from callcenter.routing.crm import CrmMatch
    from callcenter.routing.directory import AgentInfo, StaticDirectory
    from callcenter.routing.rules import RoutingRules, TeamPolicy
    from callcenter.routing.service import RoutingService
    from callcenter.routing.state import MemoryRoutingStore, RoutingStore
    from callcenter.routing.state_redis import RedisRoutingStore

    rng = random.Random(11)
    book = {crm_number(n): 1 + rng.randrange(AGENTS) for n in range(CRM_ENTRIES)}  # number -> owner user id

    async def lookup(number: str) -> CrmMatch | None:
        owner = book.get(number)
        if owner is None:
            return None
        return CrmMatch(entity="contact", record_id=int(number[-7:]), e164=number, responsible_user_id=owner)

    directory = StaticDirectory(
        AgentInfo(agent=str(1001 + i), team="support", user_id=1 + i, name=f"Agent {i}") for i in range(AGENTS)
    )
    client = None
    store: RoutingStore
    prefix = f"bench:{{routing}}:{uuid.uuid4().hex}:"
    if kind == "ours-redis":
        # A bounded pool that waits for a free connection: the default pool raises MaxConnectionsError past 100
        # concurrent commands, which a burst of route requests reaches.
        client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            REDIS_URL, max_connections=32, timeout=1.0))
        store = RedisRoutingStore(redis=client, prefix=prefix)
    else:
        store = MemoryRoutingStore()
    now = time.time()
    for i in range(AGENTS):
        await store.set_state(str(1001 + i), AgentState.AVAILABLE, at_s=now - 3600)
    rules = RoutingRules(teams={"support": TeamPolicy(name="support", queue="support")}, default_team="support")
    service = RoutingService(rules=rules, store=store, directory=directory, lookup=lookup)
    pending: set[asyncio.Task[None]] = set()

    async def release(call_id: str) -> None:
        t = time.time()
        await store.apply(CallEnded(
            call_id=call_id, started_s=t, ended_s=t, direction=CallDirection.INBOUND, outcome=CallOutcome.MISSED,
            caller=None, caller_name=None, did="8002", customer=None, answered_by=None, agents_rung=(),
            agents_talked=(), attempts=(), wait_s=0.0, talk_s=0.0, hangup_cause=16, hangup_cause_txt=None,
            hung_up_by=None, recordings=(), queue=None,
        ))

    async def decide(request: AgiRequest) -> RouteDecision:
        decision = await service.decide(request)
        task = asyncio.create_task(release(request.linkedid or request.uniqueid))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return decision

    server = FastAgiServer(host="127.0.0.1", port=0, default_queue="support", queue_timeout_s=300, decide=decide)
    await server.start()
    conn.send(server.port)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await server.stop()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    c = server.counters
    reasons = dict(service.reason_counts.most_common(6))
    conn.send({"fail_open": c.fail_open, "decider_timeouts": c.decider_timeouts, "reasons": reasons})
    if client is not None:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def server_main(kind: str, conn: Connection) -> None:
    runner = _serve_panoramisk if kind.startswith("panoramisk") else _serve_ours
    asyncio.run(runner(kind, conn))


# -- Asterisk's side (this process) -------------------------------------------------------------------------------


def request_bytes(i: int, rng: random.Random) -> bytes:
    uid = f"1900000000.{i}"
    caller = crm_number(rng.randrange(CRM_ENTRIES)) if rng.random() < KNOWN_SHARE else f"+1646{rng.randrange(10**7):07d}"
    lines = [
        "agi_network: yes", "agi_network_script: inbound", "agi_request: agi://127.0.0.1:4573/inbound",
        f"agi_channel: PJSIP/trunk-{i:08x}", "agi_language: en", "agi_type: PJSIP", f"agi_uniqueid: {uid}",
        "agi_version: 20.20.1", f"agi_callerid: {caller}", "agi_calleridname: Customer", "agi_dnid: 8002",
        "agi_rdnis: unknown", "agi_context: cc-inbound", "agi_extension: 8002", "agi_priority: 8",
        "agi_enhanced: 0.0", "agi_accountcode: ", "agi_threadid: 140693242218176",
        "agi_arg_1: 1", "agi_arg_2: NONE", f"agi_arg_3: {uid}",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def one_request(port: int, payload: bytes) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    commands = 0
    reason = ""
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            commands += 1
            if line.startswith(b"SET VARIABLE CC_REASON"):
                reason = line.split(b" ", 3)[3].strip().strip(b'"').decode()
            writer.write(b"200 result=1\n")
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return commands, reason


async def drive(port: int, *, rate: int, seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    n = int(rate * seconds)
    payloads = [request_bytes(seed * 1_000_000 + i, rng) for i in range(n)]
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    reasons: dict[str, int] = {}
    errors = 0
    t0 = loop.time() + 0.05

    async def timed(i: int) -> None:
        nonlocal errors
        start = t0 + i / rate
        delay = start - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the open-loop schedule, not synchronisation
        try:
            _, reason = await one_request(port, payloads[i])
        except OSError:
            errors += 1
            return
        latencies.append((loop.time() - start) * 1000)
        reasons[reason] = reasons.get(reason, 0) + 1

    await asyncio.gather(*(timed(i) for i in range(n)))
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "requests": n,
        "p50_ms": round(pct(0.50), 3),
        "p99_ms": round(pct(0.99), 3),
        "max_ms": round(latencies[-1], 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
        "errors": errors,
        "reasons": reasons,
    }


def run_server(kind: str, rates: list[int], seconds: float) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=server_main, args=(kind, child), daemon=True)
    proc.start()
    port = parent.recv()
    out: dict[int, dict[str, Any]] = {}
    try:
        asyncio.run(drive(port, rate=100, seconds=1.0, seed=99))  # warm-up: imports, caches, script loading
        for rate in rates:
            out[rate] = asyncio.run(drive(port, rate=rate, seconds=seconds, seed=rate))
    finally:
        parent.send("stop")
        info = parent.recv() if kind.startswith("ours") else {}
        proc.join(30)
    return out, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="per rate")
    ap.add_argument("--rates", default="100,500")
    ap.add_argument("--servers", default=",".join(SERVERS))
    args = ap.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    servers = [s for s in args.servers.split(",") if s]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    infos: dict[str, dict[str, Any]] = {}
    print(f"FastAGI route latency on loopback, open loop, {args.seconds:g} s per rate; CRM simulated by a dict of "
          f"{CRM_ENTRIES:,} numbers ({KNOWN_SHARE:.0%} of callers known), {AGENTS} agents, owner routing on")
    for kind in servers:
        results[kind], infos[kind] = run_server(kind, rates, args.seconds)
    print(f"{'server':18} {'rate/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    for kind, by_rate in results.items():
        for rate, r in by_rate.items():
            print(f"{kind:18} {rate:6d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.2f} {r['errors']:6d}")
    for kind, info in infos.items():
        if info:
            print(f"{kind}: fail-open answers {info['fail_open']}, reasons {info['reasons']}")
    figures: dict[str, Any] = {"bench": "route_latency", "crm": f"simulated dict of {CRM_ENTRIES} numbers",
                               "agents": AGENTS, "seconds_per_rate": args.seconds}
    base = results.get("panoramisk-bare")
    for kind, by_rate in results.items():
        for rate, r in by_rate.items():
            figures[f"{kind}_{rate}_p50_ms"] = r["p50_ms"]
            figures[f"{kind}_{rate}_p99_ms"] = r["p99_ms"]
            if base and kind != "panoramisk-bare" and rate in base:
                figures[f"{kind}_{rate}_p50_ratio_vs_bare"] = round(r["p50_ms"] / base[rate]["p50_ms"], 2)
                figures[f"{kind}_{rate}_p99_ratio_vs_bare"] = round(r["p99_ms"] / base[rate]["p99_ms"], 2)
    if base:
        print("ratios vs bare panoramisk (p50/p99): " + ", ".join(
            f"{k}@{rate}: {results[k][rate]['p50_ms'] / base[rate]['p50_ms']:.1f}x/"
            f"{results[k][rate]['p99_ms'] / base[rate]['p99_ms']:.1f}x"
            for k in results if k != "panoramisk-bare" for rate in rates))
    figures["fail_open"] = {k: v.get("fail_open") for k, v in infos.items() if v}
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
