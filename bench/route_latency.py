"""FastAGI route latency on loopback with 1,000,000 contacts in the CRM database: our routing against a bare
panoramisk handler.

Each server runs in its own process; this process plays Asterisk, open loop: request i starts at t0 + i/rate
whether or not earlier ones finished, and its latency runs from that scheduled start until the server closes the
connection (a server that falls behind pays for it: no coordinated omission). One request = connect, the agi_*
block the shipped dialplan sends, a "200 result=1" reply to every command, close.

servers:
  panoramisk-bare     panoramisk.fast_agi.Application, a route that does nothing (the baseline asked for)
  panoramisk-8set     the same, sending 8 SET VARIABLE commands, as our answer did before CC_PLAN (protocol cost, for
                      reference; ours now sends one)
  ours-<store>-<db>   FastAgiServer (callcenter/ami/agi.py) + RoutingService + DbCrmLookup (callcenter/routing/
                      adapters.py) on the CRM database behind CachedLookup, exactly as callcenter/routing/runtime.py
                      wires them (60 s / 10 s cache TTLs, 100 ms CRM budget); agents from the users table
                      (load_agents); store memory (MemoryRoutingStore) or redis (RedisRoutingStore, 127.0.0.1:6379);
                      db sqlite (a file) or postgresql (127.0.0.1:5432)

The CRM database: 1,000,000 contacts with one phone each (seeded by bench/phone_lookup.py's bulk loaders), 30
agents in team "support", 80% of the contacts owned by one of them, 50,000 open deals (their owner wins), 200,000
answered call activities (the "last agent" facts). It is kept between runs (SQLite file and PostgreSQL database
below, reused when its marker says it holds this dataset) because seeding takes minutes; --reseed rebuilds it.

Callers: 25% from 2,000 "hot" customers (they call again: the cache can help), 50% drawn uniformly from the
1,000,000 contacts, 25% unknown numbers, so nearly every request reaches the database; the CRM cache hit rate is
reported. Each call's reservation is released right after the answer (a CallEnded applied in the background), so
agents stay available and every request takes the full path: CRM, state snapshot, policy, reservation. Owner
routing is on. Logging is off in the servers (no per-request log lines), as for the baseline; overload shows in
the counters. The server process's own CPU time per request is reported: on a shared box it tells capacity apart
from contention.

Prints a table, then ONE JSON line. Usage:
  python bench/route_latency.py [--seconds 6] [--rates 25,100,500] [--dbs sqlite,postgresql] [--stores memory,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import multiprocessing as mp
import os
import random
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for entry in (str(REPO), str(REPO / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import phone_lookup  # noqa: E402  (bench/phone_lookup.py: the 1M contacts + phones bulk loaders)

CONTACTS = 1_000_000
AGENTS = 30
TEAM = "support"
DEALS = 50_000
ACTIVITIES = 200_000
HOT_CALLERS = 2_000
MIX = (("hot", 0.25), ("known", 0.50), ("unknown", 0.25))
SEED_MARK = "route_latency v1"
REDIS_URL = "redis://127.0.0.1:6379/0"
SQLITE_PATH = Path(os.environ.get("CC_BENCH_SQLITE", f"/tmp/cc_bench_route_{CONTACTS}.sqlite3"))
PG_NAME = f"cc_bench_route_{CONTACTS}"
NOW = datetime(2026, 1, 15, tzinfo=UTC)


def unknown_number(k: int) -> str:
    """A valid NANP number on exchange 556: the seeded contacts are all on 555."""
    return f"+1{200 + (k // 10_000) % 800}556{k % 10_000:04d}"


# -- the CRM dataset ----------------------------------------------------------------------------------------------


def owner_of(contact_id: int) -> int | None:
    return None if contact_id % 5 == 0 else 1 + (contact_id * 7919) % AGENTS


def extra_rows(contacts: int) -> dict[str, list[tuple[Any, ...]]]:
    """Team, agents, pipeline, open deals and call activities, as plain rows (the same for both databases)."""
    rng = random.Random(5)
    users = [(i, f"Agent {i}", f"agent{i}@bench.example", str(1000 + i), 1, "agent", True, NOW)
             for i in range(1, AGENTS + 1)]
    deals = []
    for d in range(1, min(DEALS, contacts) + 1):
        contact = rng.randrange(1, contacts + 1)
        updated = NOW - timedelta(days=rng.randrange(90))
        deals.append((d, f"deal {d}", 1, 1, "open", "USD", contact, 1 + rng.randrange(AGENTS), "{}", updated, updated))
    activities = []
    for a in range(1, ACTIVITIES + 1):
        contact = rng.randrange(1, contacts + 1)
        customer = phone_lookup.e164_of(contact - 1)
        inbound = rng.random() < 0.7
        started = NOW - timedelta(seconds=rng.randrange(60 * 86_400))
        activities.append((
            a, "call", "inbound" if inbound else "outbound", "", "", started, "answered", contact,
            1 + rng.randrange(AGENTS), f"bench-{a}", customer if inbound else "+18005550100",
            "+18005550100" if inbound else customer, "{}", started,
        ))
    return {"users": users, "deals": deals, "activities": activities}


USER_COLS = ("id", "name", "email", "extension", "team_id", "role", "active", "created_at")
DEAL_COLS = ("id", "title", "pipeline_id", "stage_id", "status", "currency", "contact_id", "responsible_id", "custom",
             "created_at", "updated_at")
ACTIVITY_COLS = ("id", "kind", "direction", "subject", "body", "started_at", "result", "contact_id", "user_id",
                 "call_id", "from_e164", "to_e164", "call_meta", "created_at")


def _sqlite_ts(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v for v in row)


def sqlite_seeded(path: Path, contacts: int) -> bool:
    return phone_lookup.sqlite_seed_row(path, "mark, contacts") == (SEED_MARK, contacts)


def seed_sqlite(path: Path, contacts: int) -> None:
    from crm_core.migrate import upgrade

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{path}")
    phone_lookup.load_sqlite(path, contacts)
    rows = extra_rows(contacts)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    now = NOW.replace(tzinfo=None).isoformat(" ")
    with conn:
        conn.execute("INSERT INTO teams (id, name, timezone, created_at) VALUES (1, ?, 'UTC', ?)", (TEAM, now))
        conn.executemany(f"INSERT INTO users ({', '.join(USER_COLS)}) VALUES ({', '.join('?' * len(USER_COLS))})",
                         (_sqlite_ts(r) for r in rows["users"]))
        conn.executemany("UPDATE contacts SET responsible_id = ? WHERE id = ?",
                         ((owner_of(i), i) for i in range(1, contacts + 1) if owner_of(i) is not None))
        conn.execute("INSERT INTO pipelines (id, name, is_default, created_at) VALUES (1, 'Sales', 1, ?)", (now,))
        conn.execute("INSERT INTO pipeline_stages (id, pipeline_id, name, position, kind) "
                     "VALUES (1, 1, 'New', 0, 'open')")
        conn.executemany(f"INSERT INTO deals ({', '.join(DEAL_COLS)}) VALUES ({', '.join('?' * len(DEAL_COLS))})",
                         (_sqlite_ts(r) for r in rows["deals"]))
        conn.executemany(
            f"INSERT INTO activities ({', '.join(ACTIVITY_COLS)}) VALUES ({', '.join('?' * len(ACTIVITY_COLS))})",
            (_sqlite_ts(r) for r in rows["activities"]))
        conn.execute("CREATE TABLE bench_seed (mark TEXT, contacts INTEGER)")
        conn.execute("INSERT INTO bench_seed VALUES (?, ?)", (SEED_MARK, contacts))
    conn.execute("ANALYZE")
    conn.close()


async def pg_seeded(url: str, contacts: int) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        row = await conn.fetchrow("SELECT mark, contacts FROM bench_seed")
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    return row is not None and (row["mark"], row["contacts"]) == (SEED_MARK, contacts)


async def seed_pg(name: str, url: str, contacts: int) -> None:
    import asyncpg

    from crm_core.migrate import upgrade

    admin = await asyncpg.connect(phone_lookup.PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, url)
    await phone_lookup.load_pg(url, contacts)
    rows = extra_rows(contacts)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO teams (id, name, timezone, created_at) VALUES (1, $1, 'UTC', $2)", TEAM, NOW)
        await conn.copy_records_to_table("users", records=rows["users"], columns=USER_COLS)
        # one set-based UPDATE: the same owners as owner_of()
        await conn.execute(
            f"UPDATE contacts SET responsible_id = 1 + (id * 7919) % {AGENTS} WHERE id % 5 <> 0")
        await conn.execute("INSERT INTO pipelines (id, name, is_default, created_at) "
                           "VALUES (1, 'Sales', true, $1)", NOW)
        await conn.execute("INSERT INTO pipeline_stages (id, pipeline_id, name, position, kind) "
                           "VALUES (1, 1, 'New', 0, 'open')")
        await conn.copy_records_to_table("deals", records=rows["deals"], columns=DEAL_COLS)
        await conn.copy_records_to_table("activities", records=rows["activities"], columns=ACTIVITY_COLS)
        for table in ("users", "deals", "activities"):  # explicit ids were given: move the sequences past them
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("CREATE TABLE bench_seed (mark TEXT, contacts INTEGER)")
        await conn.execute("INSERT INTO bench_seed VALUES ($1, $2)", SEED_MARK, contacts)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    return phone_lookup.PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def ensure_databases(dbs: list[str], contacts: int, *, reseed: bool) -> dict[str, str]:
    urls: dict[str, str] = {}
    if "sqlite" in dbs:
        path = SQLITE_PATH if contacts == CONTACTS else SQLITE_PATH.with_name(f"cc_bench_route_{contacts}.sqlite3")
        if reseed or not sqlite_seeded(path, contacts):
            t0 = time.perf_counter()
            await asyncio.to_thread(seed_sqlite, path, contacts)
            print(f"sqlite: seeded {contacts:,} contacts into {path} in {time.perf_counter() - t0:.0f} s")
        else:
            print(f"sqlite: reusing {path} ({contacts:,} contacts)")
        urls["sqlite"] = f"sqlite:///{path}"
    if "postgresql" in dbs:
        name = PG_NAME if contacts == CONTACTS else f"cc_bench_route_{contacts}"
        url = pg_url(name)
        if reseed or not await pg_seeded(url, contacts):
            t0 = time.perf_counter()
            await seed_pg(name, url, contacts)
            print(f"postgresql: seeded {contacts:,} contacts into database {name} in {time.perf_counter() - t0:.0f} s")
        else:
            print(f"postgresql: reusing database {name} ({contacts:,} contacts)")
        urls["postgresql"] = url
    return urls


# -- servers (child processes) ------------------------------------------------------------------------------------


async def _control(conn: Connection, stats: Any) -> None:
    """Answer the driver's "stats" requests until it says "stop"."""
    loop = asyncio.get_running_loop()
    while True:
        msg = await loop.run_in_executor(None, conn.recv)
        if msg == "stop":
            return
        conn.send(stats())


