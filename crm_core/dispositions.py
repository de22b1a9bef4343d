"""A call's disposition: the agent's wrap-up written onto the call's activity, and the callback they promised.

Idempotent by call id: repeating a request leaves one activity and at most one callback task (keyed
``disposition:<call id>``). Safe beside the CRM writer, which writes the same activity from the telephony events:
disposition, its time and the notes (the body) are columns the writer never sets, so its UPDATEs cannot undo them;
the activity is read with a row lock; a first insert racing the writer's is caught by the unique call id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.access import Principal
from crm_core.errors import Forbidden
from crm_core.models import Activity, ActivityKind, Disposition, Role, Task, TaskKind, TaskStatus, User

__all__ = ["callback_key", "check_may_dispose", "locked_call_activity", "record_disposition"]

NOT_YOURS = "only the agent who handled the call, their supervisor or an admin may set its disposition"


def callback_key(call_id: str) -> str:
    return f"disposition:{call_id}"


async def locked_call_activity(
    session: AsyncSession, call_id: str, *, start: bool = False, user_id: int | None = None
) -> Activity | None:
    """The call's activity, row-locked for this transaction. With ``start`` (a live call the writer has not logged
    yet) it is started now, by ``user_id``; the writer completes it when the call ends."""
    query = select(Activity).where(Activity.call_id == call_id).with_for_update()
    activity = await session.scalar(query)
    if activity is not None or not start:
        return activity
    try:
        async with session.begin_nested():
            activity = Activity(kind=ActivityKind.CALL, call_id=call_id, result="in_progress", user_id=user_id, call_meta={})
            session.add(activity)
            await session.flush()
            return activity
    except IntegrityError:
        # The writer logged the call between our read and our insert: use its row.
        return await session.scalar(query)


def talked_extensions(activity: Activity | None) -> set[str]:
    """Extensions that talked with the customer, as the writer logged them."""
    if activity is None:
        return set()
    meta = activity.call_meta or {}
    return {e for e in (meta.get("answered_by"), *meta.get("agents_talked", ())) if e}


async def check_may_dispose(
    session: AsyncSession,
    principal: Principal,
    activity: Activity | None,
    talked: Iterable[str],
    *,
    call_team_id: int | None = None,
) -> set[int]:
    """Raise Forbidden unless ``principal`` handled the call (or supervises who did); return the handlers' ids.

    ``talked``: extensions that talked on the call (from the live model and the log). A call nobody took belongs to
    its team (``call_team_id``: its routing's, else its DID's): that team's supervisors and admins may wrap it up,
    no other supervisor (a call of no known team: admins only)."""
    extensions = set(talked) | talked_extensions(activity)
    handlers: set[int] = set()
    if extensions:
        handlers.update(await session.scalars(select(User.id).where(User.extension.in_(extensions))))
    if activity is not None and activity.user_id is not None:
        handlers.add(activity.user_id)
    if principal.role is Role.ADMIN:
        return handlers
    if principal.role is Role.CAMPAIGN_MANAGER:
        # A call's wrap-up is its agent's (and their supervisor's): a campaign's outcomes come from the dialer.
        raise Forbidden(NOT_YOURS, field="call_id")
    if principal.role is Role.AGENT:
        if principal.user_id in handlers:
            return handlers
        raise Forbidden(NOT_YOURS, field="call_id")
    if not handlers:
        if principal.team_id is not None and call_team_id == principal.team_id:
            return handlers
        raise Forbidden(NOT_YOURS, field="call_id")
    teams = set(await session.scalars(select(User.team_id).where(User.id.in_(handlers))))
    if principal.team_id is not None and principal.team_id in teams:
        return handlers
    raise Forbidden(NOT_YOURS, field="call_id")


async def record_disposition(
    session: AsyncSession,
    activity: Activity,
    *,
    disposition: Disposition,
    notes: str | None,
    callback_at: datetime | None,
    assignee_id: int | None,
    customer_e164: str | None,
    now: datetime,
    team_id: int | None = None,
    pool: bool = False,
) -> Task | None:
    """Write the wrap-up onto ``activity`` (locked by the caller); a callback disposition also keeps one callback task
    due at ``callback_at``; another disposition cancels the one an earlier request made. ``notes=None`` keeps them.

    ``pool``: the callback is for the team, not the handler: unassigned in ``team_id``'s pool (any of its agents
    takes it). A callback already kept for this call or number is handed to the pool too."""
    activity.disposition = disposition
    activity.disposition_at = now
    if notes is not None:
        activity.body = notes
    assert activity.call_id is not None
    key = callback_key(activity.call_id)
    if disposition is not Disposition.CALLBACK:
        task = await _callback_of(session, key, None)
        if task is not None and task.status is TaskStatus.OPEN:
            task.status = TaskStatus.CANCELLED
            task.description += f"\ncancelled: the call's disposition is now {disposition.value}"
            task.source_key = None  # a later callback disposition of this call makes a fresh one
        await session.flush()
        return None
    assert callback_at is not None
    task = await _callback_of(session, key, customer_e164)
    if task is None:
        try:
            # The promise is the handler's, so it goes in their team's pool if it ever leaves them.
            # A call nobody took: the callback waits in the call's team's pool (``team_id``).
            if assignee_id and not pool:
                team_id = await session.scalar(select(User.team_id).where(User.id == assignee_id))
            async with session.begin_nested():
                task = _new_callback(activity, key, callback_at, None if pool else assignee_id, customer_e164, team_id)
                session.add(task)
                await session.flush()
            return task
        except IntegrityError:
            # A concurrent request for this call, or a missed call from the number, made one first: use it.
            task = await _callback_of(session, key, customer_e164)
            if task is None:
                raise
    # A callback already done stays done: repeating the request must not reopen finished work.
    if task.status is TaskStatus.OPEN:
        if f"call {activity.call_id}" not in task.description:
            task.description += f"\npromised on call {activity.call_id}"
        task.due_at = callback_at
        if pool:
            task.assignee_id = None
            if team_id is not None:
                task.team_id = team_id
        elif assignee_id is not None:
            task.assignee_id = assignee_id
    await session.flush()
    return task


async def _callback_of(session: AsyncSession, key: str, e164: str | None) -> Task | None:
    """The callback an earlier request for this call made, else (with ``e164``) the number's open callback: one open
    callback per number, so a promise to a customer who is already owed one joins it."""
    task = await session.scalar(select(Task).where(Task.source_key == key).with_for_update())
    if task is None and e164:
        task = await session.scalar(
            select(Task)
            .where(Task.callback_e164 == e164, Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN)
            .with_for_update()
        )
    return task


def _new_callback(
    activity: Activity, key: str, due_at: datetime, assignee_id: int | None, e164: str | None, team_id: int | None
) -> Task:
    return Task(
        title=f"Call back {e164 or 'the caller'} (promised)",
        # "call <id>" names the call, so the CRM writer knows this call is not the callback's own answer.
        description=f"promised on call {activity.call_id}",
        kind=TaskKind.CALLBACK,
        status=TaskStatus.OPEN,
        priority=2,
        assignee_id=assignee_id,
        team_id=team_id,
        due_at=due_at,
        callback_e164=e164,
        missed_count=0,
        source_key=key,
        contact_id=activity.contact_id,
        company_id=activity.company_id,
        lead_id=activity.lead_id,
        deal_id=activity.deal_id,
    )
