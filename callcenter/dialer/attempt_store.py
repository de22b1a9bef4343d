"""Dial attempts in the database (adapter): the claim immediately before a dial, and what each attempt became.

The claim is where "nothing dialled twice" and "a number put on a list mid-campaign is never dialled again" hold:
in one transaction it reads the number's lists, flags and consent (dnc_store.number_flags), this campaign's attempts
at it and its latest abandoned call by any campaign, judges it with compliance.may_dial, and writes the attempt row
(``planned``, a fresh ActionID) before any Originate is sent. The unique (campaign, number, attempt_no) makes a
second instance's claim of the same attempt fail; the ``planned`` / ``dialling`` row makes every later claim of the
number see an attempt in flight. A refusal found only now (the list said yes a moment ago) is written as a
``refused`` row with its reason: it is logged, and attempt numbers stay a sequence of rows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.dialer import dnc_store
from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.campaign_store import _history
from callcenter.dialer.compliance import AbandonCounts, DialFacts, may_dial
from callcenter.dialer.originate import AttemptResult
from callcenter.dialer.outcomes import LIVE_ANSWERED, AttemptOutcome
from callcenter.dialer.verdict import Permit, Reason, Refusal
from callcenter.events import CallOutcome
from crm_core.dialer_models import AttemptState, Campaign, CampaignAttempt
from crm_core.models import OPEN_CALLBACK, Activity, ActivityKind, Direction, Task, TaskKind, TaskStatus

__all__ = [
    "Claimed", "attempt_meta", "claim", "describe_on_activity", "file_agent_task", "link_activity", "mark_dialling",
    "not_sent",
    "record_result", "resolve_lost", "unfinished", "window_counts", "write_failed_activity",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    attempt_id: int
    action_id: str
    attempt_no: int
    until_s: float | None  # when the number's calling window closes


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


async def claim(
    session: AsyncSession,
    *,
    campaign_id: int,
    definition: CampaignDefinition,
    e164: str,
    contact_id: int | None,
    lead_id: int | None,
    now_s: float,
    agent_reserved: bool,
    preview_agent: str | None = None,
) -> Claimed | Refusal:
    """Check the number as of now and write its next attempt (``planned``), or the refusal. The caller commits.
    ``preview_agent``: the extension of the agent dialling it from a preview card, kept on the row for the AGI."""
    flags = await dnc_store.number_flags(session, e164, campaign_id, contact_id=contact_id, lead_id=lead_id)
    attempts, abandoned = await _history(session, campaign_id, [e164])
    facts = DialFacts(
        e164=e164, on_system_dnc=flags.on_system_dnc, on_campaign_dnc=flags.on_campaign_dnc,
        record_do_not_call=flags.record_do_not_call, consent=flags.consent,
        attempts=tuple(attempts.get(e164, ())), last_abandoned_s=abandoned.get(e164), agent_reserved=agent_reserved,
    )
    verdict = may_dial(now_s, facts, definition.rules())
    last_no = await session.scalar(
        select(func.max(CampaignAttempt.attempt_no))
        .where(CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.e164 == e164)
    )
    row = CampaignAttempt(campaign_id=campaign_id, e164=e164, contact_id=contact_id, lead_id=lead_id,
                          attempt_no=(last_no or 0) + 1, created_at=_utc(now_s), preview_agent=preview_agent)
    if isinstance(verdict, Refusal) and (verdict.reason is Reason.IN_FLIGHT or verdict.retry_at_s is not None):
        # Waiting lifts it (a race with the list's verdict of a moment ago): nothing to log as a row.
        return verdict
    if isinstance(verdict, Refusal):
        row.state, row.refusal_reason = AttemptState.REFUSED, verdict.reason
    else:
        row.state, row.action_id = AttemptState.PLANNED, f"cc-dial-{uuid.uuid4().hex}"
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # Another instance wrote this attempt number first: it dials (or refused) it, we do not.
        return Refusal(Reason.IN_FLIGHT, "another instance claimed this number's attempt at the same moment")
    if isinstance(verdict, Refusal):
        log.info("campaign %d: %s refused immediately before dialling: %s (%s)", campaign_id, e164,
                 verdict.reason.value, verdict.detail)
        return verdict
    assert isinstance(verdict, Permit) and row.action_id is not None
    return Claimed(row.id, row.action_id, row.attempt_no, verdict.until_s)


async def mark_dialling(session: AsyncSession, attempt_id: int, *, at_s: float) -> None:
    row = await session.get(CampaignAttempt, attempt_id)
    if row is not None and row.state is AttemptState.PLANNED:
        row.state, row.dialled_at = AttemptState.DIALLING, _utc(at_s)


async def not_sent(session: AsyncSession, attempt_id: int, *, why: str) -> None:
    """The Originate never left: the row stays as a record (``refused``, ``not_sent``), and, refusals not counting as
    attempts, the number is as callable as before."""
    row = await _locked(session, id=attempt_id)
    if row is not None and row.state in (AttemptState.PLANNED, AttemptState.DIALLING):
        row.state, row.refusal_reason = AttemptState.REFUSED, Reason.NOT_SENT
        log.warning("campaign %d attempt %d (%s) not dialled: %s", row.campaign_id, row.id, row.e164, why)


async def record_result(
    session: AsyncSession, result: AttemptResult, *, ended_s: float, answered_s: float | None, agent_id: int | None
) -> CampaignAttempt | None:
    """Write how the attempt ended (row-locked, as the CRM bridge links its activity under the same lock)."""
    row = await session.scalar(
        select(CampaignAttempt).where(CampaignAttempt.id == result.attempt_id).with_for_update()
    )
    if row is None:
        return None
    row.state = AttemptState.ENDED
    row.outcome = result.outcome
    row.amd_result = result.amd_status
    row.abandoned = result.outcome is AttemptOutcome.ABANDONED
    row.ended_at = _utc(ended_s)
    if answered_s is not None and result.outcome in (*LIVE_ANSWERED, AttemptOutcome.MACHINE):
        row.answered_at = _utc(answered_s)
    row.agent_id = agent_id
    return row


async def unfinished(session: AsyncSession, campaign_ids: list[int]) -> list[CampaignAttempt]:
    """Attempts of these campaigns that were claimed or dialled and never ended (an instance lost them)."""
    if not campaign_ids:
        return []
    return list(await session.scalars(
        select(CampaignAttempt).where(
            CampaignAttempt.campaign_id.in_(campaign_ids),
            CampaignAttempt.state.in_((AttemptState.PLANNED, AttemptState.DIALLING, AttemptState.ANSWERED)))
        .order_by(CampaignAttempt.id)
    ))


async def window_counts(session: AsyncSession, campaign_id: int, *, now_s: float, window_s: float) -> AbandonCounts:
    """The campaign's calls that ended within the legal window, as compliance.count_window counts them."""
    rows = (await session.execute(
        select(CampaignAttempt.outcome, func.count())
        .where(CampaignAttempt.campaign_id == campaign_id,
               CampaignAttempt.ended_at > _utc(now_s) - timedelta(seconds=window_s))
        .group_by(CampaignAttempt.outcome)
    )).all()
    by = {AttemptOutcome(o): n for o, n in rows if o is not None}
    live = sum(n for o, n in by.items() if o in LIVE_ANSWERED)
    return AbandonCounts(live, by.get(AttemptOutcome.ABANDONED, 0), by.get(AttemptOutcome.MACHINE, 0))


