"""Deals in pipelines of ordered stages, with a stage history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import custom_fields
from crm_core.access import Principal, check_assignable, owner_filter
from crm_core.errors import Conflict, Forbidden, Invalid, NotFound
from crm_core.models import (
    Deal,
    DealProduct,
    DealStageChange,
    DealStatus,
    Entity,
    Pipeline,
    PipelineStage,
    Role,
    StageKind,
)
from crm_core.paging import Page, paginate
from crm_core.schemas import DealIn, PipelineIn
from crm_core.types import utcnow

_STATUS_OF = {StageKind.OPEN: DealStatus.OPEN, StageKind.WON: DealStatus.WON, StageKind.LOST: DealStatus.LOST}


async def create_pipeline(session: AsyncSession, principal: Principal, data: PipelineIn) -> Pipeline:
    if principal.role is not Role.ADMIN:
        raise Forbidden("only an admin defines pipelines")
    names = [s.name for s in data.stages]
    if len(set(names)) != len(names):
        raise Invalid("stage names must be unique within a pipeline", field="stages")
    if data.is_default:
        for other in await session.scalars(select(Pipeline).where(Pipeline.is_default.is_(True))):
            other.is_default = False
    pipeline = Pipeline(name=data.name, team_id=data.team_id, is_default=data.is_default)
    pipeline.stages = [PipelineStage(name=s.name, kind=s.kind, position=i) for i, s in enumerate(data.stages)]
    try:
        async with session.begin_nested():
            session.add(pipeline)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a pipeline named {data.name!r} exists", field="name") from None
    return pipeline


async def list_pipelines(session: AsyncSession) -> list[Pipeline]:
    return list(await session.scalars(select(Pipeline).order_by(Pipeline.id)))


async def _pipeline(session: AsyncSession, pipeline_id: int | None) -> Pipeline:
    if pipeline_id is None:
        pipeline = await session.scalar(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1))
        if pipeline is None:
            raise Invalid("no pipeline exists yet; an admin must create one", field="pipeline_id")
        return pipeline
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(f"pipeline {pipeline_id} not found", field="pipeline_id")
    return pipeline


def _stage(pipeline: Pipeline, stage_id: int | None, *, field: str = "stage_id") -> PipelineStage:
    if stage_id is None:
        return pipeline.stages[0]
    for stage in pipeline.stages:
        if stage.id == stage_id:
            return stage
    raise Invalid(f"stage {stage_id} is not in pipeline {pipeline.id}", field=field)


async def _validated_custom(session: AsyncSession, pipeline: Pipeline, stage: PipelineStage, values: dict[str, Any]) -> dict[str, Any]:
    definitions = await custom_fields.definitions_for(session, Entity.DEAL)
    positions: dict[int, int] = {}
    for definition in definitions:
        if definition.required_from_stage_id is not None:
            threshold = await session.get(PipelineStage, definition.required_from_stage_id)
            # A rule for another pipeline's stage does not apply to this deal.
            if threshold is not None and threshold.pipeline_id == pipeline.id:
                positions[threshold.id] = threshold.position
    return custom_fields.validate(definitions, values, stage_position=stage.position, stage_positions=positions)


async def _check_links(session: AsyncSession, principal: Principal, contact_id: int | None, company_id: int | None) -> None:
    from crm_core import records

    if contact_id is not None:
        await records.get(session, principal, Entity.CONTACT, contact_id, field="contact_id")
    if company_id is not None:
        await records.get(session, principal, Entity.COMPANY, company_id, field="company_id")


async def create_deal(session: AsyncSession, principal: Principal, data: DealIn, *, lead_id: int | None = None) -> Deal:
    pipeline = await _pipeline(session, data.pipeline_id)
    stage = _stage(pipeline, data.stage_id)
    responsible_id = data.responsible_id
    if responsible_id is None and principal.role is Role.AGENT:
        responsible_id = principal.user_id
    await check_assignable(session, principal, responsible_id, field="responsible_id")
    await _check_links(session, principal, data.contact_id, data.company_id)
    deal = Deal(
        title=data.title,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        status=_STATUS_OF[stage.kind],
        amount=data.amount,
        currency=data.currency,
        contact_id=data.contact_id,
        company_id=data.company_id,
        lead_id=lead_id,
        responsible_id=responsible_id,
        custom=await _validated_custom(session, pipeline, stage, data.custom),
        closed_at=None if stage.kind is StageKind.OPEN else utcnow(),
        products=[DealProduct(**p.model_dump()) for p in data.products],
    )
    session.add(deal)
    await session.flush()
    session.add(DealStageChange(deal_id=deal.id, from_stage_id=None, to_stage_id=stage.id, changed_by_id=principal.user_id))
    await session.flush()
    return deal


async def get_deal(session: AsyncSession, principal: Principal, deal_id: int) -> Deal:
    deal = await session.scalar(select(Deal).where(Deal.id == deal_id, owner_filter(principal, Deal.responsible_id)))
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    return deal


async def list_deals(
    session: AsyncSession,
    principal: Principal,
    *,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    status: DealStatus | None = None,
    contact_id: int | None = None,
    company_id: int | None = None,
    responsible_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Deal]:
    query = select(Deal).where(owner_filter(principal, Deal.responsible_id)).order_by(Deal.id.desc())
    for column, value in (
        (Deal.pipeline_id, pipeline_id),
        (Deal.stage_id, stage_id),
        (Deal.status, status),
        (Deal.contact_id, contact_id),
        (Deal.company_id, company_id),
        (Deal.responsible_id, responsible_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return await paginate(session, query, limit=limit, offset=offset)


async def update_deal(session: AsyncSession, principal: Principal, deal_id: int, changes: dict[str, Any]) -> Deal:
    deal = await get_deal(session, principal, deal_id)
    if changes.get("lost_reason") is not None and deal.status is not DealStatus.LOST:
        raise Invalid(f"deal {deal_id} is {deal.status.value}: only a lost deal has a lost reason", field="lost_reason")
    if "responsible_id" in changes and changes["responsible_id"] != deal.responsible_id:
        await check_assignable(session, principal, changes["responsible_id"], field="responsible_id")
    await _check_links(session, principal, changes.get("contact_id"), changes.get("company_id"))
    if "custom" in changes:
        pipeline = await _pipeline(session, deal.pipeline_id)
        merged = {k: v for k, v in {**deal.custom, **(changes.pop("custom") or {})}.items() if v is not None}
        deal.custom = await _validated_custom(session, pipeline, _stage(pipeline, deal.stage_id), merged)
    for key, value in changes.items():
        setattr(deal, key, value)
    await session.flush()
    return deal


async def move_stage(
    session: AsyncSession, principal: Principal, deal_id: int, stage_id: int, *, lost_reason: str | None = None
) -> Deal:
    deal = await get_deal(session, principal, deal_id)
    pipeline = await _pipeline(session, deal.pipeline_id)
    stage = _stage(pipeline, stage_id)
    if lost_reason is not None and stage.kind is not StageKind.LOST:
        raise Invalid(f"a lost reason goes with a lost stage; stage {stage.id} is {stage.kind.value}", field="lost_reason")
    if stage.kind is StageKind.LOST and lost_reason is not None:
        deal.lost_reason = lost_reason
    if stage.id == deal.stage_id:
        await session.flush()
        return deal
    if stage.kind is not StageKind.LOST:
        deal.lost_reason = None  # reopened or won: the old reason no longer applies
    # Required-from-stage fields must be filled before the deal may enter that stage.
    await _validated_custom(session, pipeline, stage, deal.custom)
    session.add(DealStageChange(deal_id=deal.id, from_stage_id=deal.stage_id, to_stage_id=stage.id, changed_by_id=principal.user_id))
    deal.stage_id = stage.id
    deal.status = _STATUS_OF[stage.kind]
    deal.closed_at = None if stage.kind is StageKind.OPEN else utcnow()
    await session.flush()
    return deal


async def stage_history(session: AsyncSession, principal: Principal, deal_id: int) -> list[DealStageChange]:
    await get_deal(session, principal, deal_id)
    rows = await session.scalars(
        select(DealStageChange).where(DealStageChange.deal_id == deal_id).order_by(DealStageChange.id)
    )
    return list(rows)


async def delete_deal(session: AsyncSession, principal: Principal, deal_id: int) -> None:
    await session.delete(await get_deal(session, principal, deal_id))
    await session.flush()