async def _serve_panoramisk(kind: str, conn: Connection, db_url: str | None) -> None:
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
    await _control(conn, lambda: {"cpu_s": time.process_time()})
    server.close()
    await server.wait_closed()


async def _serve_ours(kind: str, conn: Connection, db_url: str | None) -> None:
    import redis.asyncio as aioredis

    from callcenter.ami.agi import AgiRequest, FastAgiServer, RouteDecision
    from callcenter.events import AgentState, CallDirection, CallEnded, CallOutcome
    from callcenter.routing.adapters import DbCrmLookup, load_agents
    from callcenter.routing.crm import CachedLookup, CrmMatch
    from callcenter.routing.directory import AgentInfo, StaticDirectory
    from callcenter.routing.rules import RoutingRules, TeamPolicy
    from callcenter.routing.service import RoutingService
    from callcenter.routing.state import MemoryRoutingStore, RoutingStore
    from callcenter.routing.state_redis import RedisRoutingStore
    from crm_core.db import Database
    from crm_core.phones import try_normalize
    from crm_core.records import PhoneRules

    db = Database.from_url(db_url) if db_url else None
    phone_rules = PhoneRules(region="US")
    db_lookup = DbCrmLookup(db=db, phone_rules=phone_rules) if db else None
    db_ms: list[float] = []
    found = [0, 0]  # (matched, not in the CRM)
    inflight = [0]

    async def timed_lookup(number: str) -> CrmMatch | None:
        inflight[0] += 1
        t0 = time.perf_counter()
        try:
            assert db_lookup is not None
            match = await db_lookup(number)
        finally:
            inflight[0] -= 1
        db_ms.append((time.perf_counter() - t0) * 1000)
        found[match is None] += 1
        return match

    def normalize(number: str) -> str:  # as callcenter/routing/runtime.py
        parsed = try_normalize(number, region=phone_rules.region)
        return parsed.e164 if parsed else "".join(number.split())

    cache = CachedLookup(lookup=timed_lookup, ttl_s=60.0, negative_ttl_s=10.0, normalize=normalize)
    if db is not None:
        directory = StaticDirectory(await load_agents(db))
    else:  # "-nocrm": the same agents, no CRM lookup at all (routing + FastAGI alone)
        directory = StaticDirectory(AgentInfo(agent=str(1000 + i), team=TEAM, user_id=i, name=f"Agent {i}")
                                    for i in range(1, AGENTS + 1))
    client = None
    store: RoutingStore
    prefix = f"bench:{{routing}}:{uuid.uuid4().hex}:"
    in_decision: contextvars.ContextVar[bool] = contextvars.ContextVar("in_decision", default=False)
    decision_cmds = [0]  # Redis commands (round trips: no pipelines on this path) sent while deciding

    class CountingRedis(aioredis.Redis):  # type: ignore[misc]
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            if in_decision.get():
                decision_cmds[0] += 1
            return await super().execute_command(*args, **options)

    if kind.startswith("ours-redis"):
        # A bounded pool that waits for a free connection: the default pool raises MaxConnectionsError past 100
        # concurrent commands, which a burst of route requests reaches.
        client = CountingRedis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            REDIS_URL, max_connections=32, timeout=1.0))
        store = RedisRoutingStore(redis=client, prefix=prefix)
    else:
        store = MemoryRoutingStore()
    now = time.time()
    agents = directory.team_agents(TEAM)
    assert len(agents) == AGENTS, f"expected {AGENTS} agents in team {TEAM}, the database has {len(agents)}"
    for info in agents:
        await store.set_state(info.agent, AgentState.AVAILABLE, at_s=now - 3600)
    rules = RoutingRules(teams={TEAM: TeamPolicy(name=TEAM, queue=TEAM)}, default_team=TEAM)
    service = RoutingService(rules=rules, store=store, directory=directory, lookup=cache if db else None)
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
        token = in_decision.set(True)
        try:
            decision = await service.decide(request)
        finally:
            in_decision.reset(token)  # the release below is an event, not the decision: not counted
        task = asyncio.create_task(release(request.linkedid or request.uniqueid))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return decision

    server = FastAgiServer(host="127.0.0.1", port=0, default_queue=TEAM, queue_timeout_s=300, decide=decide)
    await server.start()
    conn.send(server.port)

    def stats() -> dict[str, Any]:
        c = server.counters
        recent = service.decisions.recent(1_000_000)
        return {
            "cpu_s": time.process_time(),
            "requests": c.requests, "fail_open": c.fail_open, "decider_timeouts": c.decider_timeouts,
            "cache_hits": cache.hits, "cache_misses": cache.misses, "crm_errors": cache.errors,
            "db_lookups": len(db_ms), "db_ms": list(db_ms), "db_found": found[0], "db_not_found": found[1],
            "crm_over_budget": sum(1 for d in recent if "CRM lookup took over" in d.explanation),
            "reasons": dict(service.reason_counts),
            "busy": inflight[0] + len(pending),  # lookups still running after their answer, releases not applied
            "redis_decision_cmds": decision_cmds[0],
            **{f"speculation_{k}": v for k, v in getattr(service, "speculation", {}).items()},
        }

    await _control(conn, stats)
    await server.stop()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    if client is not None:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    if db is not None:
        await db.dispose()


