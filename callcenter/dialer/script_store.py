"""Inbound call scripts (table call_scripts) and the resolver that picks and fills a call's script.

Who: admins (any team) and supervisors (their own team) read and write a team's inbound scripts; a campaign's script
is its definition's, its campaign managers' (campaign_store). Another team's script answers 404, as other teams' ids
tell nothing. Every refusal names its field (``body``, ``stage_id``, ``segment``, ``team_id``).

Which script a call gets (``resolve``): a campaign call (CC_CAMPAIGN on the live call) the campaign's script; an
inbound call the script of the caller's open deal's stage, else of a segment (a tag on the caller's contact or lead;
the highest priority wins when several tags have one), from the agent's team's scripts; else none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.dialer.call_record import CalledRecord, called_record, campaign_of, int_or_none, script_values
from callcenter.dialer.scripts import fill, parse_script
from crm_core.access import Principal
from crm_core.errors import Conflict, Forbidden, Invalid, NotFound
from crm_core.models import CustomFieldDef, Entity, Pipeline, PipelineStage, Role, Team, User
from crm_core.phones import try_normalize
from crm_core.records import PhoneRules
from crm_core.script_models import CallScript
from crm_core.types import utcnow

__all__ = [
    "CallOnPhone", "campaign_codes", "check_body", "create", "delete", "get", "list_scripts", "may_manage", "resolve",
    "update",
]

MANAGERS = frozenset({Role.ADMIN, Role.SUPERVISOR})


def may_manage(principal: Principal) -> None:
    if principal.role not in MANAGERS or principal.scope is not None:
        raise Forbidden("inbound call scripts are kept by supervisors (their team's) and admins")


def check_body(body: str, *, field: str = "body") -> str:
    try:
        parse_script(body)
    except ValueError as exc:
        raise Invalid(str(exc), field=field) from None
    return body


async def check_custom_fields(session: AsyncSession, body: str | None, *, field: str) -> None:
    """Every {<entity>.custom.<key>} of the script is a defined custom field of that kind of record."""
    if not body:
        return
    for entity, key in sorted(parse_script(body).custom_fields):
        found = await session.scalar(select(CustomFieldDef.id).where(CustomFieldDef.entity == Entity(entity),
                                                                     CustomFieldDef.key == key))
        if found is None:
            raise Invalid(f"unknown placeholder {{{entity}.custom.{key}}}: {entity}s have no custom field {key!r}",
                          field=field)


def _visible(principal: Principal) -> Select[Any]:
    query = select(CallScript)
    if not principal.is_admin:
        query = query.where(CallScript.team_id == principal.team_id)
    return query


async def list_scripts(session: AsyncSession, principal: Principal, team_id: int | None = None) -> Select[Any]:
    may_manage(principal)
    query = _visible(principal).order_by(CallScript.team_id, CallScript.id)
    return query.where(CallScript.team_id == team_id) if team_id is not None else query


async def get(session: AsyncSession, principal: Principal, script_id: int, *, for_update: bool = False) -> CallScript:
    may_manage(principal)
    query = _visible(principal).where(CallScript.id == script_id)
    script = await session.scalar(query.with_for_update() if for_update else query)
    if script is None:
        raise NotFound(f"no call script {script_id}", field="id")
    return script


async def _check_team(session: AsyncSession, principal: Principal, team_id: int | None) -> int:
    if team_id is None:
        if principal.team_id is None:
            raise Invalid("say which team the script is for", field="team_id")
        team_id = principal.team_id
    if not principal.is_admin and team_id != principal.team_id:
        raise Forbidden("a supervisor keeps their own team's scripts only", field="team_id")
    if await session.get(Team, team_id) is None:
        raise Invalid(f"team {team_id} does not exist", field="team_id")
    return team_id


async def _check_stage(session: AsyncSession, team_id: int, stage_id: int) -> None:
    """The stage exists in a pipeline the team uses (its own, or one of no team)."""
    row = await session.execute(
        select(Pipeline.team_id).join(PipelineStage, PipelineStage.pipeline_id == Pipeline.id)
        .where(PipelineStage.id == stage_id)
    )
    found = row.first()
    if found is None or found.team_id not in (None, team_id):
        raise Invalid(f"no pipeline stage {stage_id} in the team's pipelines", field="stage_id")


def _check_key(stage_id: int | None, segment: str | None) -> None:
    if (stage_id is None) == (segment is None):
        raise Invalid("a script is for a deal stage (stage_id) or for a segment (segment), exactly one",
                      field="stage_id" if stage_id is not None else "segment")


async def _flush_unique(session: AsyncSession, script: CallScript) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        key = "stage_id" if script.stage_id is not None else "segment"
        raise Conflict(f"the team already has a script for this {key.replace('_id', '')}", field=key) from None


async def create(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> CallScript:
    may_manage(principal)
    team_id = await _check_team(session, principal, data.get("team_id"))
    _check_key(data.get("stage_id"), data.get("segment"))
    if data.get("stage_id") is not None:
        await _check_stage(session, team_id, data["stage_id"])
    await check_custom_fields(session, check_body(data["body"]), field="body")
    script = CallScript(team_id=team_id, name=data["name"], body=data["body"], stage_id=data.get("stage_id"),
                        segment=data.get("segment"), priority=data.get("priority", 0), created_by_id=principal.user_id)
    session.add(script)
    await _flush_unique(session, script)
    return script


async def update(session: AsyncSession, principal: Principal, script_id: int, changes: dict[str, Any]) -> CallScript:
    script = await get(session, principal, script_id, for_update=True)
    if "team_id" in changes and changes["team_id"] != script.team_id:
        raise Invalid("a script stays with its team (make a new one for another team)", field="team_id")
    if "body" in changes:
        await check_custom_fields(session, check_body(changes["body"]), field="body")
    stage_id = changes.get("stage_id", script.stage_id)
    segment = changes.get("segment", script.segment)
    _check_key(stage_id, segment)
    if stage_id is not None and stage_id != script.stage_id:
        await _check_stage(session, script.team_id, stage_id)
    for key, value in changes.items():
        setattr(script, key, value)
    script.updated_at = utcnow()
    await _flush_unique(session, script)
    return script


async def delete(session: AsyncSession, principal: Principal, script_id: int) -> None:
    await session.delete(await get(session, principal, script_id))
    await session.flush()


# -- the resolver ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallOnPhone:
    """What the live model says about a call an agent is on."""

    call_id: str
    customer: str | None  # the customer's number as on the call
    campaign: str | None = None  # CC_CAMPAIGN
    dial_attempt: str | None = None  # CC_DIAL_ATTEMPT


async def _inbound_script(session: AsyncSession, team_id: int | None, found: CalledRecord | None) -> CallScript | None:
    if team_id is None or found is None:
        return None
    if found.deal is not None:
        script = await session.scalar(select(CallScript).where(CallScript.team_id == team_id,
                                                               CallScript.stage_id == found.deal.stage_id))
        if script is not None:
            return script
    if not found.tags:
        return None
    return await session.scalar(
        select(CallScript).where(CallScript.team_id == team_id, CallScript.segment.in_(found.tags))
        .order_by(CallScript.priority.desc(), CallScript.id).limit(1)
    )


async def resolve(session: AsyncSession, rules: PhoneRules, on_call: CallOnPhone, agent_id: int | None) -> dict[str, Any] | None:
    """The call's script filled in for this agent, as sent to the page: ``source`` (campaign, stage, segment), the
    script's ``name``, ``text`` and ``parts`` (callcenter.dialer.scripts); None when no script applies."""
    agent = await session.get(User, agent_id) if agent_id is not None else None
    campaign = await campaign_of(session, on_call.campaign) if on_call.campaign else None
    parsed = try_normalize(on_call.customer, region=rules.region) if on_call.customer else None
    e164 = parsed.e164 if parsed is not None else None
    found = await called_record(session, rules, attempt_id=int_or_none(on_call.dial_attempt), e164=e164)
    if campaign is not None:
        text = (campaign.definition or {}).get("script")
        if not text:
            return None  # a campaign call without a script: the campaign's choice, no inbound script instead
        source, name, ref = "campaign", campaign.name, {"campaign_id": campaign.id}
    else:
        script = await _inbound_script(session, agent.team_id if agent else None, found)
        if script is None:
            return None
        text = script.body
        source, name, ref = ("stage" if script.stage_id is not None else "segment"), script.name, {"script_id": script.id}
    try:
        parsed_script = parse_script(text)
    except ValueError:
        return None  # checked when saved; a placeholder retired since must not break the call pop
    values = await script_values(session, found, agent=agent, campaign=campaign, e164=e164 or on_call.customer)
    return {"source": source, "name": name, **ref, **fill(parsed_script, values).to_json()}


async def campaign_codes(session: AsyncSession, on_call: CallOnPhone) -> dict[str, Any] | None:
    """A campaign call's campaign and its own disposition codes, for the agent's wrap-up form; None for other calls."""
    campaign = await campaign_of(session, on_call.campaign) if on_call.campaign else None
    if campaign is None:
        return None
    codes = (campaign.definition or {}).get("dispositions", {})
    return {"id": campaign.id, "name": campaign.name,
            "codes": [{"code": code, "label": spec["label"], "counts_as": spec["counts_as"]} for code, spec in codes.items()]}
