"""A call activity's report columns, derived from what the CRM writer keeps in ``call_meta`` (pure), and the link from
each inbound call to the next call from the same number.

The reports add calls up in SQL (a month of a 300-agent floor is ~1.5 million calls): they read these columns, never
``call_meta``'s JSON. ``derived_columns`` is the one definition; the models apply it, and ``link_next_call``, on every
insert and update of an activity (crm_core.models), so every writer (the CRM bridge, gap recovery, the demo, the API)
keeps them true.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection

ANSWERED = "answered"  # CallOutcome.ANSWERED (crm_core cannot import the service's events)

__all__ = ["derived_columns", "ended_with", "link_next_call", "routed_team", "transferred"]


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


def routed_team(decisions: Any) -> str | None:
    """The team of a call's last routing decision that names one (call_meta.routing)."""
    for decision in reversed(decisions if isinstance(decisions, list) else ()):
        team = decision.get("team") if isinstance(decision, dict) else None
        if isinstance(team, str) and team:
            return team
    return None


def derived_columns(kind: str | None, result: str | None, meta: Any) -> dict[str, Any]:
    """The report columns of an activity (all empty for anything but a call)."""
    meta = meta if isinstance(meta, dict) and kind == "call" else {}
    queue, wrapup_s = meta.get("queue"), meta.get("wrapup_s")
    agent = ended_with(result, meta)
    team = routed_team(meta.get("routing"))
    return {
        "routed_team": team[:120] if team else None,
        "agent_ext": agent[:32] if agent else None,
        "queue": queue[:64] if isinstance(queue, str) and queue else None,
        "wrapup_s": float(wrapup_s) if isinstance(wrapup_s, int | float) and not isinstance(wrapup_s, bool) else None,
        "transferred": transferred(meta),
        "end_estimated": bool(meta.get("end_estimated")),
    }


def link_next_call(connection: Connection, activity: Any) -> None:
    """Keep ``next_call_at`` true around an inbound call just written (run by the models after every insert and update
    of an activity): every earlier call from its number whose next call was later (or unknown) now has this one next,
    and this one gets the earliest later call. Written out of order (a replay, a call rebuilt after an AMI outage) it
    still lands right; written twice it changes nothing."""
    table = activity.__table__
    kind = getattr(activity.kind, "value", activity.kind)
    direction = getattr(activity.direction, "value", activity.direction)
    if kind != "call" or direction != "inbound" or not activity.from_e164:
        return
    c = table.c
    same_number = and_(c.kind == "call", c.direction == "inbound", c.from_e164 == activity.from_e164)
    start = activity.started_at
    connection.execute(
        update(table)
        .where(same_number, c.started_at < start, or_(c.next_call_at.is_(None), c.next_call_at > start))
        .values(next_call_at=start)
    )
    later = select(func.min(c.started_at)).where(same_number, c.started_at > start).scalar_subquery()
    connection.execute(update(table).where(c.id == activity.id).values(next_call_at=later))
