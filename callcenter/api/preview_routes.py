"""Preview dialling over HTTP: an agent takes the next card of their team's running preview campaign, sees the record
(and the campaign's call script filled in), and dials it or skips it (callcenter.dialer.runner, docs/dialer.md
"Preview mode").

For agents only (their own team's campaigns; another team's is 404, as campaign_store answers); everyone else 403.
Whatever stops a card or a dial answers 409 naming it in ``field``: ``state`` (not running), ``mode`` (not preview),
``list`` (nothing callable now, with ``retry_at_s``), ``card`` (no card shown), ``agent_state`` (not available),
``e164`` (the number refused immediately before the dial, with its ``reason``), ``extension``, ``dialer`` (no AMI).

Nothing here uses the request's own transaction: on SQLite it would take the writer lock the runner's claim needs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from callcenter.api.framework import Api, Call
from callcenter.api.saved_report_routes import _json
from callcenter.dialer.call_record import called_record, script_values
from callcenter.dialer.live_status import DIALER
from callcenter.dialer.outcomes import CampaignMode, CampaignState
from callcenter.dialer.runner import DialerRunner, PreviewCard, PreviewRefused
from callcenter.dialer.scripts import fill, parse_script
from callcenter.app_keys import DATABASE
from crm_core.dialer_models import Campaign
from crm_core.errors import Conflict, Forbidden, NotFound
from crm_core.models import Activity, Role, User
from crm_core.report_models import SavedReport

api = Api()
V1 = "/api/v1"
TAG = "dialer"


class PreviewCampaignOut(BaseModel):
    id: int
    name: str
    priority: int


class ScriptPartOut(BaseModel):
    text: str
    field: str | None = None
    missing: bool = False


class CardScriptOut(BaseModel):
    text: str
    parts: list[ScriptPartOut]


class CardOut(BaseModel):
    campaign_id: int
    campaign_name: str
    entity: str  # the dial list's records: contacts, leads, deals, companies
    record_id: int
    e164: str
    values: dict[str, Any]  # the report's columns (text for the page, never HTML)
    script: CardScriptOut | None  # the campaign's script filled in for this record; null: the campaign has none


class DialOut(BaseModel):
    campaign_id: int
    attempt_id: int
    e164: str


def _database(call: Call) -> Any:
    return call.request.app[DATABASE]


async def _agent(call: Call) -> tuple[User, DialerRunner | None]:
    principal = call.principal
    if principal.scope is not None or principal.role is not Role.AGENT or principal.user_id is None:
        raise Forbidden("preview cards are for agents")
    async with _database(call).read_session() as session:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise Forbidden("preview cards are for agents")
        session.expunge(user)
    runner = call.request.app.get(DIALER)
    return user, runner if isinstance(runner, DialerRunner) else None


async def _campaign(call: Call) -> tuple[User, DialerRunner, Campaign]:
    """The asking agent, the runner and the campaign: another team's campaign is not found, as campaign_store says."""
    user, runner = await _agent(call)
    campaign_id = call.path_int("id")
    async with _database(call).read_session() as session:
        campaign = None if user.team_id is None else await session.scalar(
            select(Campaign).where(Campaign.id == campaign_id, Campaign.team_id == user.team_id))
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found", field="id")
        session.expunge(campaign)
    if runner is None:
        raise Conflict("no dialer runs here (no Asterisk is configured)", field="dialer")
    if not user.extension:
        raise Conflict("you have no extension: a preview call needs your phone", field="extension")
    return user, runner, campaign


def _refused(refusal: PreviewRefused) -> Conflict:
    details: dict[str, Any] = {"retry_at_s": refusal.retry_at_s}
    if refusal.reason is not None:
        details["reason"] = refusal.reason
    return Conflict(refusal.message, field=refusal.field, **details)


async def _card_out(call: Call, user: User, campaign: Campaign, card: PreviewCard) -> dict[str, Any]:
    candidate = card.candidate
    async with _database(call).read_session() as session:
        entity = await session.scalar(select(SavedReport.entity).where(SavedReport.id == campaign.saved_report_id))
        text = (campaign.definition or {}).get("script")
        script = None
        if text:
            # The record the dial will be about: the dial list's contact or lead (a transient activity carries the
            # link, never added to the session), else the owner of the number (a deal's or a company's list).
            links = Activity(contact_id=candidate.contact_id, lead_id=candidate.lead_id)
            found = await called_record(session, call.rules, e164=candidate.e164,
                                        activity=links if candidate.contact_id or candidate.lead_id else None)
            values = await script_values(session, found, agent=user, campaign=campaign, e164=candidate.e164)
            try:
                script = fill(parse_script(text), values).to_json()
            except ValueError:
                script = None  # checked when saved; a placeholder retired since must not hide the card
    return {"campaign_id": campaign.id, "campaign_name": campaign.name, "entity": str(entity or ""),
            "record_id": candidate.record_id, "e164": candidate.e164,
            "values": {k: _json(v) for k, v in candidate.values.items()}, "script": script}


@api.route("GET", V1 + "/preview-campaigns", summary="The running preview campaigns of the asking agent's team (agents)",
           response=PreviewCampaignOut, many=True, tag=TAG)
async def preview_campaigns(call: Call) -> Any:
    user, _ = await _agent(call)
    if user.team_id is None:
        return []
    async with _database(call).read_session() as session:
        rows = (await session.execute(
            select(Campaign.id, Campaign.name, Campaign.priority)
            .where(Campaign.team_id == user.team_id, Campaign.state == CampaignState.RUNNING,
                   Campaign.mode == CampaignMode.PREVIEW)
            .order_by(Campaign.priority.desc(), Campaign.id))).all()
    return [{"id": i, "name": n, "priority": p} for i, n, p in rows]


@api.route("POST", V1 + "/campaigns/{id}/preview/next",
           summary="The card the asking agent holds in a running preview campaign of their team, or the next "
           "permitted number of its list, held for them (agents)", response=CardOut, tag=TAG)
async def preview_next(call: Call) -> Any:
    user, runner, campaign = await _campaign(call)
    card = await runner.preview_next(campaign.id, user.extension or "")
    if isinstance(card, PreviewRefused):
        raise _refused(card)
    return await _card_out(call, user, campaign, card)


@api.route("POST", V1 + "/campaigns/{id}/preview/dial",
           summary="Dial the card the asking agent holds: checked again immediately before the dial, customer first, "
           "the answered call given to this agent (agents)", response=DialOut, tag=TAG)
async def preview_dial(call: Call) -> Any:
    user, runner, campaign = await _campaign(call)
    dialled = await runner.preview_dial(campaign.id, user.extension or "")
    if isinstance(dialled, PreviewRefused):
        raise _refused(dialled)
    return {"campaign_id": campaign.id, "attempt_id": dialled.attempt_id, "e164": dialled.e164}


@api.route("POST", V1 + "/campaigns/{id}/preview/skip",
           summary="Give up the card the asking agent holds undialled; the number stays callable (agents)",
           status=204, tag=TAG)
async def preview_skip(call: Call) -> Any:
    user, runner, campaign = await _campaign(call)
    if not await runner.preview_skip(campaign.id, user.extension or ""):
        raise Conflict("no card is shown to you", field="card")
    return None
