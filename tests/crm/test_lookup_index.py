"""The phone lookup is served by an index on both databases (the bench measures its speed at 1M contacts)."""

from __future__ import annotations

from sqlalchemy import select, text

from crm_core.db import Database
from crm_core.models import Phone


async def test_lookup_by_e164_uses_the_unique_index(db: Database) -> None:
    query = select(Phone.id).where(Phone.e164 == "+12125550101")
    async with db.engine.connect() as conn:
        compiled = str(query.compile(conn.engine, compile_kwargs={"literal_binds": True}))
        if db.dialect == "sqlite":
            plan = " ".join(str(row) for row in await conn.execute(text("EXPLAIN QUERY PLAN " + compiled)))
        else:
            # On a near-empty table the planner rightly prefers a scan; forbid it to show the index is usable.
            await conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(row) for row in await conn.execute(text("EXPLAIN " + compiled)))
    if db.dialect == "sqlite":
        # SQLite names the unique constraint's index sqlite_autoindex_phones_N.
        assert "SEARCH phones USING COVERING INDEX" in plan and "(e164=?)" in plan, plan
    else:
        assert "Index Only Scan using uq_phones_e164_extension" in plan or "Index Scan using uq_phones_e164_extension" in plan, plan
