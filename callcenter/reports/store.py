"""Reads what the reports need from the CRM (adapter): inbound call activities and callback tasks.

The CRM bridge writes one activity per call (outcome in ``result``, waits and talk in columns, routing decisions
with their team in ``call_meta.routing``) and one callback task per missed number; nothing else is consulted, so
the figures are exactly what the CRM recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from datetime import datetime, timezone

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports.agent_figures import SpellFact
from callcenter.reports.figures import ABANDONED, ANSWERED, MISSED, CallbackFact, CallFact, DoneCallbackFact
from callcenter.reports.report import DidTeam, call_team
from crm_core.agent_log_models import AgentStateSpell
from crm_core.models import Activity, ActivityKind, Direction, Task, TaskKind, TaskStatus, Team, User

__all__ = [
    "CallbackStatus", "agent_spells", "callback_status", "done_callbacks", "extension_and_team", "inbound_calls",
    "open_callbacks", "users_by_extension",
]


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


async def inbound_calls(session: AsyncSession, *, from_s: float, to_s: float, did_team: DidTeam) -> list[CallFact]:
    """Inbound calls that started in [from_s, to_s), oldest first, from their report columns (crm_core.call_facts).
    A call's team: its last routing decision's, else its DID's (report.call_team)."""
    rows = await session.execute(
        select(
            Activity.call_id, Activity.started_at, Activity.ended_at, Activity.result, Activity.wait_s,
            Activity.talk_s, Activity.from_raw, Activity.from_e164, Activity.did, Activity.routed_team, Activity.agent_ext,
            Activity.queue, Activity.wrapup_s, Activity.transferred, Activity.end_estimated,
        )
        .where(
            Activity.kind == ActivityKind.CALL,
            Activity.direction == Direction.INBOUND,
            Activity.started_at >= _utc(from_s),
            Activity.started_at < _utc(to_s),
        )
        .order_by(Activity.started_at)
    )
    return [
        CallFact(
            call_id=call_id or "",
            team=team or did_team(did),
            started_s=started.timestamp(),
            ended_s=(ended or started).timestamp(),
            outcome=result or "failed",
            wait_s=float(wait_s or 0.0),
            talk_s=float(talk_s or 0.0),
            wrapup_s=wrapup_s,
            caller=caller,
            number=e164,
            queue=queue,
            approximate=bool(estimated),
            did=did,
            agent=agent,
            transferred=bool(moved),
        )
        for (call_id, started, ended, result, wait_s, talk_s, caller, e164, did, team, agent, queue, wrapup_s, moved,
             estimated) in rows
    ]


REACHED_BY = "reached by call "  # the CRM bridge's line on the callback a customer's answered call closed


async def done_callbacks(session: AsyncSession, *, from_s: float, to_s: float) -> list[DoneCallbackFact]:
    """Callback tasks done in [from_s, to_s): the team they are filed under, and who did them: the agent who answered
    the call that reached the customer (the bridge notes it), else the assignee."""
    rows = (
        await session.execute(
            select(Task.id, Task.due_at, Task.completed_at, Task.description, Team.name, User.extension)
            .outerjoin(Team, Team.id == Task.team_id)
            .outerjoin(User, User.id == Task.assignee_id)
            .where(
                Task.kind == TaskKind.CALLBACK,
                Task.status == TaskStatus.DONE,
                Task.completed_at >= _utc(from_s),
                Task.completed_at < _utc(to_s),
            )
        )
    ).all()
    reaching = {
        task_id: line[len(REACHED_BY):].strip()
        for task_id, _, _, description, _, _ in rows
        for line in description.splitlines()
        if line.startswith(REACHED_BY)
    }
    answered_by: dict[str, str] = {}
    if reaching:
        metas = await session.execute(
            select(Activity.call_id, Activity.call_meta).where(Activity.call_id.in_(set(reaching.values())))
        )
        answered_by = {
            call_id: meta["answered_by"] for call_id, meta in metas
            if isinstance(meta, dict) and isinstance(meta.get("answered_by"), str)
        }
    return [
        DoneCallbackFact(
            task_id=task_id, team=team, agent=answered_by.get(reaching.get(task_id, "")) or assignee,
            due_s=due.timestamp() if due else None, done_s=done.timestamp(),
        )
        for task_id, due, done, _, team, assignee in rows
    ]