def server_main(kind: str, conn: Connection, db_url: str | None) -> None:
    import logging

    # Overload shows in the counters (fail-open answers, state-error reasons), not as thousands of tracebacks.
    logging.basicConfig(level=logging.CRITICAL)
    runner = _serve_panoramisk if kind.startswith("panoramisk") else _serve_ours
    asyncio.run(runner(kind, conn, db_url))


# -- Asterisk's side (this process) -------------------------------------------------------------------------------


def caller_for(rng: random.Random, contacts: int) -> tuple[str, str]:
    """(kind, number) by MIX: a hot repeat customer, any contact, or a number the CRM does not know."""
    x = rng.random()
    if x < MIX[0][1]:
        return "hot", phone_lookup.e164_of((rng.randrange(HOT_CALLERS) * 499) % contacts)
    if x < MIX[0][1] + MIX[1][1]:
        return "known", phone_lookup.e164_of(rng.randrange(contacts))
    return "unknown", unknown_number(rng.randrange(8_000_000))


def request_bytes(i: int, caller: str) -> bytes:
    uid = f"1900000000.{i}"
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
            if line.startswith(b"SET VARIABLE CC_PLAN"):  # the whole answer in one command (callcenter.ami.agi_plan)
                from callcenter.ami.agi_plan import decode_plan
                from callcenter.ami.channel_vars import ChannelVar

                _, fields = decode_plan(line.split(b" ", 3)[3].strip().strip(b'"').decode())
                reason = fields[ChannelVar.REASON]
            writer.write(b"200 result=1\n")
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return commands, reason


