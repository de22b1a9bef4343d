"""A call activity's report columns, derived from what the CRM writer keeps in ``call_meta`` (pure), and the link from
each inbound call to the next call from the same number.

The reports add calls up in SQL (a month of a 300-agent floor is ~1.5 million calls): they read these columns, never
``call_meta``'s JSON. ``derived_columns`` is the one definition; the models apply it on every insert and update of an
activity (crm_core.models), so every writer (the CRM bridge, gap recovery, the demo, the API) keeps them true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

ANSWERED = "answered"  # CallOutcome.ANSWERED (crm_core cannot import the service's events)

__all__ = ["derived_columns", "ended_with", "link_next_call", "transferred"]


def ended_with(result: str | None, meta: dict[str, Any]) -> str | None:
    """The agent a call counts under: who answered it; unanswered, the last agent whose phone it rang."""
    if result == ANSWERED and isinstance(meta.get("answered_by"), str):
        return meta["answered_by"]
    rang = [a.get("agent") for a in meta.get("attempts") or () if isinstance(a, dict) and a.get("rang")]
    rang = rang or list(meta.get("agents_rung") or ())
    return rang[-1] if rang and isinstance(rang[-1], str) else None


def transferred(meta: dict[str, Any]) -> bool:
    """Blind transfers add an agent to agents_talked; attended ones also mark their consultation transferred."""
    consultations = meta.get("consultations") or ()
    return len(meta.get("agents_talked") or ()) > 1 or any(
        isinstance(c, dict) and c.get("transferred") for c in consultations
    )


def derived_columns(kind: str | None, result: str | None, meta: Any) -> dict[str, Any]:
    """The report columns of an activity (all empty for anything but a call)."""
    meta = meta if isinstance(meta, dict) and kind == "call" else {}
    queue, wrapup_s = meta.get("queue"), meta.get("wrapup_s")
    agent = ended_with(result, meta)
    return {
        "agent_ext": agent[:32] if agent else None,
        "queue": queue[:64] if isinstance(queue, str) and queue else None,
        "wrapup_s": float(wrapup_s) if isinstance(wrapup_s, int | float) and not isinstance(wrapup_s, bool) else None,
        "transferred": transferred(meta),
        "end_estimated": bool(meta.get("end_estimated")),
    }


async def link_next_call(session: AsyncSession, activity: Any) -> None:
    """Keep ``next_call_at`` true around an inbound call just written: every earlier call from its number whose next
    call was later (or unknown) now has this one next, and this one gets the earliest later call. Written out of
    order (a replay, a call rebuilt after an AMI outage) it still lands right; written twice it changes nothing."""
    from crm_core.models import Activity, ActivityKind, Direction

    if activity.kind is not ActivityKind.CALL or activity.direction is not Direction.INBOUND or not activity.from_e164:
        return
    same_number = and_(
        Activity.kind == ActivityKind.CALL, Activity.direction == Direction.INBOUND,
        Activity.from_e164 == activity.from_e164,
    )
    start: datetime = activity.started_at
    await session.execute(
        update(Activity)
        .where(same_number, Activity.started_at < start, or_(Activity.next_call_at.is_(None), Activity.next_call_at > start))
        .values(next_call_at=start)
        .execution_options(synchronize_session=False)
    )
    activity.next_call_at = await session.scalar(
        select(func.min(Activity.started_at)).where(same_number, Activity.started_at > start)
    )
