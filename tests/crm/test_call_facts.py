"""Call activities keep their report columns (crm_core.call_facts) true on every write, and the next call from the
same number whatever order calls are written in; calls logged before the columns existed get them from call_meta."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import select

from crm_core.call_facts import derived_columns
from crm_core.db import Database, create_engine
from crm_core.migrate import downgrade, upgrade
from crm_core.models import Activity, ActivityKind, Direction

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
NUMBER = "+442071234567"

TRANSFERRED = {
    "answered_by": "1001", "agents_talked": ["1001"], "queue": "support", "wrapup_s": 12.5,
    "consultations": [{"agent": "1002", "by_agent": "1001", "transferred": True}],
    "routing": [{"team": "sales", "reason": "owner"}, {"reason": "no team named"}],
}


def test_derived_columns_follow_call_meta() -> None:
    assert derived_columns("call", "answered", TRANSFERRED) == {
        "routed_team": "sales", "agent_ext": "1001", "queue": "support", "wrapup_s": 12.5, "transferred": True, "end_estimated": False,
    }
    # Unanswered: the last agent whose phone rang, not one that was busy; no wrap-up measured is None, not 0.
    missed = {"attempts": [{"agent": "1001", "rang": True}, {"agent": "1002", "rang": False}], "end_estimated": True}
    assert derived_columns("call", "missed", missed) == {
        "routed_team": None, "agent_ext": "1001", "queue": None, "wrapup_s": None, "transferred": False, "end_estimated": True,
    }
    # A blind transfer: two agents talked. Anything but a call has no report columns.
    assert derived_columns("call", "answered", {"agents_talked": ["1001", "1002"]})["transferred"] is True
    assert derived_columns("note", None, TRANSFERRED)["agent_ext"] is None
    assert derived_columns("call", "answered", {"wrapup_s": True, "queue": ""})["wrapup_s"] is None


def _call(call_id: str, start: datetime, meta: dict | None = None) -> Activity:
    return Activity(kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id=call_id, started_at=start,
                    ended_at=start + timedelta(minutes=2), result="answered", from_e164=NUMBER, call_meta=meta or {})


async def test_columns_and_next_call_on_every_write(db: Database) -> None:
    starts = {"c1": T0, "c2": T0 + timedelta(days=1), "c3": T0 + timedelta(days=3), "c4": T0 + timedelta(hours=5)}
    async with db.session() as session:
        for call_id in ("c1", "c3", "c2", "c4"):  # out of order: c2 and c4 land between calls already written
            session.add(_call(call_id, starts[call_id], TRANSFERRED if call_id == "c1" else None))
            await session.flush()
    async with db.session() as session:
        rows = {a.call_id: a for a in await session.scalars(select(Activity))}
    assert {k: rows[k].next_call_at for k in starts} == {
        "c1": starts["c4"], "c4": starts["c2"], "c2": starts["c3"], "c3": None,
    }
    assert (rows["c1"].agent_ext, rows["c1"].transferred, rows["c1"].wrapup_s) == ("1001", True, 12.5)
    # A later write of call_meta (wrap-up booked after the call) updates the columns with it.
    async with db.session() as session:
        c2 = await session.scalar(select(Activity).where(Activity.call_id == "c2"))
        c2.call_meta = {**c2.call_meta, "answered_by": "1003", "wrapup_s": 30.0}
    async with db.session() as session:
        c2 = await session.scalar(select(Activity).where(Activity.call_id == "c2"))
    assert (c2.agent_ext, c2.wrapup_s, c2.transferred) == ("1003", 30.0, False)


def test_calls_logged_before_get_their_columns(db_url: str) -> None:
    downgrade(db_url, "0012")
    is_sqlite = db_url.startswith("sqlite")

    def ts(moment: datetime) -> object:
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if is_sqlite else moment

    async def insert_and_read() -> list[tuple]:
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                for i, (start, meta) in enumerate(((T0, TRANSFERRED), (T0 + timedelta(days=2), {}))):
                    await conn.execute(sa.text(
                        "INSERT INTO activities (kind, direction, subject, body, started_at, result, from_e164,"
                        " call_id, call_meta, created_at) VALUES ('call', 'inbound', '', '', :s, 'answered', :n,"
                        " :c, :m, :s)"), {"s": ts(start), "n": NUMBER, "c": f"old-{i}", "m": json.dumps(meta)})
            await asyncio.to_thread(upgrade, db_url)
            async with engine.connect() as conn:
                return (await conn.execute(sa.text(
                    "SELECT call_id, routed_team, agent_ext, queue, wrapup_s, transferred, next_call_at IS NOT NULL"
                    " FROM activities ORDER BY call_id"))).all()
        finally:
            await engine.dispose()

    rows = asyncio.run(insert_and_read())
    assert [tuple(r) for r in rows] == [
        ("old-0", "sales", "1001", "support", 12.5, True, True), ("old-1", None, None, None, None, False, False),
    ]
