"""The reports benchmark's data set: 1,000,000 contacts and 5,000,000 call activities, on SQLite and PostgreSQL.

A floor of 300 agents in three teams (three time zones) over 100 days: ~50,000 calls a day, the peak floor of issue 16.
Deals walk a six-stage pipeline with their stage history. Everything is drawn from one seeded generator, so both
databases hold the same rows; seeding takes minutes, so the databases are kept between runs, marked with what they
hold (`bench_seed`), and rebuilt with --reseed.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phone_lookup

SEED_MARK = "reports v1"
TEAMS = ((1, "support", "Europe/London"), (2, "sales", "America/New_York"), (3, "billing", "Asia/Tokyo"))
AGENTS_PER_TEAM = 100
DAYS = 100
END = datetime(2026, 11, 30, tzinfo=UTC)  # the data ends here; "a month" is November 2026
STAGES = ((1, "New", "open"), (2, "Qualified", "open"), (3, "Proposal", "open"), (4, "Negotiation", "open"),
          (5, "Won", "won"), (6, "Lost", "lost"))
OUTCOMES = (("answered", 0.85), ("missed", 0.05), ("abandoned", 0.08), ("busy", 0.02))
DIDS = {1: "+442071230000", 2: "+12125550000", 3: "+81312340000"}

ACTIVITY_COLS = ("id", "kind", "direction", "subject", "body", "started_at", "ended_at", "result", "contact_id",
                 "user_id", "team_id", "call_id", "from_e164", "from_raw", "to_e164", "did", "wait_s", "talk_s",
                 "call_meta", "created_at", "routed_team", "agent_ext", "wrapup_s", "transferred", "end_estimated")
# After the rows are in: each inbound call's next call from the same number (what migration 0013 backfills, and the
# models keep on every write), set-based.
NEXT_CALL = ("UPDATE activities SET next_call_at = (SELECT min(b.started_at) FROM activities b WHERE b.kind = 'call'"
             " AND b.direction = 'inbound' AND b.from_e164 = activities.from_e164 AND b.started_at > activities.started_at)"
             " WHERE kind = 'call' AND direction = 'inbound' AND from_e164 IS NOT NULL")
# stage_entered_at and left_at: what migration 0015 backfills and the models keep on every write (crm_core.stage_stays).
DEAL_COLS = ("id", "title", "pipeline_id", "stage_id", "status", "amount", "currency", "contact_id", "responsible_id",
             "custom", "closed_at", "created_at", "updated_at", "stage_entered_at")
HISTORY_COLS = ("id", "deal_id", "from_stage_id", "to_stage_id", "changed_at", "changed_by_id", "left_at")


@dataclass(frozen=True, slots=True)
class Scale:
    contacts: int = 1_000_000
    calls: int = 5_000_000
    deals: int = 200_000

    @property
    def mark(self) -> str:
        return f"{SEED_MARK} {self.contacts}/{self.calls}/{self.deals}"


def agents() -> list[tuple[int, int]]:
    """(user id, team id) of every agent; user ids 1..300, team by block of 100."""
    return [(team * AGENTS_PER_TEAM + i + 1 - AGENTS_PER_TEAM, team) for team, _, _ in TEAMS for i in range(AGENTS_PER_TEAM)]


def owner_of(contact_id: int) -> int | None:
    """The contact's responsible agent (one in five has none), the same rule on both databases."""
    return None if contact_id % 5 == 0 else 1 + (contact_id * 7919) % (AGENTS_PER_TEAM * len(TEAMS))