# -- the attempt in the CRM --------------------------------------------------------------------------------------------

# What a call's outcome says about an attempt whose own end was not seen (lost with an instance or an AMI session).
_FROM_CALL: dict[str, AttemptOutcome] = {
    CallOutcome.ANSWERED: AttemptOutcome.CONNECTED,
    CallOutcome.ABANDONED: AttemptOutcome.ABANDONED,
    CallOutcome.BUSY: AttemptOutcome.BUSY,
    CallOutcome.MISSED: AttemptOutcome.NO_ANSWER,
}


def attempt_meta(row: CampaignAttempt, *, recognised_by: str | None = None) -> dict[str, object]:
    """The attempt as the call activity's ``call_meta["dialer"]`` shows it."""
    meta: dict[str, object] = {
        "campaign_id": row.campaign_id, "attempt_id": row.id, "attempt_no": row.attempt_no,
        "outcome": None if row.outcome is None else row.outcome.value, "amd": row.amd_result,
        "abandoned": row.abandoned,
    }
    if recognised_by:
        meta["recognised_by"] = recognised_by
    return meta


async def _locked(session: AsyncSession, **where: object) -> CampaignAttempt | None:
    query = select(CampaignAttempt).with_for_update()
    for name, value in where.items():
        query = query.where(getattr(CampaignAttempt, name) == value)
    return await session.scalar(query)


