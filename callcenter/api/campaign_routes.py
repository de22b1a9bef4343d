"""Dialer campaigns over HTTP: create one from a saved report, change it, start / pause / resume / stop it, read its
dial list as of now (every number's verdict and why), and keep the do-not-call lists.

Who may do what is callcenter.dialer.campaign_store's (docs/dialer.md "Campaign API and roles"). Everything about
a campaign's body answers 400 naming the field (``law.ring_s``, ``changes.windows.mon[0].end``, ``saved_report_id``);
a state that does not allow an action answers 409 naming the state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from callcenter.api.framework import Api, BadRequest, Call
from callcenter.api.saved_report_routes import _CURSOR, ReportColumnOut, _json
from callcenter.dialer import campaign_store, dnc_store, figures
from callcenter.dialer.campaign import CampaignDefinition, parse_campaign
from callcenter.dialer.lifecycle import Action, allowed_actions
from callcenter.dialer.live_status import DIALER
from callcenter.dialer.verdict import Refusal
from callcenter.events import AgentState
from callcenter.reports.query import MAX_CURSOR_CHARS, MAX_PAGE_ROWS, CursorError, columns_of
from callcenter.app_keys import DATABASE, LIVE
from crm_core.dialer_models import Campaign, DncEntry
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.input_rules import INT64_MAX
from crm_core.paging import paginate
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"
TAG = "dialer"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignIn(CampaignDefinition):
    """A campaign's definition (callcenter.dialer.campaign): checked by parse_campaign, so a bad field answers 400
    naming its path, the same message a stored definition would give."""

    @classmethod
    def model_validate_json(cls, json_data: Any, *, strict: bool | None = None, **_: Any) -> Any:  # type: ignore[override]
        try:
            return parse_campaign(json_data)
        except Invalid as exc:
            # parse_campaign calls the whole document "definition"; here it is the request's body.
            field = "body" if exc.field in (None, "", "definition") else exc.field
            raise BadRequest(exc.message, field=field) from None


class CampaignPatchIn(_In):
    # The version the change was made on: a campaign changed meanwhile refuses it (409), nothing is overwritten.
    version: int = Field(ge=1, le=INT64_MAX)
    # Top-level fields of the definition to replace (a whole "law" or "windows" at once), e.g. {"priority": 8}.
    changes: dict[str, Any] = Field(min_length=1, max_length=20)


class CampaignOut(BaseModel):
    id: int
    name: str
    saved_report_id: int | None
    team_id: int | None
    mode: str
    state: str
    state_reason: str | None
    priority: int
    version: int
    definition: dict[str, Any]
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    # What the state allows now (start, pause, resume, stop).
    allowed_actions: list[str]


class DialRowOut(BaseModel):
    id: int  # the record's (contact, lead, deal or company)
    e164: str | None  # its first number; null: it has none
    permitted: bool  # may be dialled now
    reason: str | None  # why not (callcenter.dialer.verdict.Reason: dnc_system, no_consent, outside_window, ...)
    detail: str
    retry_at_s: float | None  # when the same check could pass (a window's opening, a retry delay's end)
    until_s: float | None  # a permitted number: when its calling window closes
    values: dict[str, Any]  # the report's columns


class ListFiguresOut(BaseModel):
    rows: int
    permitted: int
    refused: dict[str, int]  # by reason


class DialListOut(BaseModel):
    campaign_id: int
    state: str
    entity: str
    columns: list[ReportColumnOut]
    rows: list[DialRowOut]
    next_cursor: str | None  # pass back as ?cursor= for the next page; null: the last page
    figures: ListFiguresOut  # of this page (GET .../list/figures: of the whole list)


class WholeListFiguresOut(ListFiguresOut):
    campaign_id: int
    as_of: datetime


class AttemptFiguresOut(BaseModel):
    planned: int  # claimed, Originate not sent yet
    dialled: int  # Originate sent (ringing, answered or ended)
    ringing: int  # dialled, not answered yet
    answered_live: int  # by a person: connected, abandoned, callee hung up before an agent took it
    answered_machine: int  # AMD said machine
    connected: int
    abandoned: int
    refused: int  # checked immediately before the dial and not dialled


class AbandonFiguresOut(BaseModel):
    """Over the campaign's legal window (law.abandon.window_s back from now), as compliance.abandon_rate_pct."""

    window_s: float
    cap_pct: float
    amd_false_positive_rate: float
    live_answered: int
    abandoned: int
    machine: int
    false_positives_est: float  # machine x amd_false_positive_rate: counted as abandoned and as live
    rate_pct: float
    budget: float  # abandoned calls the window can still take (the pacing's compliance.abandon_budget)