def calls(scale: Scale) -> Iterator[tuple[Any, ...]]:
    """Inbound (80%) and outbound call activities, oldest first, spread over DAYS with a daytime peak."""
    rng = random.Random(14)
    span_s = DAYS * 86_400
    start = END - timedelta(days=DAYS)
    step_s = span_s / scale.calls
    for a in range(1, scale.calls + 1):
        at = start + timedelta(seconds=(a - 1) * step_s + rng.random() * step_s)
        team = 1 + a % len(TEAMS)
        contact = rng.randrange(1, scale.contacts + 1)
        number = phone_lookup.e164_of(contact - 1)
        inbound = rng.random() < 0.8
        roll, outcome = rng.random(), "answered"
        for name, share in OUTCOMES:
            if roll < share:
                outcome = name
                break
            roll -= share
        if not inbound:
            outcome = "answered" if outcome == "answered" else "missed"
        answered = outcome == "answered"
        wait_s = round(rng.expovariate(1 / 18.0), 1)
        talk_s = round(rng.lognormvariate(4.9, 0.7), 1) if answered else 0.0
        agent = (team - 1) * AGENTS_PER_TEAM + 1 + rng.randrange(AGENTS_PER_TEAM) if answered else None
        meta = {"routing": [{"team": TEAMS[team - 1][1], "reason": "least-loaded"}]}
        if answered:
            meta["wrapup_s"] = round(rng.uniform(5, 60), 1)
        ended = at + timedelta(seconds=wait_s + talk_s)
        yield (a, "call", "inbound" if inbound else "outbound", "", "", at, ended, outcome, contact, agent, team,
               f"bench-{a}", number if inbound else DIDS[team], number if inbound else DIDS[team],
               DIDS[team] if inbound else number, DIDS[team] if inbound else None, wait_s, talk_s, json.dumps(meta), at,
               # the report columns, as crm_core.call_facts.derived_columns makes them from this call_meta
               TEAMS[team - 1][1], meta.get("answered_by"), meta.get("wrapup_s"), False, False)


def deals(scale: Scale) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """Each deal with its stage history: it climbs stage by stage, some skip one, and ends open, won or lost. A deal
    row ends with when it entered its stage, a change row with when the deal left its stage (None: still there)."""
    rng = random.Random(15)
    history_id = 0
    for d in range(1, scale.deals + 1):
        created = END - timedelta(days=DAYS) + timedelta(seconds=rng.randrange(DAYS * 86_400))
        owner = 1 + rng.randrange(AGENTS_PER_TEAM * len(TEAMS))
        at, stage, rows = created, 1, []
        history_id += 1
        rows.append((history_id, d, None, 1, created, owner))
        while stage < 4 and rng.random() < 0.6:
            nxt = stage + (2 if rng.random() < 0.1 and stage < 3 else 1)
            at += timedelta(hours=rng.expovariate(1 / 72))
            history_id += 1
            rows.append((history_id, d, stage, nxt, at, owner))
            stage = nxt
        status, closed = "open", None
        if stage == 4 or rng.random() < 0.2:
            final = 5 if rng.random() < 0.45 else 6
            at += timedelta(hours=rng.expovariate(1 / 48))
            history_id += 1
            rows.append((history_id, d, stage, final, at, owner))
            stage, status, closed = final, ("won" if final == 5 else "lost"), at
        amount = round(rng.lognormvariate(7, 1), 2)
        # Each change left its stage when the next one came; the last one is still open.
        stays = [(*row, nxt[4]) for row, nxt in zip(rows, rows[1:], strict=False)] + [(*rows[-1], None)]
        yield ((d, f"deal {d}", 1, stage, status, amount, "USD", rng.randrange(1, scale.contacts + 1), owner, "{}",
                closed, created, max(at, created), at), stays)


# -- SQLite ---------------------------------------------------------------------------------------------------------


def _sqlite_value(v: Any) -> Any:
    # SQLAlchemy's SQLite storage format for UTCDateTime: naive UTC with microseconds, so ranges compare as text.
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v


def _rows(rows: Any) -> Iterator[tuple[Any, ...]]:
    return (tuple(_sqlite_value(v) for v in row) for row in rows)


