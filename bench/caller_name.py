"""FastAGI route latency with the caller's name on the agent's display (issue 17) against the same route without it,
both measured in the same run.

Two FastAgiServer + RoutingService + DbCrmLookup stacks in one service process on one CRM database (SQLite file, or
PostgreSQL with --db postgresql), wired as callcenter/routing/runtime.py does:
  without  DbCrmLookup(names=False), no caller name (routing.caller_name.enabled = false)
  with     DbCrmLookup(names=True) (the name columns and the open-callback EXISTS in the same statement),
           CallerNameFormat() (the shipped defaults), the name as one more field of the answer's CC_PLAN
The CRM cache is off (TTL 0), so every request takes the database round trip: the case where the name's extra
columns cost most. Callers: 75% contacts of the CRM (named, with a company; every 10th has an open callback),
25% unknown numbers. Requests go one at a time, alternating with / without on the same caller, so drift on a shared
box hits both alike. The service runs in a process of its own (this one plays Asterisk, as bench/route_latency.py
does). Latency = connect, the agi_* block, a "200 result=1" per command, until the server closes.

The database (contacts with names and companies, one phone each) is seeded on first use and kept:
/tmp/cc_bench_caller_name_<contacts>.sqlite3 or PostgreSQL database cc_bench_caller_name_<contacts>.

Target: the median with the name within 5% of the median without. Prints a table, then ONE JSON line.
Usage: python bench/caller_name.py [--requests 2000] [--contacts 100000] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.ami.agi import FastAgiServer  # noqa: E402
from callcenter.ami.agi_plan import decode_plan  # noqa: E402
from callcenter.ami.channel_vars import ChannelVar, DialplanFunction  # noqa: E402
from callcenter.events import AgentState, CallDirection, CallEnded, CallOutcome  # noqa: E402
from callcenter.routing.adapters import DbCrmLookup  # noqa: E402
from callcenter.routing.caller_name import CallerNameFormat  # noqa: E402
from callcenter.routing.directory import AgentInfo, StaticDirectory  # noqa: E402
from callcenter.routing.rules import RoutingRules, TeamPolicy  # noqa: E402
from callcenter.routing.service import RoutingService  # noqa: E402
from callcenter.routing.state import MemoryRoutingStore  # noqa: E402
from crm_core.db import Database  # noqa: E402
from crm_core.migrate import upgrade_async  # noqa: E402
from crm_core.records import PhoneRules  # noqa: E402

TEAM = "support"
AGENTS = 30
TARGET_RATIO = 1.05
PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def e164_of(i: int) -> str:
    return f"+1{200 + i // 10_000}555{i % 10_000:04d}"


def unknown_number(k: int) -> str:
    return f"+1{200 + k % 700}556{k % 10_000:04d}"  # exchange 556: never seeded


def seed_rows(contacts: int) -> dict[str, list[tuple[Any, ...]]]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    companies = max(1, contacts // 10)
    return {
        "companies": [(c + 1, f"Company {c} GmbH & Co. KG", "{}", now, now) for c in range(companies)],
        "contacts": [(i + 1, f"Firstname{i}", f"Lastname{i}", (i % companies) + 1, "{}", now, now)
                     for i in range(contacts)],
        "phones": [(e164_of(i), "", e164_of(i), "work", i + 1) for i in range(contacts)],
        "tasks": [(f"cb {i}", "", "callback", "open", 0, e164_of(i), 0, 0, now, now) for i in range(0, contacts, 10)],
    }


COLUMNS = {
    "companies": ("id", "name", "custom", "created_at", "updated_at"),
    "contacts": ("id", "first_name", "last_name", "company_id", "custom", "created_at", "updated_at"),
    "phones": ("e164", "extension", "raw", "kind", "contact_id"),
    "tasks": ("title", "description", "kind", "status", "priority", "callback_e164", "missed_count", "attempt_count",
              "created_at", "updated_at"),
}


async def ensure_db(kind: str, contacts: int) -> str:
    name = f"cc_bench_caller_name_{contacts}"
    if kind == "sqlite":
        path = Path(f"/tmp/{name}.sqlite3")
        url = f"sqlite+aiosqlite:///{path}"
        if path.exists():
            return url
        await upgrade_async(url)
        conn = sqlite3.connect(path)
        with conn:
            for table, rows in seed_rows(contacts).items():
                cols = COLUMNS[table]
                conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                 [tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in r) for r in rows])
        conn.execute("ANALYZE")
        conn.close()
        return url
    import asyncpg

    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{PG_BASE}/{name}"
    if exists:
        return url
    await upgrade_async(url)
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        for table, rows in seed_rows(contacts).items():
            await conn.copy_records_to_table(table, records=rows, columns=list(COLUMNS[table]))
        await conn.execute("SELECT setval('companies_id_seq', (SELECT max(id) FROM companies))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return url


async def build(db: Database, *, names: bool) -> tuple[FastAgiServer, RoutingService]:
    directory = StaticDirectory(AgentInfo(agent=str(1000 + i), team=TEAM, user_id=10_000 + i, name=f"Agent {i}")
                                for i in range(1, AGENTS + 1))
    store = MemoryRoutingStore()
    now = time.time()
    for info in directory.team_agents(TEAM):
        await store.set_state(info.agent, AgentState.AVAILABLE, at_s=now - 3600)
    service = RoutingService(
        rules=RoutingRules(teams={TEAM: TeamPolicy(name=TEAM, queue=TEAM)}, default_team=TEAM),
        store=store,
        directory=directory,
        lookup=DbCrmLookup(db=db, phone_rules=PhoneRules(region="US"), names=names),
        crm_budget_ms=100,
        crm_cache_ttl_s=0.0,  # every request asks the database
        crm_negative_ttl_s=0.0,
        caller_name=CallerNameFormat() if names else None,
    )
    released: set[asyncio.Task[None]] = set()

    async def decide_and_end(request: Any) -> Any:
        decision = await service.decide(request)
        # the call ends at once (after the answer, in the background), so agents stay free and every request takes
        # the full path: CRM, snapshot, policy, reservation
        task = asyncio.create_task(store.apply(ended(request.linkedid or request.uniqueid)))
        released.add(task)
        task.add_done_callback(released.discard)
        return decision

    server = FastAgiServer(host="127.0.0.1", port=0, default_queue=TEAM, queue_timeout_s=120, time_budget_ms=300,
                           decide=decide_and_end)
    await server.start()
    return server, service


def request_bytes(i: int, caller: str) -> bytes:
    uid = f"1900000000.{i}"
    lines = [
        "agi_network: yes", "agi_network_script: inbound", "agi_request: agi://127.0.0.1:4573/inbound",
        f"agi_channel: PJSIP/trunk-{i:08x}", "agi_language: en", "agi_type: PJSIP", f"agi_uniqueid: {uid}",
        "agi_version: 20.20.1", f"agi_callerid: {caller}", "agi_calleridname: Customer", "agi_dnid: 8002",
        "agi_rdnis: unknown", "agi_context: cc-inbound", "agi_extension: 8002", "agi_priority: 8",
        "agi_arg_1: 1", "agi_arg_2: NONE", f"agi_arg_3: {uid}",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def one_request(port: int, payload: bytes) -> tuple[float, bool, str]:
    """(ms, a CALLERID(name) was set, reason)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    named, reason = False, ""
    while line := await reader.readline():
        if line.startswith(b"SET VARIABLE CC_PLAN"):  # the whole answer in one command (callcenter.ami.agi_plan)
            _, fields = decode_plan(line.split(b" ", 3)[3].strip().strip(b'"').decode())
            named, reason = bool(fields[DialplanFunction.CALLER_NAME]), fields[ChannelVar.REASON]
        writer.write(b"200 result=1\n")
    writer.close()
    return (time.perf_counter() - started) * 1000, named, reason