class AgentFiguresOut(BaseModel):
    agent_id: int | None  # null: the agent's user was deleted
    name: str | None
    extension: str | None
    connected: int
    talk_s: float | None  # of the calls whose activity has a talk time (timed_calls); null: none has yet
    timed_calls: int


class ProgressOut(BaseModel):
    numbers_attempted: int
    numbers_finished: int  # done for this campaign: a final outcome, or their attempts used up
    numbers_in_flight: int


class CampaignFiguresOut(BaseModel):
    campaign_id: int
    state: str
    as_of: datetime
    attempts: AttemptFiguresOut
    abandon: AbandonFiguresOut
    outcomes: dict[str, int]  # every outcome, 0 included
    agents: list[AgentFiguresOut]
    refused: dict[str, int]  # refused immediately before the dial, by reason
    # null when asked with progress=false (it is the costly part); the whole list's size: GET .../list/figures
    progress: ProgressOut | None
    live: dict[str, Any] | None  # callcenter.dialer.live_status.CampaignLive; null: no instance paces it now


class DncIn(_In):
    e164: str = Field(min_length=1, max_length=64)  # an international number, + and the country code
    campaign_id: int | None = Field(default=None, ge=1, le=INT64_MAX)  # null: the system-wide list (admins)
    reason: str = Field(default="", max_length=dnc_store.MAX_REASON)


class DncEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    e164: str
    campaign_id: int | None
    reason: str
    added_by_id: int | None
    added_at: datetime


_E164_QUERY = {"type": "string", "maxLength": 64}
_BOOL_QUERY = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
_ROWS_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_ROWS}


def _out(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id, "name": campaign.name, "saved_report_id": campaign.saved_report_id,
        "team_id": campaign.team_id, "mode": campaign.mode.value, "state": campaign.state.value,
        "state_reason": campaign.state_reason, "priority": campaign.priority, "version": campaign.version,
        "definition": campaign.definition, "created_by_id": campaign.created_by_id,
        "created_at": campaign.created_at, "updated_at": campaign.updated_at,
        "allowed_actions": [a.value for a in allowed_actions(campaign.state)],
    }


def _bad_input(exc: Invalid) -> BadRequest:
    return BadRequest(exc.message, field=exc.field or "body")


@api.route(
    "POST", V1 + "/campaigns",
    summary="Create a dialer campaign (a draft) from a saved report the caller may read, for their team (campaign "
    "managers; admins: any team)",
    body=CampaignIn, response=CampaignOut, status=201, tag=TAG,
)
async def create_campaign(call: Call) -> Any:
    try:
        campaign = await campaign_store.create(call.session, call.principal, call.body)
    except Invalid as exc:
        raise _bad_input(exc) from None
    return _out(campaign)


@api.route(
    "GET", V1 + "/campaigns",
    summary="Campaigns the caller may see: their team's (campaign managers, supervisors), all (admins)",
    response=CampaignOut, query=("limit", "offset"), tag=TAG,
)
async def list_campaigns(call: Call) -> Any:
    limit, offset = call.page
    page = await paginate(call.session, await campaign_store.list_campaigns(call.session, call.principal),
                          limit=limit, offset=offset)
    return type(page)(items=[_out(c) for c in page.items], total=page.total, limit=page.limit, offset=page.offset)


@api.route("GET", V1 + "/campaigns/{id}", summary="A campaign", response=CampaignOut, tag=TAG)
async def get_campaign(call: Call) -> Any:
    return _out(await campaign_store.get_campaign(call.session, call.principal, call.path_int("id")))


@api.route(
    "PATCH", V1 + "/campaigns/{id}",
    summary="Change top-level fields of a draft or paused campaign's definition (checked as a whole new definition); "
    "the version read must still be current",
    body=CampaignPatchIn, response=CampaignOut, tag=TAG,
)
async def patch_campaign(call: Call) -> Any:
    body: CampaignPatchIn = call.body
    try:
        campaign = await campaign_store.edit(call.session, call.principal, call.path_int("id"), version=body.version,
                                             changes=body.changes)
    except Invalid as exc:
        raise _bad_input(exc) from None
    return _out(campaign)