async def link_activity(session: AsyncSession, action_id: str, activity: Activity) -> CampaignAttempt | None:
    """The CRM bridge wrote the call of ``action_id``: tie it to its attempt both ways, under the attempt's row lock
    (the runner writes the attempt's end under the same lock, so whichever comes second sees the other's)."""
    row = await _locked(session, action_id=action_id)
    if row is None:
        return None  # not a campaign attempt (an agent-first Originate, or another system's)
    row.activity_id = activity.id
    activity.call_meta = {**activity.call_meta, "dialer": attempt_meta(row)}
    if activity.team_id is None:
        activity.team_id = await session.scalar(select(Campaign.team_id).where(Campaign.id == row.campaign_id))
    return row


async def describe_on_activity(session: AsyncSession, row: CampaignAttempt, *, recognised_by: str) -> None:
    activity = await session.get(Activity, row.activity_id)
    if activity is not None:
        activity.call_meta = {**activity.call_meta, "dialer": attempt_meta(row, recognised_by=recognised_by)}


async def write_failed_activity(session: AsyncSession, row: CampaignAttempt, *, recognised_by: str,
                                team_id: int | None) -> Activity:
    """The activity of an attempt that made no channel (no CallEnded will come for it): so every attempt is in the
    CRM, the failed ones included."""
    started = row.dialled_at or row.created_at
    activity = Activity(
        kind=ActivityKind.CALL, direction=Direction.OUTBOUND, subject=f"campaign call {row.outcome}",
        started_at=started, ended_at=row.ended_at or started, result=CallOutcome.FAILED.value,
        call_id=row.action_id, to_e164=row.e164, to_raw=row.e164, contact_id=row.contact_id, lead_id=row.lead_id,
        team_id=team_id, wait_s=0.0, talk_s=0.0,
        call_meta={"campaign": str(row.campaign_id), "originate_action_id": row.action_id,
                   "dialer": attempt_meta(row, recognised_by=recognised_by)},
    )
    session.add(activity)
    await session.flush()
    row.activity_id = activity.id
    return activity


async def resolve_lost(session: AsyncSession, attempt_id: int, *, now_s: float, why: str,
                       outcome: AttemptOutcome | None = None, agent_id: int | None = None) -> CampaignAttempt | None:
    """End an attempt whose own end its dialling instance never saw: with ``outcome`` when the caller read it from the
    call's end, else from the call's activity when the CRM bridge wrote one, else failed."""
    row = await _locked(session, id=attempt_id)
    if row is None or row.state in (AttemptState.ENDED, AttemptState.REFUSED):
        return None
    activity = None if row.activity_id is None else await session.get(Activity, row.activity_id)
    if outcome is None:
        outcome = (_FROM_CALL.get(activity.result or "", AttemptOutcome.FAILED) if activity is not None
                   else AttemptOutcome.FAILED)
    if outcome is AttemptOutcome.CONNECTED:
        row.agent_id = agent_id
    row.state, row.outcome = AttemptState.ENDED, outcome
    row.abandoned = outcome is AttemptOutcome.ABANDONED
    row.ended_at = activity.ended_at if activity is not None and activity.ended_at else _utc(now_s)
    said = f"lost: {why}; not re-sent"
    if activity is not None:
        activity.call_meta = {**activity.call_meta, "dialer": attempt_meta(row, recognised_by=said)}
    else:
        await session.flush()
        await write_failed_activity(session, row, recognised_by=said,
                                    team_id=await session.scalar(select(Campaign.team_id).where(Campaign.id == row.campaign_id)))
    log.warning("campaign %d attempt %d (%s) %s: %s", row.campaign_id, row.id, row.e164, outcome.value, said)
    return row


async def file_agent_task(session: AsyncSession, row: CampaignAttempt, *, team_id: int | None, campaign_name: str) -> Task:
    """retry.after_last = agent_task: the number is used up; a callback for the team's pool (merged into an open one
    for the number, which the CRM keeps one of)."""
    note = f"campaign {row.campaign_id} ({campaign_name}): retries used up, last {row.outcome}"
    task = await session.scalar(select(Task).where(Task.callback_e164 == row.e164, OPEN_CALLBACK).with_for_update())
    if task is not None:
        task.description += f"\n{note}"
        return task
    task = Task(title=f"Call {row.e164} ({campaign_name})"[:300], description=note, kind=TaskKind.CALLBACK,
                status=TaskStatus.OPEN, priority=1, team_id=team_id, due_at=row.ended_at, callback_e164=row.e164,
                contact_id=row.contact_id, lead_id=row.lead_id)
    session.add(task)
    await session.flush()
    return task