async def agent_spells(session: AsyncSession, *, from_s: float, to_s: float) -> list[SpellFact]:
    """Agent state spells overlapping [from_s, to_s), oldest first (an open spell has no end)."""
    rows = await session.execute(
        select(
            AgentStateSpell.agent, AgentStateSpell.user_id, AgentStateSpell.state, AgentStateSpell.reason,
            AgentStateSpell.started_at, AgentStateSpell.ended_at,
        )
        .where(
            AgentStateSpell.started_at < _utc(to_s),
            or_(AgentStateSpell.ended_at.is_(None), AgentStateSpell.ended_at > _utc(from_s)),
        )
        .order_by(AgentStateSpell.started_at, AgentStateSpell.agent)
    )
    return [
        SpellFact(agent=agent, user_id=user_id, state=state, reason=reason, started_s=started.timestamp(),
                  ended_s=ended.timestamp() if ended else None)
        for agent, user_id, state, reason, started, ended in rows
    ]


async def users_by_extension(session: AsyncSession, extensions: Iterable[str]) -> dict[str, tuple[int, str, str | None]]:
    """Extension -> (user id, name, CRM team name) of the users with these extensions."""
    wanted = list(set(extensions))
    if not wanted:
        return {}
    rows = await session.execute(
        select(User.extension, User.id, User.name, Team.name)
        .outerjoin(Team, Team.id == User.team_id)
        .where(User.extension.in_(wanted))
    )
    return {ext: (uid, name, team) for ext, uid, name, team in rows}


async def extension_and_team(session: AsyncSession, user_id: int | None) -> tuple[str | None, str | None]:
    """A user's extension (the agent they are on the phones) and CRM team name; (None, None) for no such user."""
    row = (
        await session.execute(
            select(User.extension, Team.name).outerjoin(Team, Team.id == User.team_id).where(User.id == user_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def open_callbacks(session: AsyncSession, *, did_team: DidTeam) -> list[CallbackFact]:
    """Open callback tasks, each with the team it is filed under, else (written before tasks had teams) the team of
    the last missed call from its number (the team that missed it)."""
    last_miss = (
        select(Activity.id)
        .where(
            Activity.kind == ActivityKind.CALL,
            Activity.direction == Direction.INBOUND,
            Activity.result.in_((MISSED, ABANDONED)),
            Activity.from_e164 == Task.callback_e164,
        )
        .order_by(Activity.started_at.desc())
        .limit(1)
        .correlate(Task)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Task.id, Task.due_at, Team.name, Activity.did, Activity.call_meta)
        .outerjoin(Team, Team.id == Task.team_id)
        .outerjoin(Activity, Activity.id == last_miss)
        .where(Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN)
    )
    return [
        CallbackFact(
            task_id=task_id,
            # The team it is filed under (the pool that must work it) wins; older callbacks have none.
            team=filed or (call_team(meta.get("routing"), did, did_team) if isinstance(meta, dict) else None),
            due_s=due.timestamp() if due else None,
        )
        for task_id, due, filed, did, meta in rows
    ]


@dataclass(frozen=True, slots=True)
class CallbackStatus:
    task_id: int
    status: str  # open, overdue, done, cancelled
    due_s: float | None


async def callback_status(session: AsyncSession, calls: Iterable[CallFact], *, now_s: float) -> dict[str, CallbackStatus]:
    """The callback task of each missed call, by call id. The CRM bridge lists the call ids a callback merged, one
    per line of its description: that line is the link from a call to its callback."""
    by_number: dict[str, list[str]] = {}
    for call in calls:
        if call.number:
            by_number.setdefault(call.number, []).append(call.call_id)
    if not by_number:
        return {}
    tasks = await session.scalars(
        select(Task).where(Task.kind == TaskKind.CALLBACK, Task.callback_e164.in_(list(by_number))).order_by(Task.id)
    )
    out: dict[str, CallbackStatus] = {}
    for task in tasks:
        lines = set(task.description.splitlines())
        due_s = task.due_at.timestamp() if task.due_at else None
        status = task.status.value
        if task.status is TaskStatus.OPEN and due_s is not None and due_s <= now_s:
            status = "overdue"
        for call_id in by_number.get(task.callback_e164 or "", ()):
            if call_id in lines:
                out[call_id] = CallbackStatus(task_id=task.id, status=status, due_s=due_s)
    return out
