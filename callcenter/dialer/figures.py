"""A campaign's figures from its attempts (adapter): what the campaign page polls every 2 s.

Three grouped statements over ``dialer_attempts`` of one campaign, each led by ``campaign_id`` (the index
``ix_dialer_attempts_campaign_ended`` and the unique (campaign, number, attempt) key lead with it): the attempts by
state / outcome / refusal reason (with the legal window's share in the same pass), the connected calls per agent
with their talk time, and each number's progress. The whole list's size is not here: walking a report of 100,000
rows takes seconds (campaign_store.dial_list_figures), so the page asks for it on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.compliance import AbandonCounts, AbandonPolicy, abandon_budget, abandon_rate_pct
from callcenter.dialer.outcomes import LIVE_ANSWERED, AttemptOutcome
from callcenter.dialer.verdict import Reason
from crm_core.dialer_models import AttemptState, CampaignAttempt
from crm_core.models import Activity, User

__all__ = ["campaign_figures"]

# Attempts whose Originate was sent (a planned one is not dialled yet; a refused one never is).
_DIALLED = (AttemptState.DIALLING, AttemptState.ANSWERED, AttemptState.ENDED)


@dataclass(frozen=True, slots=True)
class _Tally:
    """Attempts of one (state, outcome, refusal reason), all time and within the legal window."""

    state: AttemptState
    outcome: AttemptOutcome | None
    reason: Reason | None
    total: int
    in_window: int


async def _tallies(session: AsyncSession, campaign_id: int, since: datetime, now: datetime) -> list[_Tally]:
    a = CampaignAttempt
    in_window = func.sum(case((and_(a.ended_at > since, a.ended_at <= now), 1), else_=0))
    rows = (await session.execute(
        select(a.state, a.outcome, a.refusal_reason, func.count(), in_window)
        .where(a.campaign_id == campaign_id)
        .group_by(a.state, a.outcome, a.refusal_reason)
    )).all()
    return [_Tally(AttemptState(s), None if o is None else AttemptOutcome(o), None if r is None else Reason(r),
                   int(n), int(w or 0)) for s, o, r, n, w in rows]


async def _agents(session: AsyncSession, campaign_id: int) -> list[dict[str, Any]]:
    """Connected calls per agent and their talk time (the call activity's, once the CRM writer has it: null until
    then, and for calls whose activity is gone)."""
    a = CampaignAttempt
    rows = (await session.execute(
        select(a.agent_id, User.name, User.extension, func.count(), func.sum(Activity.talk_s),
               func.count(Activity.talk_s))
        .outerjoin(User, User.id == a.agent_id)
        .outerjoin(Activity, Activity.id == a.activity_id)
        .where(a.campaign_id == campaign_id, a.outcome == AttemptOutcome.CONNECTED)
        .group_by(a.agent_id, User.name, User.extension)
        .order_by(func.count().desc(), a.agent_id)
    )).all()
    return [{"agent_id": agent_id, "name": name, "extension": ext, "connected": int(n),
             "talk_s": None if not timed else float(talk or 0.0), "timed_calls": int(timed)}
            for agent_id, name, ext, n, talk, timed in rows]


async def _progress(session: AsyncSession, campaign_id: int, definition: CampaignDefinition) -> dict[str, int]:
    """Numbers attempted, finished and in flight, in one statement (rows per number never reach Python): per number
    its attempts, those still going on, its latest attempt number and its attempts per retried outcome; its latest
    attempt joined by the unique (campaign, number, attempt) key. Finished: what retry_verdict would refuse for
    ever (finished or max_attempts): the latest outcome is one the campaign does not retry, or the number used up
    its attempts (all of them, or of that outcome)."""
    a = CampaignAttempt
    retry = definition.retry
    ruled = {o: r for o in AttemptOutcome if (r := getattr(retry, o.value, None)) is not None}
    per = (
        select(a.e164.label("e164"), func.count().label("n"), func.max(a.attempt_no).label("last_no"),
               func.sum(case((a.outcome.is_(None), 1), else_=0)).label("open"),
               *(func.sum(case((a.outcome == o, 1), else_=0)).label(f"n_{o.value}") for o in ruled))
        .where(a.campaign_id == campaign_id, a.state != AttemptState.REFUSED)
        .group_by(a.e164)
        .subquery()
    )
    last = aliased(CampaignAttempt)
    used_up = [and_(last.outcome == o, per.c[f"n_{o.value}"] >= r.max_attempts) for o, r in ruled.items()]
    finished = and_(per.c.open == 0, last.outcome.is_not(None),
                    or_(last.outcome.in_([o for o in AttemptOutcome if o not in ruled]),
                        per.c.n >= retry.max_attempts_per_number, *used_up))
    row = (await session.execute(
        select(func.count(), func.sum(case((finished, 1), else_=0)), func.sum(case((per.c.open > 0, 1), else_=0)))
        .select_from(per)
        .join(last, and_(last.campaign_id == campaign_id, last.e164 == per.c.e164, last.attempt_no == per.c.last_no))
    )).one()
    return {"numbers_attempted": int(row[0]), "numbers_finished": int(row[1] or 0),
            "numbers_in_flight": int(row[2] or 0)}


async def campaign_figures(
    session: AsyncSession, campaign_id: int, definition: CampaignDefinition, *, now: datetime, progress: bool = True
) -> dict[str, Any]:
    """The figures as the API gives them (callcenter.api.campaign_routes.CampaignFiguresOut). ``progress``: also
    the numbers' progress, the costly part (a group per number: 0.15-0.2 s for 100,000 attempts on PostgreSQL, see
    docs/dialer.md), which the page asks for every fifth poll."""
    spec = definition.law.abandon
    policy = AbandonPolicy(float(spec.window_s), spec.cap_pct, spec.amd_false_positive_rate)
    tallies = await _tallies(session, campaign_id, now - timedelta(seconds=policy.window_s), now)

    def total(*, states: Any = None, outcomes: Any = None, window: bool = False) -> int:
        return sum(t.in_window if window else t.total for t in tallies
                   if (states is None or t.state in states) and (outcomes is None or t.outcome in outcomes))

    machine = {AttemptOutcome.MACHINE}
    counts = AbandonCounts(live_answered=total(outcomes=LIVE_ANSWERED, window=True),
                           abandoned=total(outcomes={AttemptOutcome.ABANDONED}, window=True),
                           machine=total(outcomes=machine, window=True))
    refused: dict[str, int] = {}
    for t in tallies:
        if t.state is AttemptState.REFUSED and t.reason is not None:
            refused[t.reason.value] = refused.get(t.reason.value, 0) + t.total
    return {
        "attempts": {
            "planned": total(states={AttemptState.PLANNED}),
            "dialled": total(states=_DIALLED),
            "ringing": total(states={AttemptState.DIALLING}),
            "answered_live": total(outcomes=LIVE_ANSWERED),
            "answered_machine": total(outcomes=machine),
            "connected": total(outcomes={AttemptOutcome.CONNECTED}),
            "abandoned": total(outcomes={AttemptOutcome.ABANDONED}),
            "refused": sum(refused.values()),
        },
        "abandon": {
            "window_s": policy.window_s, "cap_pct": policy.cap_pct,
            "amd_false_positive_rate": policy.amd_false_positive_rate,
            "live_answered": counts.live_answered, "abandoned": counts.abandoned, "machine": counts.machine,
            "false_positives_est": counts.machine * policy.amd_false_positive_rate,
            "rate_pct": abandon_rate_pct(counts, policy),
            "budget": abandon_budget(counts, policy),
        },
        "outcomes": {o.value: total(outcomes={o}) for o in AttemptOutcome},
        "agents": await _agents(session, campaign_id),
        "refused": refused,
        "progress": await _progress(session, campaign_id, definition) if progress else None,
    }
