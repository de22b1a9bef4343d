"""The single client profile: one call returns a record's whole timeline of calls, tasks, notes and deals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import records
from crm_core.access import Principal, activity_filter
from crm_core.errors import NotFound
from crm_core.models import Activity, Deal, Entity, Lead, Task, TaskStatus
from crm_core.recording_models import Transcript
from crm_core.schemas import ActivityOut, CompanyOut, ContactOut, DealOut, LeadOut, ProfileOut, TaskOut, TimelineItem
from crm_core.types import utcnow
from crm_core.work import is_overdue

_RECORD_OUT = {Entity.CONTACT: ContactOut, Entity.COMPANY: CompanyOut, Entity.LEAD: LeadOut}


async def _related_ids(session: AsyncSession, entity: Entity, record_id: int) -> dict[str, list[int]]:
    """Everything that belongs to the record, including the lead it was converted from and its deals."""
    ids: dict[str, list[int]] = {"contact_id": [], "company_id": [], "lead_id": [], "deal_id": []}
    ids[f"{entity.value}_id"].append(record_id)
    if entity is not Entity.LEAD:
        column = Lead.converted_contact_id if entity is Entity.CONTACT else Lead.converted_company_id
        ids["lead_id"] += list(await session.scalars(select(Lead.id).where(column == record_id)))
    deal_filter = [getattr(Deal, k).in_(v) for k, v in ids.items() if k != "deal_id" and v]
    ids["deal_id"] = list(await session.scalars(select(Deal.id).where(or_(*deal_filter))))
    return ids


def _linked(model: Any, ids: dict[str, list[int]]) -> Any:
    return or_(*(getattr(model, k).in_(v) for k, v in ids.items() if v))


async def _transcripts(session: AsyncSession, principal: Principal, activities: list[Activity]) -> dict[str, Any]:
    """call id -> its (first) transcript as the timeline shows it, for the calls the principal may see.

    Seeing a record does not mean seeing every call with it: the same rule as the transcript routes (agent: own
    calls, supervisor: the team's) decides, so the timeline never shows more than ``/transcripts/{id}`` would.
    """
    call_ids = [a.call_id for a in activities if a.call_id]
    if not call_ids:
        return {}
    visible = select(Activity.call_id).where(Activity.call_id.in_(call_ids), activity_filter(principal))
    rows = await session.scalars(
        select(Transcript).where(Transcript.call_id.in_(visible)).order_by(Transcript.id.desc())
    )
    out: dict[str, Any] = {}
    for t in rows:  # newest first, so the first take's transcript wins
        out[t.call_id] = {
            "id": t.id,
            "url": f"/api/v1/transcripts/{t.id}",
            "language": t.language,
            "duration_s": t.duration_s,
            # Who said what, without the word timings (the transcript route has those).
            "turns": [{k: turn.get(k) for k in ("speaker", "start_s", "end_s", "text")} for turn in t.conversation],
        }
    return out


async def profile(
    session: AsyncSession, principal: Principal, entity: Entity, record_id: int, *, limit: int = 100
) -> ProfileOut:
    if entity is Entity.DEAL:
        raise NotFound("profiles are for contacts, companies and leads")
    record = await records.get(session, principal, entity, record_id)
    ids = await _related_ids(session, entity, record_id)
    deals = list(await session.scalars(select(Deal).where(Deal.id.in_(ids["deal_id"])).order_by(Deal.id.desc())))
    activities = list(await session.scalars(
        select(Activity).where(_linked(Activity, ids)).order_by(Activity.started_at.desc()).limit(limit)
    ))
    transcripts = await _transcripts(session, principal, activities)
    tasks = list(await session.scalars(select(Task).where(_linked(Task, ids)).order_by(Task.created_at.desc()).limit(limit)))
    now = utcnow()
    task_outs = [TaskOut.model_validate(t).model_copy(update={"overdue": is_overdue(t, now)}) for t in tasks]
    items = [
        TimelineItem(type="activity", at=a.started_at, id=a.id, data=ActivityOut.model_validate(a).model_dump(mode="json"))
        for a in activities
    ]
    for item, a in zip(items, activities):
        if a.call_id in transcripts:
            item.data["transcript"] = transcripts[a.call_id]
    items += [TimelineItem(type="task", at=t.created_at, id=t.id, data=t.model_dump(mode="json")) for t in task_outs]
    deal_outs = [DealOut.model_validate(d) for d in deals]
    items += [TimelineItem(type="deal", at=d.created_at, id=d.id, data=d.model_dump(mode="json")) for d in deal_outs]
    items.sort(key=lambda item: item.at, reverse=True)
    return ProfileOut(
        entity=entity,
        id=record_id,
        record=_RECORD_OUT[entity].model_validate(record).model_dump(mode="json"),
        deals=deal_outs,
        open_tasks=[t for t in task_outs if t.status is TaskStatus.OPEN],
        timeline=items[:limit],
    )
