"""The service's PostgreSQL sessions run without JIT (crm_core.db.create_engine): compiling a report's statement cost
more than running it."""

from __future__ import annotations

from sqlalchemy import text

from crm_core.db import Database


async def test_postgresql_sessions_run_without_jit(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    try:
        async with db.session() as session:
            assert (await session.execute(text("SHOW jit"))).scalar() == "off"
        async with db.read_session() as session:
            assert (await session.execute(text("SHOW jit"))).scalar() == "off"
    finally:
        await db.dispose()