async def drive(port: int, *, rate: int, seconds: float, seed: int, contacts: int) -> dict[str, Any]:
    rng = random.Random(seed)
    n = int(rate * seconds)
    payloads = [request_bytes(seed * 1_000_000 + i, caller_for(rng, contacts)[1]) for i in range(n)]
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


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_server(kind: str, db_url: str | None, rates: list[int], seconds: float,
               contacts: int) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Latency per rate, and the server's own counters per rate (deltas over that rate's run)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=server_main, args=(kind, child, db_url), daemon=True)
    proc.start()
    port = parent.recv()
    out: dict[int, dict[str, Any]] = {}
    info: dict[int, dict[str, Any]] = {}

    def stats() -> dict[str, Any]:
        parent.send("stats")
        return parent.recv()  # type: ignore[no-any-return]

    def settled() -> dict[str, Any]:
        """The server's counters once the work of the requests so far is done (a lookup that overran the CRM
        budget goes on after the answer): each rate is charged for its own work only."""
        deadline = time.monotonic() + 60
        while (s := stats()).get("busy") and time.monotonic() < deadline:
            time.sleep(0.2)
        return s

    try:
        asyncio.run(drive(port, rate=100, seconds=1.0, seed=99, contacts=contacts))  # warm-up: imports, pools, scripts
        for rate in rates:
            before, load_before = settled(), os.getloadavg()[0]
            out[rate] = asyncio.run(drive(port, rate=rate, seconds=seconds, seed=rate, contacts=contacts))
            after = settled()
            delta = {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int | float)}
            # the server's CPU per request (the work is done once it has answered, give or take a queue)
            delta["cpu_ms_per_request"] = delta.pop("cpu_s") * 1000 / out[rate]["requests"]
            delta["loadavg_1m"] = max(load_before, os.getloadavg()[0])
            if "db_ms" in after:
                delta["db_ms"] = after["db_ms"][len(before["db_ms"]):]
                delta["reasons"] = {r: after["reasons"][r] - before["reasons"].get(r, 0) for r in after["reasons"]
                                    if after["reasons"][r] != before["reasons"].get(r, 0)}
            info[rate] = delta
    finally:
        parent.send("stop")
        proc.join(30)
    return out, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6.0, help="per rate")
    ap.add_argument("--rates", default="25,100,500", help="25/s: the unloaded reference")
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument("--stores", default="memory,redis")
    ap.add_argument("--contacts", type=int, default=CONTACTS)
    ap.add_argument("--baselines", default="panoramisk-bare,panoramisk-8set")
    ap.add_argument("--reseed", action="store_true", help="rebuild the CRM databases even if they look seeded")
    ap.add_argument("--no-nocrm", action="store_true", help="skip the ours-<store>-nocrm runs (routing without CRM)")
    args = ap.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    dbs = [d for d in args.dbs.split(",") if d]
    stores = [s for s in args.stores.split(",") if s]
    urls = asyncio.run(ensure_databases(dbs, args.contacts, reseed=args.reseed))
    servers: list[tuple[str, str | None]] = [(b, None) for b in args.baselines.split(",") if b]
    if not args.no_nocrm:
        servers += [(f"ours-{store}-nocrm", None) for store in stores]
    servers += [(f"ours-{store}-{db}", urls[db]) for db in dbs for store in stores]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    infos: dict[str, dict[int, dict[str, Any]]] = {}
    print(f"FastAGI route latency on loopback, open loop, {args.seconds:g} s per rate; CRM database with "
          f"{args.contacts:,} contacts; callers {', '.join(f'{share:.0%} {k}' for k, share in MIX)}; {AGENTS} agents, "
          "owner routing on")
    for kind, url in servers:
        results[kind], infos[kind] = run_server(kind, url, rates, args.seconds, args.contacts)
    print(f"{'server':26} {'rate/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p50 x':>6} {'p99 x':>6} "
          f"{'err':>4} {'cpu ms':>6} {'load':>4} {'cache hit':>9} {'db p50':>7} {'db p99':>7} {'>budget':>7} "
          f"{'fail-open':>9}")
    base = results.get("panoramisk-bare")
    figures: dict[str, Any] = {"bench": "route_latency", "contacts": args.contacts, "agents": AGENTS,
                               "seconds_per_rate": args.seconds, "caller_mix": dict(MIX), "servers": {}}
    for kind, by_rate in results.items():
        for rate, r in by_rate.items():
            row: dict[str, Any] = {"requests": r["requests"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                                   "max_ms": r["max_ms"], "errors": r["errors"]}
            cells = ""
            if base and kind != "panoramisk-bare" and rate in base:
                row["p50_ratio_vs_bare"] = round(r["p50_ms"] / base[rate]["p50_ms"], 2)
                row["p99_ratio_vs_bare"] = round(r["p99_ms"] / base[rate]["p99_ms"], 2)
                cells = f"{row['p50_ratio_vs_bare']:6.1f} {row['p99_ratio_vs_bare']:6.1f}"
            else:
                cells = f"{'':6} {'':6}"
            info = infos[kind][rate]
            row["server_cpu_ms_per_request"] = round(info["cpu_ms_per_request"], 2)
            row["loadavg_1m"] = round(info["loadavg_1m"], 2)
            if kind.startswith("ours-redis"):
                row["redis_round_trips_per_decision"] = round(info.get("redis_decision_cmds", 0) / r["requests"], 3)
                row["speculation"] = {k.removeprefix("speculation_"): v for k, v in info.items()
                                      if k.startswith("speculation_")}
            cells += f" {r['errors']:4d} {row['server_cpu_ms_per_request']:6.2f} {row['loadavg_1m']:4.1f}"
            extra = ""
            if "db_ms" in info:
                looked = info["cache_hits"] + info["cache_misses"]
                row["cache_hit_rate"] = round(info["cache_hits"] / looked, 4) if looked else None
                row["db_lookups"] = info["db_lookups"]
                if info["db_lookups"]:
                    row["db_found_share"] = round(info["db_found"] / info["db_lookups"], 4)
                    row["db_p50_ms"] = round(pct(info["db_ms"], 0.5), 3)
                    row["db_p99_ms"] = round(pct(info["db_ms"], 0.99), 3)
                row["crm_over_budget"] = info["crm_over_budget"]
                row["fail_open"] = info["fail_open"]
                row["decider_timeouts"] = info["decider_timeouts"]
                row["reasons"] = info["reasons"]
                hit = f"{row['cache_hit_rate']:9.1%}" if looked else f"{'-':>9}"
                db = (f"{row['db_p50_ms']:7.2f} {row['db_p99_ms']:7.2f}" if info["db_lookups"]
                      else f"{'-':>7} {'-':>7}")
                extra = f" {hit} {db} {row['crm_over_budget']:7d} {row['fail_open']:9d}"
            if "redis_round_trips_per_decision" in row:
                extra += f"  redis trips/decision {row['redis_round_trips_per_decision']:.2f}"
            print(f"{kind:26} {rate:6d} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['max_ms']:7.2f} {cells}{extra}")
            figures["servers"].setdefault(kind, {})[str(rate)] = row
    lowest = min(rates)
    capacity = {k: round(1000 / infos[k][lowest]["cpu_ms_per_request"]) for k in infos
                if k.startswith("ours") and infos[k][lowest]["cpu_ms_per_request"] > 0}
    figures["one_core_capacity_rps_at_lowest_rate"] = capacity
    print(f"one server process, one core: ~1000 / (cpu ms per request at {lowest}/s) = "
          + ", ".join(f"{k} {v}/s" for k, v in capacity.items()))
    for kind, by_rate in infos.items():
        for rate, info in by_rate.items():
            if "reasons" in info:
                print(f"{kind} @{rate}/s decision reasons: {info['reasons']}")
    print("p50 x / p99 x: ratio to panoramisk-bare at the same rate; cpu ms: the server process's CPU time per request; "
          "load: 1-min load average of this 2-core box (shared); db: DbCrmLookup time per cache miss; >budget: routed "
          "without CRM facts because the lookup exceeded the 100 ms CRM budget; fail-open: the FastAGI 300 ms budget "
          "ran out, answered with the default queue")
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