async def _logged_in_agents(call: Call, team_id: int) -> list[str]:
    """Extensions of the team's users the live model has in any state but offline (available, ringing, talking,
    wrap-up, paused: logged in, even if not free this second)."""
    live = call.request.app[LIVE]
    return [ext for ext in await campaign_store.team_extensions(call.session, team_id)
            if live.agent_state(ext)[0] is not AgentState.OFFLINE]


def _lifecycle(action: Action) -> Any:
    async def handler(call: Call) -> Any:
        campaign = await campaign_store.transition(
            call.session, call.principal, call.path_int("id"), action,
            logged_in_agents=lambda team_id: _logged_in_agents(call, team_id),
        )
        return _out(campaign)

    handler.__name__ = f"{action.value}_campaign"
    return handler


_SUMMARIES = {
    Action.START: "Start a draft campaign (refused, naming why, when its report matches nothing or no agent of its "
    "team is logged in)",
    Action.PAUSE: "Pause a running campaign (campaign managers, admins, and the team's supervisors)",
    Action.RESUME: "Resume a paused campaign (the same checks as start)",
    Action.STOP: "Stop a campaign for good (campaign managers, admins, and the team's supervisors)",
}
for _action in Action:
    api.route("POST", V1 + f"/campaigns/{{id}}/{_action.value}", summary=_SUMMARIES[_action], response=CampaignOut,
              tag=TAG)(_lifecycle(_action))


def _row_out(row: campaign_store.ListRow) -> dict[str, Any]:
    verdict = row.verdict
    values = {k: _json(v) for k, v in row.values.items()}
    if isinstance(verdict, Refusal):  # falsy: test the type, never the truth
        return {"id": row.record_id, "e164": row.e164, "permitted": False, "reason": verdict.reason.value,
                "detail": verdict.detail, "retry_at_s": verdict.retry_at_s, "until_s": None, "values": values}
    return {"id": row.record_id, "e164": row.e164, "permitted": True, "reason": None, "detail": "",
            "retry_at_s": None, "until_s": verdict.until_s, "values": values}


@api.route(
    "GET", V1 + "/campaigns/{id}/list",
    summary="The campaign's dial list as of now: its saved report re-evaluated in its creator's scope, each record's "
    "number and whether it may be dialled now (and why not: do-not-call, consent, window, retries, ...), a page at a "
    "time with the report's keyset cursor",
    response=DialListOut, query=("cursor", "limit"), tag=TAG, query_schemas={"limit": _ROWS_LIMIT, "cursor": _CURSOR},
)
async def dial_list(call: Call) -> Any:
    campaign = await campaign_store.get_campaign(call.session, call.principal, call.path_int("id"))
    cursor = call.query_str("cursor", max_length=MAX_CURSOR_CHARS)
    limit = call.query_int("limit", default=100, low=1, high=MAX_PAGE_ROWS) or 100
    try:
        page = await campaign_store.dial_list_page(call.session, campaign, cursor=cursor, limit=limit)
    except CursorError as exc:
        raise BadRequest(exc.message, field="cursor") from None
    columns = [c for c in columns_of(page.checked) if c.name != campaign_store.PHONE_COLUMN]
    return {
        "campaign_id": campaign.id, "state": campaign.state.value, "entity": page.entity.value,
        "columns": [{"name": c.name, "label": c.label, "type": c.type} for c in columns],
        "rows": [_row_out(r) for r in page.rows], "next_cursor": page.next_cursor,
        "figures": {"rows": len(page.rows), "permitted": page.permitted, "refused": page.refused},
    }


@api.route(
    "GET", V1 + "/campaigns/{id}/list/figures",
    summary="The whole dial list's figures as of now: rows, permitted now, refused by reason (read a page at a time)",
    response=WholeListFiguresOut, tag=TAG,
)
async def dial_list_figures(call: Call) -> Any:
    now = utcnow()
    # A read-only transaction of its own, not the request's: on SQLite the request's takes the writer lock, which a
    # walk through a long list (about a second per 1,000 rows, see docs/dialer.md) must not hold while calls are written.
    async with call.request.app[DATABASE].read_session() as session:
        campaign = await campaign_store.get_campaign(session, call.principal, call.path_int("id"))
        rows, permitted, refused = await campaign_store.dial_list_figures(session, campaign, now=now)
    return {"campaign_id": campaign.id, "as_of": now, "rows": rows, "permitted": permitted, "refused": refused}


