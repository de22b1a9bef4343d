"""Keeps the quarter-hour call sums (crm_core.call_rollup_models) true (adapter): built once for the service's
[reports] settings, then every quarter-hour the triggers logged as changed is recomputed from its calls.

Reports never wait for this: until a logged quarter-hour is recomputed they add its calls up themselves
(call_sums_store), so the keeper only decides how much of a month is read from sums. Each recomputation is one
transaction that replaces the quarter-hours' sums and removes exactly the log rows it read: a call written meanwhile
has logged a row this pass did not read, so its quarter-hour stays logged for the next pass. On PostgreSQL an advisory
lock keeps two instances of the service from recomputing at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from itertools import groupby

from sqlalchemy import and_, delete, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports.call_sums_store import SUM_FIELDS, call_rows, quarter_of, sums_of
from callcenter.reports.figures import Group, ServiceLevelRule
from callcenter.reports.intervals import QUARTER_S
from crm_core.call_rollup_models import CallSumsBasis, CallSumsChange, CallSumsQuarter
from crm_core.db import Database
from crm_core.models import Activity

log = logging.getLogger(__name__)

__all__ = ["CallSumsKeeper"]

LOCK_KEY = 0x63616C6C73756D73  # "callsums": the advisory lock of the keepers of one database
MAX_CHANGES = 500  # log rows per transaction: a rebuild logs one per quarter-hour, so ~5 days of calls at a time


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


def _ranges(quarters: list[int]) -> list[tuple[int, int]]:
    """Sorted quarter-hours as [start, end) runs of consecutive ones."""
    runs = []
    for _, run in groupby(enumerate(quarters), key=lambda iq: iq[1] - iq[0] * QUARTER_S):
        values = [q for _, q in run]
        runs.append((values[0], values[-1] + QUARTER_S))
    return runs


class CallSumsKeeper:
    def __init__(self, db: Database, *, rule: ServiceLevelRule, fcr_window_s: float,
                 max_changes: int = MAX_CHANGES) -> None:
        self.db = db
        self.rule = rule
        self.fcr_window_s = float(fcr_window_s)
        self.max_changes = max_changes
        self.pass_done = asyncio.Event()  # set after each pass of run(), failed or not (what a waiter can await)

    async def _lock(self, session: AsyncSession) -> None:
        if self.db.dialect == "postgresql":
            await session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))

    def _basis(self) -> tuple[float, float, float]:
        return (self.rule.threshold_s, self.rule.short_abandon_s, self.fcr_window_s)

    async def rebuild_if_needed(self) -> bool:
        """Sums made with other settings (or none yet): drop them and log every quarter-hour that has calls, with
        this basis, in one transaction (the passes then recompute them, oldest first)."""
        async with self.db.session() as session:
            await self._lock(session)
            basis = await session.get(CallSumsBasis, 1)
            if basis is not None and (basis.threshold_s, basis.short_abandon_s, basis.fcr_window_s) == self._basis():
                return False
            await session.execute(delete(CallSumsQuarter))
            await session.execute(delete(CallSumsChange))
            await session.execute(delete(CallSumsBasis))
            epoch = call_rows(self.db.dialect, rule=self.rule, fcr_window_s=self.fcr_window_s,
                              group=Group.TEAM).subquery().c.epoch_s
            quarters = select(quarter_of(epoch).label("q")).distinct().order_by("q")
            await session.execute(insert(CallSumsChange).from_select(["quarter_s"], quarters))
            threshold_s, short_abandon_s, fcr_window_s = self._basis()
            session.add(CallSumsBasis(id=1, threshold_s=threshold_s, short_abandon_s=short_abandon_s,
                                      fcr_window_s=fcr_window_s, built_at=datetime.now(timezone.utc)))
        log.info("call sums: rebuilding for service level %ss, short abandon %ss, first-contact window %ss",
                 *self._basis())
        return True

    async def refresh_once(self) -> int:
        """Recompute the quarter-hours of the oldest logged changes (at most ``max_changes`` log rows); the number of
        quarter-hours recomputed (0: nothing was logged)."""
        async with self.db.session() as session:
            await self._lock(session)
            basis = await session.get(CallSumsBasis, 1)
            if basis is None or (basis.threshold_s, basis.short_abandon_s, basis.fcr_window_s) != self._basis():
                return 0  # another instance's settings: its sums, its keeper
            logged = (await session.execute(
                select(CallSumsChange.id, CallSumsChange.quarter_s).order_by(CallSumsChange.id).limit(self.max_changes)
            )).all()
            if not logged:
                return 0
            quarters = sorted({q for _, q in logged})
            await session.execute(delete(CallSumsQuarter).where(CallSumsQuarter.quarter_s.in_(quarters)))
            started_in = or_(*[and_(Activity.started_at >= _utc(a), Activity.started_at < _utc(b))
                               for a, b in _ranges(quarters)])
            for group in Group:
                calls = call_rows(self.db.dialect, rule=self.rule, fcr_window_s=self.fcr_window_s, group=group)
                rows = calls.where(started_in).subquery()
                keys = [quarter_of(rows.c.epoch_s), func.coalesce(rows.c.routed_team, ""),
                        func.coalesce(rows.c.team_did, ""), func.coalesce(rows.c.group_key, "")]
                await session.execute(insert(CallSumsQuarter).from_select(
                    ["grouping", "quarter_s", "routed_team", "team_did", "group_key", *SUM_FIELDS],
                    select(literal(group.value), *keys, *sums_of(rows)).group_by(*keys),
                ))
            await session.execute(delete(CallSumsChange).where(CallSumsChange.id.in_([i for i, _ in logged])))
            return len(quarters)

    async def refresh_all(self) -> int:
        """Recompute until nothing is logged; the quarter-hours recomputed."""
        total = 0
        while done := await self.refresh_once():
            total += done
        return total

    async def catch_up(self) -> int:
        """Rebuild if the settings changed, then recompute until nothing is logged."""
        await self.rebuild_if_needed()
        return await self.refresh_all()

    async def run(self, *, interval_s: float) -> None:
        """The service's loop: rebuild once if the settings changed (only at start: two instances with different
        settings would otherwise rebuild each other's sums on every pass; the one started last owns them and the
        other's reports add their calls up), then take in the changes every ``interval_s``."""
        rebuilt = False
        while True:
            try:
                if not rebuilt:
                    await self.rebuild_if_needed()
                    rebuilt = True
                await self.refresh_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # a lost database connection: the log keeps every change until the next pass
                log.exception("call sums: pass failed; retrying in %ss", interval_s)
            self.pass_done.set()
            await asyncio.sleep(interval_s)