def _insert(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def sqlite_mark(path: Path) -> str | None:
    row = phone_lookup.sqlite_seed_row(path, "mark")
    return row[0] if row else None


def seed_sqlite(path: Path, scale: Scale) -> None:
    from crm_core.migrate import upgrade

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{path}")
    phone_lookup.load_sqlite(path, scale.contacts)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA journal_mode=WAL")
    now = _sqlite_value(END)
    with conn:
        conn.executemany("INSERT INTO teams (id, name, timezone, created_at) VALUES (?, ?, ?, ?)",
                         ((i, name, zone, now) for i, name, zone in TEAMS))
        conn.executemany(
            "INSERT INTO users (id, name, email, extension, team_id, role, active, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'agent', 1, ?)",
            ((u, f"Agent {u}", f"agent{u}@bench.example", str(1000 + u), t, now) for u, t in agents()))
        conn.executemany("UPDATE contacts SET responsible_id = ? WHERE id = ?",
                         ((owner_of(i), i) for i in range(1, scale.contacts + 1) if owner_of(i) is not None))
        conn.execute("INSERT INTO pipelines (id, name, is_default, created_at) VALUES (1, 'Sales', 1, ?)", (now,))
        conn.executemany("INSERT INTO pipeline_stages (id, pipeline_id, name, position, kind) VALUES (?, 1, ?, ?, ?)",
                         ((i, name, i, kind) for i, name, kind in STAGES))
        history: list[tuple[Any, ...]] = []
        deal_rows: list[tuple[Any, ...]] = []
        for deal, stages in deals(scale):
            deal_rows.append(deal)
            history.extend(stages)
        conn.executemany(_insert("deals", DEAL_COLS), _rows(deal_rows))
        conn.executemany(_insert("deal_stage_history", HISTORY_COLS), _rows(history))
        conn.executemany(_insert("activities", ACTIVITY_COLS), _rows(calls(scale)))
        conn.execute(NEXT_CALL)
        conn.execute("CREATE TABLE bench_seed (mark TEXT)")
        conn.execute("INSERT INTO bench_seed VALUES (?)", (scale.mark,))
    conn.execute("ANALYZE")
    conn.close()


# -- PostgreSQL -----------------------------------------------------------------------------------------------------


def pg_url(name: str) -> str:
    return phone_lookup.PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def pg_mark(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        return await conn.fetchval("SELECT mark FROM bench_seed")
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 100_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def seed_pg(name: str, scale: Scale) -> None:
    import asyncpg

    from crm_core.migrate import upgrade

    admin = await asyncpg.connect(phone_lookup.PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = pg_url(name)
    await asyncio.to_thread(upgrade, url)
    await phone_lookup.load_pg(url, scale.contacts)
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany("INSERT INTO teams (id, name, timezone, created_at) VALUES ($1, $2, $3, $4)",
                               [(i, n, z, END) for i, n, z in TEAMS])
        await conn.copy_records_to_table(
            "users", columns=("id", "name", "email", "extension", "team_id", "role", "active", "created_at"),
            records=[(u, f"Agent {u}", f"agent{u}@bench.example", str(1000 + u), t, "agent", True, END)
                     for u, t in agents()])
        await conn.execute(f"UPDATE contacts SET responsible_id = 1 + (id * 7919) % {AGENTS_PER_TEAM * len(TEAMS)} "
                           "WHERE id % 5 <> 0")
        await conn.execute("INSERT INTO pipelines (id, name, is_default, created_at) VALUES (1, 'Sales', true, $1)", END)
        await conn.executemany("INSERT INTO pipeline_stages (id, pipeline_id, name, position, kind) "
                               "VALUES ($1, 1, $2, $3, $4)", [(i, n, i, k) for i, n, k in STAGES])
        deal_rows, history = [], []
        for deal, stages in deals(scale):
            deal_rows.append(deal)
            history.extend(stages)
        await conn.copy_records_to_table("deals", columns=DEAL_COLS,
                                         records=[(*d[:5], _decimal(d[5]), *d[6:]) for d in deal_rows])
        await conn.copy_records_to_table("deal_stage_history", columns=HISTORY_COLS, records=history)
        for chunk in _chunks(calls(scale)):
            await conn.copy_records_to_table("activities", columns=ACTIVITY_COLS, records=chunk)
        # Statistics first: on a table just filled by COPY the planner knows nothing and reads every call per call.
        await conn.execute("ANALYZE activities")
        await conn.execute(NEXT_CALL)
        for table in ("users", "deals", "deal_stage_history", "activities", "teams", "pipeline_stages"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("CREATE TABLE bench_seed (mark TEXT)")
        await conn.execute("INSERT INTO bench_seed VALUES ($1)", scale.mark)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(value))