@api.route(
    "GET", V1 + "/campaigns/{id}/figures",
    summary="The campaign's figures now: dialled, ringing, answered (live / machine), connected, abandoned and the "
    "abandon rate over its legal window, outcomes, connected calls per agent, refusals by reason, the numbers' "
    "progress, and what the dialer is doing (live)",
    response=CampaignFiguresOut, query=("progress",), tag=TAG, query_schemas={"progress": _BOOL_QUERY},
)
async def campaign_figures(call: Call) -> Any:
    campaign = await campaign_store.get_campaign(call.session, call.principal, call.path_int("id"))
    now = utcnow()
    progress = call.query_bool("progress") is not False
    body = await figures.campaign_figures(call.session, campaign.id, parse_campaign(campaign.definition), now=now,
                                          progress=progress)
    source = call.request.app.get(DIALER)  # absent: no telephony configured, nothing is dialled here
    live = None if source is None else await source.live_status(campaign.id)
    return {"campaign_id": campaign.id, "state": campaign.state.value, "as_of": now, **body,
            "live": None if live is None else live.to_json()}


# -- do-not-call -----------------------------------------------------------------------------------------------------


async def _dnc_scope(call: Call, campaign_id: int | None, *, write: bool) -> None:
    """System-wide list: admins change it, campaign readers read it. A campaign's: as its campaign."""
    campaign_store.may_read(call.principal)
    if campaign_id is None:
        if write and not call.principal.is_admin:
            raise Forbidden("only an admin changes the system-wide do-not-call list", field="campaign_id")
        return
    try:
        await campaign_store.may_use_dnc_of(call.session, call.principal, campaign_id, write=write)
    except NotFound:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id") from None


def _e164(raw: str) -> str:
    try:
        return dnc_store.to_e164(raw)
    except Invalid as exc:
        raise _bad_input(exc) from None


@api.route(
    "GET", V1 + "/dnc",
    summary="Do-not-call entries: one campaign's (campaign_id), or the system-wide list; with e164, that number's "
    "entries on the lists the caller may see",
    response=DncEntryOut, query=("e164", "campaign_id", "limit", "offset"), tag=TAG,
    query_schemas={"e164": _E164_QUERY},
)
async def list_dnc(call: Call) -> Any:
    campaign_id = call.query_int("campaign_id", low=1, high=INT64_MAX)
    await _dnc_scope(call, campaign_id, write=False)
    limit, offset = call.page
    scope = DncEntry.campaign_id.is_(None) if campaign_id is None else DncEntry.campaign_id == campaign_id
    query = select(DncEntry).where(scope).order_by(DncEntry.e164, DncEntry.id)
    raw = call.query_str("e164", max_length=64)
    if raw is not None:
        query = query.where(DncEntry.e164 == _e164(raw))
    return await paginate(call.session, query, limit=limit, offset=offset)


@api.route(
    "POST", V1 + "/dnc",
    summary="Put a number on the system-wide do-not-call list (admins) or on a campaign's (its campaign managers); "
    "adding it again returns the entry already there",
    body=DncIn, response=DncEntryOut, status=201, tag=TAG,
)
async def add_dnc(call: Call) -> Any:
    body: DncIn = call.body
    await _dnc_scope(call, body.campaign_id, write=True)
    try:
        return await dnc_store.add(call.session, body.e164, campaign_id=body.campaign_id, reason=body.reason,
                                   added_by_id=call.principal.user_id)
    except Invalid as exc:
        raise _bad_input(exc) from None


@api.route(
    "DELETE", V1 + "/dnc",
    summary="Take a number off the system-wide do-not-call list (admins) or a campaign's (its campaign managers)",
    query=("e164", "campaign_id"), status=204, tag=TAG, query_schemas={"e164": _E164_QUERY},
)
async def remove_dnc(call: Call) -> Any:
    campaign_id = call.query_int("campaign_id", low=1, high=INT64_MAX)
    await _dnc_scope(call, campaign_id, write=True)
    raw = call.query_str("e164", max_length=64)
    if raw is None:
        raise BadRequest("query parameter e164 is required", field="e164")
    if not await dnc_store.remove(call.session, _e164(raw), campaign_id=campaign_id):
        raise NotFound("the number is not on that list", field="e164")
