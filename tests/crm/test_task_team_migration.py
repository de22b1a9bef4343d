"""Migration 0007 on both databases: tasks written before it get the assignee's team, else the creator's; a callback
nobody holds or made stays without a team; and it goes down and up again with the data in place."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from sqlalchemy import text

from crm_core.db import create_engine
from crm_core.migrate import downgrade, upgrade

AT = datetime(2026, 11, 1, tzinfo=timezone.utc)


async def _run(url: str, *statements: tuple[str, dict]) -> list[tuple]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple] = []
            for sql, params in statements:
                result = await conn.execute(text(sql), params)
                if result.returns_rows:
                    rows = [tuple(r) for r in result]
            return rows
    finally:
        await engine.dispose()


def run(url: str, *statements: tuple[str, dict]) -> list[tuple]:
    return asyncio.run(_run(url, *statements))


def test_old_tasks_get_their_assignees_else_their_creators_team(db_url: str) -> None:
    downgrade(db_url, "0006")
    task = (
        "INSERT INTO tasks (id, title, description, kind, status, priority, assignee_id, created_by_id, created_at,"
        " updated_at, missed_count, attempt_count) VALUES (:id, 't', '', :kind, 'open', 0, :assignee, :creator, :at, :at, 0, 0)"
    )
    run(
        db_url,
        ("INSERT INTO teams (id, name, timezone, created_at) VALUES (1, 'A', 'UTC', :at), (2, 'B', 'UTC', :at)", {"at": AT}),
        (("INSERT INTO users (id, name, team_id, role, active, created_at) VALUES "
          "(1, 'agent of A', 1, 'agent', :yes, :at), (2, 'supervisor of B', 2, 'supervisor', :yes, :at)"),
         {"yes": True, "at": AT}),
        (task, {"id": 1, "kind": "task", "assignee": 1, "creator": 2, "at": AT}),  # the assignee's team wins
        (task, {"id": 2, "kind": "task", "assignee": None, "creator": 2, "at": AT}),
        (task, {"id": 3, "kind": "callback", "assignee": None, "creator": None, "at": AT}),
    )
    upgrade(db_url)
    assert run(db_url, ("SELECT id, team_id FROM tasks ORDER BY id", {})) == [(1, 1), (2, 2), (3, None)]
    assert run(db_url, ("SELECT callback_sla_s FROM teams ORDER BY id", {})) == [(None,), (None,)]
    downgrade(db_url, "0006")
    assert run(db_url, ("SELECT count(*) FROM tasks", {})) == [(3,)]
    upgrade(db_url)
