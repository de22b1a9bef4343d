"""Each stage change knows when the deal left that stage, and each deal when it entered its current one, kept on write.

Time in stage (the stays that ended in a period) and stuck deals (open deals in their stage since before a cutoff)
then read a range of an index instead of ordering every moved deal's history (``lead()``) or taking
``max(changed_at)`` per open deal. A deal's changes are ordered by (changed_at, id), as the history was read before:
a change's ``left_at`` is the next change's ``changed_at`` (NULL while the deal is still in that stage); a deal's
``stage_entered_at`` is its latest change's ``changed_at`` (none: its creation).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection


def relink_stays(connection: Connection, history: Any, deals: Any, deal_id: int) -> Any:
    """Recompute one deal's ``left_at`` on all its changes and its ``stage_entered_at`` (tables ``history`` and
    ``deals``); returns the latter. Whole-deal and idempotent, so a change written out of order, backdated or
    removed still leaves the deal right; a deal has a handful of changes, each statement reads them by deal_id."""
    h, later = history.alias("h"), history.alias("later")
    c = history.c
    after = or_(later.c.changed_at > c.changed_at, and_(later.c.changed_at == c.changed_at, later.c.id > c.id))
    next_at = select(func.min(later.c.changed_at)).where(later.c.deal_id == c.deal_id, after).scalar_subquery()
    connection.execute(update(history).where(c.deal_id == deal_id).values(left_at=next_at))
    latest = select(func.max(h.c.changed_at)).where(h.c.deal_id == deal_id).scalar_subquery()
    entered = connection.execute(
        select(func.coalesce(latest, deals.c.created_at)).where(deals.c.id == deal_id)
    ).scalar_one_or_none()
    if entered is not None:
        # Only this column: a Core update would also bump updated_at (onupdate), which is the deal write's business.
        connection.execute(
            update(deals).where(deals.c.id == deal_id).values(stage_entered_at=entered, updated_at=deals.c.updated_at)
        )
    return entered