def ended(call_id: str) -> CallEnded:
    t = time.time()
    return CallEnded(
        call_id=call_id, started_s=t, ended_s=t, direction=CallDirection.INBOUND, outcome=CallOutcome.MISSED,
        caller=None, caller_name=None, did="8002", customer=None, answered_by=None, agents_rung=(), agents_talked=(),
        attempts=(), wait_s=0.0, talk_s=0.0, hangup_cause=16, hangup_cause_txt=None, hung_up_by=None, recordings=(),
        queue=None,
    )


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _serve(url: str, conn: Connection) -> None:
    """The service's process: both stacks, each on its own port; stops when the driver says so."""
    import logging

    logging.disable(logging.INFO)  # no per-request log lines in either stack
    db = Database.from_url(url)
    stacks = {"without": await build(db, names=False), "with": await build(db, names=True)}
    conn.send({label: server.port for label, (server, _) in stacks.items()})
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    conn.send({label: server.counters.fail_open for label, (server, _) in stacks.items()})
    for server, service in stacks.values():
        await server.stop()
        await service.aclose()
    await db.dispose()


def serve(url: str, conn: Connection) -> None:
    asyncio.run(_serve(url, conn))


async def drive(ports: dict[str, int], args: argparse.Namespace) -> tuple[dict[str, list[float]], int]:
    rng = random.Random(17)
    ms: dict[str, list[float]] = {"without": [], "with": []}
    names_set = 0
    for i in range(args.warmup + args.requests):
        caller = e164_of(rng.randrange(args.contacts)) if rng.random() < 0.75 else unknown_number(i)
        # alternate which one goes first so that neither always finds the database page cache warmed by the other
        for label in (("without", "with") if i % 2 else ("with", "without")):
            elapsed, got_name, _ = await one_request(ports[label], request_bytes(i, caller))
            if i >= args.warmup:
                ms[label].append(elapsed)
                names_set += got_name
    return ms, names_set


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = asyncio.run(ensure_db(args.db, args.contacts))
    # the service in a process of its own, as in production; this one plays Asterisk
    ours, theirs = mp.Pipe()
    child = mp.get_context("spawn").Process(target=serve, args=(url, theirs), daemon=True)
    child.start()
    try:
        ports = ours.recv()
        ms, names_set = asyncio.run(drive(ports, args))
        ours.send("stop")
        fail_open = sum(ours.recv().values())
    finally:
        child.join(30)
        if child.is_alive():
            child.terminate()
    p50 = {k: statistics.median(v) for k, v in ms.items()}
    ratio = p50["with"] / p50["without"]
    return {
        "bench": "caller_name",
        "db": args.db,
        "contacts": args.contacts,
        "requests_each": args.requests,
        "without_p50_ms": round(p50["without"], 3),
        "with_p50_ms": round(p50["with"], 3),
        "without_p90_ms": round(pct(ms["without"], 0.9), 3),
        "with_p90_ms": round(pct(ms["with"], 0.9), 3),
        "ratio_p50": round(ratio, 4),
        "names_set": names_set,
        "fail_open": fail_open,
        "target": f"with <= {TARGET_RATIO} x without (p50)",
        "target_met": ratio <= TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    result = run(args)
    print(f"{'':10} {'p50 ms':>8} {'p90 ms':>8}")
    for label in ("without", "with"):
        print(f"{label:10} {result[f'{label}_p50_ms']:8.3f} {result[f'{label}_p90_ms']:8.3f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
