"""Call scripts over HTTP: a team's inbound scripts (by deal stage or client segment) for supervisors and admins, and
the script of the call an agent is on, filled in (the agent page reads it when it is opened during a call; the
pushed call pop carries it otherwise). See callcenter.dialer.script_store and docs/dialer.md "Call scripts"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from callcenter.ami.channel_vars import ChannelVar
from callcenter.api.framework import Api, Call
from callcenter.dialer import script_store
from callcenter.dialer.scripts import MAX_SCRIPT_CHARS
from callcenter.app_keys import LIVE
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.input_rules import INT64_MAX
from crm_core.models import User
from crm_core.paging import paginate
from crm_core.schemas import TAG_PATTERN, In

api = Api()
V1 = "/api/v1"
TAG = "dialer"


class ScriptIn(In):
    team_id: int | None = Field(default=None, ge=1, le=INT64_MAX)  # none: the asker's team
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS)  # text with {placeholders}
    stage_id: int | None = Field(default=None, ge=1, le=INT64_MAX)  # for callers whose open deal is in this stage
    segment: str | None = Field(default=None, pattern=TAG_PATTERN)  # or for callers with this tag
    priority: int = Field(default=0, ge=0, le=100)  # among segment scripts: the highest applies


class ScriptPatchIn(In):
    team_id: int | None = Field(default=None, ge=1, le=INT64_MAX)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=MAX_SCRIPT_CHARS)
    stage_id: int | None = Field(default=None, ge=1, le=INT64_MAX)
    segment: str | None = Field(default=None, pattern=TAG_PATTERN)
    priority: int | None = Field(default=None, ge=0, le=100)


class ScriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    team_id: int
    name: str
    body: str
    stage_id: int | None
    segment: str | None
    priority: int
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class ScriptPartOut(BaseModel):
    text: str
    field: str | None = None  # a filled placeholder's name
    missing: bool = False  # no value on the record: shown as a gap


class CampaignCodeOut(BaseModel):
    code: str
    label: str
    counts_as: str  # the fixed disposition it is booked as


class CallCampaignOut(BaseModel):
    id: int
    name: str
    codes: list[CampaignCodeOut]  # POST .../disposition {"campaign_code": code}


class FilledScriptOut(BaseModel):
    call_id: str
    campaign: CallCampaignOut | None = None  # a campaign call's campaign and its own disposition codes
    source: str | None  # campaign, stage, segment; null: no script applies
    name: str | None
    campaign_id: int | None = None
    script_id: int | None = None
    text: str
    parts: list[ScriptPartOut]


@api.route("POST", V1 + "/call-scripts", summary="Create a team's inbound call script for a deal stage or a segment "
           "(a contact / lead tag); supervisors (their team) and admins", body=ScriptIn, response=ScriptOut,
           status=201, tag=TAG)
async def create_script(call: Call) -> Any:
    return await script_store.create(call.session, call.principal, call.body.model_dump())


@api.route("GET", V1 + "/call-scripts", summary="A team's inbound call scripts (supervisors: their team's; admins: "
           "all, or ?team_id=)", response=ScriptOut, query=("team_id", "limit", "offset"), tag=TAG)
async def list_scripts(call: Call) -> Any:
    limit, offset = call.page
    query = await script_store.list_scripts(call.session, call.principal, call.query_int("team_id", low=1))
    return await paginate(call.session, query, limit=limit, offset=offset)


@api.route("GET", V1 + "/call-scripts/{id}", summary="An inbound call script", response=ScriptOut, tag=TAG)
async def get_script(call: Call) -> Any:
    return await script_store.get(call.session, call.principal, call.path_int("id"))


@api.route("PATCH", V1 + "/call-scripts/{id}", summary="Change an inbound call script (the fields given)",
           body=ScriptPatchIn, response=ScriptOut, tag=TAG)
async def patch_script(call: Call) -> Any:
    changes = call.body.model_dump(exclude_unset=True)
    for key in ("name", "body", "priority"):
        if key in changes and changes[key] is None:
            raise Invalid("must not be null", field=key)
    return await script_store.update(call.session, call.principal, call.path_int("id"), changes)


@api.route("DELETE", V1 + "/call-scripts/{id}", summary="Delete an inbound call script", status=204, tag=TAG)
async def delete_script(call: Call) -> Any:
    await script_store.delete(call.session, call.principal, call.path_int("id"))
    return None


@api.route("GET", V1 + "/calls/{call_id}/script", summary="The script of a live call the asking agent is on, the "
           "customer's fields filled in (the campaign's, else the caller's deal stage's or segment's), and a campaign "
           "call's disposition codes",
           response=FilledScriptOut, tag="telephony")
async def call_script(call: Call) -> Any:
    call_id = call.request.match_info["call_id"]
    live = next((c for c in call.request.app[LIVE].tracker.open_calls() if c.call_id == call_id), None)
    if live is None or len(call_id) > 64:
        raise NotFound(f"call {call_id} is not a live call", field="call_id")
    me = call.principal.user_id
    extension = await call.session.scalar(select(User.extension).where(User.id == me)) if me is not None else None
    if not extension or extension not in (live.answered_by, *live.agents_rung, *live.agents_talked):
        raise Forbidden("a call's script is shown to the agents on the call", field="call_id")
    on_call = on_call_of(live)
    filled = await script_store.resolve(call.session, call.rules, on_call, me)
    campaign = await script_store.campaign_codes(call.session, on_call)
    if filled is None:
        return {"call_id": call_id, "campaign": campaign, "source": None, "name": None, "text": "", "parts": []}
    return {"call_id": call_id, "campaign": campaign, **filled}


def on_call_of(live: Any) -> script_store.CallOnPhone:
    """The live model's call as the resolver reads it (its customer and the dialer's channel variables)."""
    variables = getattr(live, "variables", {}) or {}
    return script_store.CallOnPhone(call_id=live.call_id, customer=live.customer or live.caller,
                                    campaign=variables.get(ChannelVar.CAMPAIGN.value),
                                    dial_attempt=variables.get(ChannelVar.DIAL_ATTEMPT.value))
