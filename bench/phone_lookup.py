"""Phone lookup latency with a million contacts, on SQLite and PostgreSQL.

Ours: `crm_core.records.lookup_phone` (normalise any written form, indexed lookup, owner's responsible).
Baseline, measured in the same run on the same database: a bare primary-key read of a contact.

    python bench/phone_lookup.py [--contacts 1000000] [--lookups 3000] [--only sqlite|postgresql]

Ends with one JSON line of figures and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import select

from crm_core.db import Database
from crm_core.migrate import upgrade
from crm_core.models import Contact
from crm_core.records import PhoneRules, lookup_phone

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FORMATS = ("+1 {a} {b} {c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "+1{a}{b}{c}", "1-{a}-{b}-{c}")


def sqlite_seed_row(path: Path, columns: str) -> tuple | None:
    """The ``bench_seed`` row of a kept SQLite data set (what it was seeded with), or None: no file, no mark."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute(f"SELECT {columns} FROM bench_seed").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def number_of(i: int) -> tuple[str, str, str]:
    # Up to 8,000,000 distinct possible NANP numbers: area 200..999 x line 0000..9999 on exchange 555.
    return str(200 + i // 10_000), "555", f"{i % 10_000:04d}"


def e164_of(i: int) -> str:
    a, b, c = number_of(i)
    return f"+1{a}{b}{c}"


def rows(count: int):  # type: ignore[no-untyped-def]
    for i in range(count):
        yield i + 1, e164_of(i)


def load_sqlite(path: Path, count: int) -> None:
    conn = sqlite3.connect(path)
    now = "2026-01-01 00:00:00"
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO contacts (id, first_name, last_name, custom, created_at, updated_at) VALUES (?, '', ?, '{}', ?, ?)",
            ((i, f"c{i}", now, now) for i, _ in rows(count)),
        )
        conn.executemany(
            "INSERT INTO phones (e164, extension, raw, kind, contact_id) VALUES (?, '', ?, 'work', ?)",
            ((e164, e164, i) for i, e164 in rows(count)),
        )
    conn.execute("ANALYZE")
    conn.close()


async def load_pg(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        from datetime import datetime, timezone

        now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        await conn.copy_records_to_table(
            "contacts",
            records=((i, "", f"c{i}", "{}", now, now) for i, _ in rows(count)),
            columns=["id", "first_name", "last_name", "custom", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "phones",
            records=((e164, "", e164, "work", i) for i, e164 in rows(count)),
            columns=["e164", "extension", "raw", "kind", "contact_id"],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, count: int, lookups: int) -> dict[str, float]:
    db = Database.from_url(url)
    rules = PhoneRules(region="US")
    rng = random.Random(7)
    ours: list[float] = []
    base: list[float] = []
    try:
        async with db.session() as session:
            for _ in range(200):  # warm the caches and the connection
                await lookup_phone(session, rules, e164_of(rng.randrange(count)))
            for n in range(lookups):
                i = rng.randrange(count)
                a, b, c = number_of(i)
                written = FORMATS[n % len(FORMATS)].format(a=a, b=b, c=c)
                t0 = time.perf_counter()
                owner = await lookup_phone(session, rules, written)
                ours.append(time.perf_counter() - t0)
                assert owner is not None and owner.id == i + 1, (written, owner)
                t0 = time.perf_counter()
                await session.scalar(select(Contact.responsible_id).where(Contact.id == i + 1))
                base.append(time.perf_counter() - t0)
            miss = await lookup_phone(session, rules, "+1 212 556 0000")
            assert miss is None
    finally:
        await db.dispose()
    return {
        "p50_ms": round(pct(ours, 0.50) * 1000, 3),
        "p99_ms": round(pct(ours, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(ours) * 1000, 3),
        "baseline_pk_p50_ms": round(pct(base, 0.50) * 1000, 3),
        "baseline_pk_p99_ms": round(pct(base, 0.99) * 1000, 3),
        "ratio_p50": round(pct(ours, 0.50) / pct(base, 0.50), 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results: dict[str, object] = {"bench": "phone_lookup", "contacts": args.contacts, "lookups": args.lookups}

    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.sqlite3"
            await asyncio.to_thread(upgrade, f"sqlite:///{path}")
            t0 = time.perf_counter()
            load_sqlite(path, args.contacts)
            print(f"sqlite: loaded {args.contacts} contacts in {time.perf_counter() - t0:.1f} s")
            results["sqlite"] = await measure(f"sqlite:///{path}", args.contacts, args.lookups)
            print("sqlite:", results["sqlite"])

    if args.only in (None, "postgresql"):
        name = f"cc_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        try:
            await asyncio.to_thread(upgrade, url)
            t0 = time.perf_counter()
            await load_pg(url, args.contacts)
            print(f"postgresql: loaded {args.contacts} contacts in {time.perf_counter() - t0:.1f} s")
            results["postgresql"] = await measure(url, args.contacts, args.lookups)
            print("postgresql:", results["postgresql"])
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
