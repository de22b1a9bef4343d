"""Migrations go up and down on both databases, and the models match what the migrations build."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from crm_core.call_rollup_triggers import TRIGGERS
from crm_core.db import create_engine
from crm_core.migrate import downgrade, upgrade
from crm_core.schema import Base, include_name


async def _tables_and_diff(url: str) -> tuple[set[str], list]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "include_name": include_name})
                return set(inspect(sync_conn).get_table_names()), compare_metadata(context, Base.metadata)

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def _activity_triggers(url: str) -> set[str]:
    """Triggers are not in the models, so the comparison above cannot see them (crm_core.call_rollup_triggers)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'activities'::regclass AND NOT tgisinternal"
            else:
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'activities'"
            return set((await conn.execute(text(query))).scalars())
    finally:
        await engine.dispose()


def test_up_down_up_and_models_match(db_url: str) -> None:
    tables, diff = asyncio.run(_tables_and_diff(db_url))
    assert set(Base.metadata.tables) <= tables
    assert diff == []
    assert set(TRIGGERS) <= asyncio.run(_activity_triggers(db_url))
    downgrade(db_url, "base")
    tables, _ = asyncio.run(_tables_and_diff(db_url))
    assert tables <= {"alembic_version"}
    upgrade(db_url)
    tables, diff = asyncio.run(_tables_and_diff(db_url))
    assert set(Base.metadata.tables) <= tables and diff == []
    assert set(TRIGGERS) <= asyncio.run(_activity_triggers(db_url))
