"""Telephony routes: live calls, the screen pop for a ringing phone, click-to-call."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from callcenter.ami import actions
from callcenter.ami.actions import AmiError, AmiNotConnected
from callcenter.ami.channel_vars import ChannelVar, Context
from callcenter.events import CallDirection
from callcenter.api.call_grant import handles_call_of_lead
from callcenter.api.call_team import live_call_team_id
from callcenter.api.framework import Api, Call, ServiceUnavailable
from callcenter.app_keys import AMI, LIVE
from crm_core import records
from crm_core.access import Principal, activity_filter, owner_filter, task_filter
from crm_core.errors import Invalid, NotFound
from crm_core.models import Activity, ActivityKind, Company, Deal, DealStatus, Entity, Role, Task, TaskStatus, User
from crm_core.phones import try_normalize
from crm_core.recording_models import Transcript
from crm_core.schemas import In

api = Api()
V1 = "/api/v1"


class LiveCallOut(BaseModel):
    call_id: str
    direction: str
    caller: str | None
    did: str | None
    customer: str | None
    started_s: float
    agents_rung: list[str]
    answered_by: str | None
    queue: str | None


SNIPPET_CHARS = 240  # enough of a transcript or notes to recall the last conversation at a glance


class CardCall(BaseModel):
    call_id: str | None
    started_at: str
    direction: str | None
    result: str | None
    agent_user_id: int | None
    agent_name: str | None = None
    talk_s: float | None = None
    disposition: str | None = None
    notes: str | None = None  # the start of the agent's notes
    transcript: str | None = None  # the start of the transcript ("customer: ... agent: ...")


class ScreenPopOut(BaseModel):
    number: str
    known: bool
    entity: str | None = None
    id: int | None = None
    name: str | None = None
    company_name: str | None = None
    responsible_id: int | None = None
    responsible_name: str | None = None
    open_deals: list[dict[str, Any]] = Field(default_factory=list)
    open_tasks: list[dict[str, Any]] = Field(default_factory=list)
    last_calls: list[CardCall] = Field(default_factory=list)


class ClickToCallIn(In):
    phone: str | None = Field(default=None, max_length=64)
    contact_id: int | None = None
    lead_id: int | None = None
    company_id: int | None = None


class ClickToCallOut(BaseModel):
    action_id: str
    agent_extension: str
    number: str


def _live(call: Call) -> Any:
    return call.request.app[LIVE], call.request.app.get(AMI)


def _on_call_with(call: Call, extension: str | None, e164: str) -> bool:
    """An agent may see who is calling them right now, even someone else's customer: an inbound call ringing or
    talking on their phone. Not a call they placed themselves: click-to-call must not open any number's record."""
    if not extension:
        return False
    live, _ = _live(call)
    for open_call in live.tracker.open_calls():
        if open_call.direction is not CallDirection.INBOUND:
            continue
        number = try_normalize(open_call.customer, region=call.rules.region)
        if number and number.e164 == e164 and extension in (*open_call.agents_rung, *open_call.agents_talked):
            return True
    return False


@api.route("GET", V1 + "/calls/live", summary="Calls in progress (the live model)", response=LiveCallOut, many=True, tag="telephony")
async def live_calls(call: Call) -> Any:
    live, _ = _live(call)
    principal = call.principal
    extension = await _extension(call, principal)
    team_extensions: set[str] = set()
    if principal.team_scoped and principal.team_id is not None:
        team_extensions = set(await call.session.scalars(
            select(User.extension).where(User.team_id == principal.team_id, User.extension.is_not(None))
        ))
    out = []
    for c in live.tracker.open_calls():
        if principal.role is Role.AGENT and extension not in (*c.agents_rung, *c.agents_talked):
            continue
        if principal.team_scoped and not team_extensions & {*c.agents_rung, *c.agents_talked}:
            # A call none of their agents is on is theirs only if it is their team's (routing, else DID).
            if principal.team_id is None or await live_call_team_id(call, c.call_id, c.did) != principal.team_id:
                continue
        out.append(
            LiveCallOut(
                call_id=c.call_id, direction=str(c.direction), caller=c.caller, did=c.did, customer=c.customer,
                started_s=c.started_s, agents_rung=list(c.agents_rung), answered_by=c.answered_by, queue=c.queue,
            )
        )
    return out


async def _extension(call: Call, principal: Principal) -> str | None:
    if principal.user_id is None:
        return None
    return await call.session.scalar(select(User.extension).where(User.id == principal.user_id))


@api.route("GET", V1 + "/screen-pop", summary="Who is calling: the CRM card for a number", response=ScreenPopOut, query=("phone",), tag="telephony")
async def screen_pop(call: Call) -> Any:
    raw = call.query_str("phone", max_length=64)
    number = try_normalize(raw, region=call.rules.region)
    if number is None:
        raise Invalid("not a phone number", field="phone")
    owner = await records.lookup_phone(call.session, call.rules, number.e164)
    if owner is None:
        return ScreenPopOut(number=number.e164, known=False)
    try:
        record = await records.get(call.session, call.principal, owner.entity, owner.id)
    except NotFound:
        if not _on_call_with(call, await _extension(call, call.principal), number.e164):
            # The same answer as an unknown number: nothing says whether, or whose, a record exists.
            return ScreenPopOut(number=number.e164, known=False)
        record = await records.get(call.session, Principal.system(), owner.entity, owner.id)
    return await card(call.session, owner.entity, record, number.e164, viewer=call.principal)


async def card(session: Any, entity: Entity, record: Any, e164: str, *, viewer: Principal) -> ScreenPopOut:
    """The CRM card of ``record``, whose number ``e164`` is on the phone, as ``viewer`` may see it: who the caller is
    (they are on the phone with them), but only the deals, tasks and calls the viewer may see anyway; another team's
    confidential deal or task never shows through a pop."""
    column = {Entity.CONTACT: "contact_id", Entity.COMPANY: "company_id", Entity.LEAD: "lead_id"}[entity]
    if entity is Entity.CONTACT:
        name = " ".join(p for p in (record.first_name, record.last_name) if p)
        company = await session.scalar(select(Company.name).where(Company.id == record.company_id)) if record.company_id else None
    elif entity is Entity.COMPANY:
        name, company = record.name, record.name
    else:
        name, company = record.person_name or record.title, record.company_name
    responsible_name = (
        await session.scalar(select(User.name).where(User.id == record.responsible_id)) if record.responsible_id else None
    )
    deals = await session.scalars(
        select(Deal).where(getattr(Deal, column) == record.id, Deal.status == DealStatus.OPEN,
                           owner_filter(viewer, Deal.responsible_id)).order_by(Deal.id.desc()).limit(5)
    )
    tasks = await session.scalars(
        select(Task).where(getattr(Task, column) == record.id, Task.status == TaskStatus.OPEN, task_filter(viewer))
        .order_by(Task.due_at).limit(5)
    )
    calls = list(await session.scalars(
        select(Activity)
        .where(Activity.kind == ActivityKind.CALL, (Activity.from_e164 == e164) | (Activity.to_e164 == e164),
               activity_filter(viewer))
        .order_by(Activity.started_at.desc())
        .limit(5)
    ))
    return ScreenPopOut(
        number=e164,
        known=True,
        entity=entity.value,
        id=record.id,
        name=name,
        company_name=company,
        responsible_id=record.responsible_id,
        responsible_name=responsible_name,
        open_deals=[{"id": d.id, "title": d.title, "amount": str(d.amount) if d.amount is not None else None, "stage_id": d.stage_id} for d in deals],
        open_tasks=[{"id": t.id, "title": t.title, "kind": t.kind.value, "due_at": t.due_at.isoformat() if t.due_at else None} for t in tasks],
        last_calls=await _card_calls(session, calls),
    )


def _snippet(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return (text[: SNIPPET_CHARS - 1] + "…" if len(text) > SNIPPET_CHARS else text) or None


async def _card_calls(session: Any, calls: list[Activity]) -> list[CardCall]:
    """The last calls with who took them, the wrap-up and the start of the transcript (first take)."""
    call_ids = [a.call_id for a in calls if a.call_id]
    transcripts: dict[str, str] = {}
    if call_ids:
        rows = await session.execute(
            select(Transcript.call_id, Transcript.text).where(Transcript.call_id.in_(call_ids)).order_by(Transcript.id.desc())
        )
        transcripts = {call_id: text for call_id, text in rows}  # rows newest first: the first take's text stays
    user_ids = {a.user_id for a in calls if a.user_id is not None}
    names = dict((await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))).all()) if user_ids else {}
    return [
        CardCall(
            call_id=a.call_id, started_at=a.started_at.isoformat(), direction=a.direction.value if a.direction else None,
            result=a.result, agent_user_id=a.user_id, agent_name=names.get(a.user_id), talk_s=a.talk_s,
            disposition=a.disposition.value if a.disposition else None, notes=_snippet(a.body),
            transcript=_snippet(transcripts.get(a.call_id or "")),
        )
        for a in calls
    ]


@api.route("POST", V1 + "/calls/click-to-call", summary="Ring my desk phone, then dial the customer (AMI Originate)", body=ClickToCallIn, response=ClickToCallOut, status=202, tag="telephony")
async def click_to_call(call: Call) -> Any:
    body: ClickToCallIn = call.body
    given = [v for v in (body.phone, body.contact_id, body.lead_id, body.company_id) if v is not None]
    if len(given) != 1:
        raise Invalid("give exactly one of phone, contact_id, lead_id, company_id", field="phone")
    if body.phone is not None:
        number = try_normalize(body.phone, region=call.rules.region)
        if number is None:
            raise Invalid("not a phone number", field="phone")
        if call.rules.is_own(body.phone, number):
            raise Invalid("this is one of the company's own numbers", field="phone")
        e164 = number.e164
    else:
        entity, record_id = next(
            (e, v) for e, v in ((Entity.CONTACT, body.contact_id), (Entity.LEAD, body.lead_id), (Entity.COMPANY, body.company_id)) if v is not None
        )
        record = await records.get(call.session, call.principal, entity, record_id, field=f"{entity.value}_id")
        if not record.phones:
            raise Invalid(f"{entity.value} {record_id} has no phone number", field=f"{entity.value}_id")
        e164 = record.phones[0].e164
    extension = await _extension(call, call.principal)
    if not extension:
        raise Invalid("you have no desk phone extension to ring first", field="user")
    _, ami = _live(call)
    if ami is None:
        raise ServiceUnavailable("no Asterisk is configured (ami.host)")
    action = actions.originate(
        channel=f"PJSIP/{extension}",
        context=Context.DIAL_CUSTOMER,
        exten=e164,
        caller_id=f'"{e164}" <{e164}>',
        timeout_ms=30_000,
        variables={ChannelVar.CLICK_TO_CALL: call.principal.user_id or 0},
    )
    try:
        await ami.send(action)
    except AmiNotConnected as exc:
        raise ServiceUnavailable(f"telephony is not connected: {exc}") from None
    except AmiError as exc:
        raise ServiceUnavailable(f"Asterisk refused the call: {exc}") from None
    return ClickToCallOut(action_id=action["ActionID"], agent_extension=extension, number=e164)


class CallLinkIn(In):
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None


class CallLinkOut(BaseModel):
    call_id: str
    activity_id: int
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    deal_id: int | None


@api.route("POST", V1 + "/calls/{call_id}/link", summary="Link a call (live or finished) to a record; the agent's choice wins", body=CallLinkIn, response=CallLinkOut, tag="telephony")
async def link_call(call: Call) -> Any:
    from crm_core import deals as deal_service

    call_id = call.request.match_info["call_id"]
    if not 0 < len(call_id) <= 64:
        raise Invalid("bad call id", field="call_id")
    body: CallLinkIn = call.body
    links = body.model_dump(exclude_unset=True)
    if not links:
        raise Invalid("give at least one of contact_id, company_id, lead_id, deal_id", field="contact_id")
    for key, entity in (("contact_id", Entity.CONTACT), ("company_id", Entity.COMPANY), ("lead_id", Entity.LEAD)):
        if links.get(key) is not None:
            try:
                await records.get(call.session, call.principal, entity, links[key], field=key)
            except NotFound:
                # The caller's lead on a call the agent is handling, though a colleague owns it (call_grant).
                if entity is not Entity.LEAD or not await handles_call_of_lead(call, links[key]):
                    raise
    if links.get("deal_id") is not None:
        await deal_service.get_deal(call.session, call.principal, links["deal_id"])
    activity = await call.session.scalar(select(Activity).where(Activity.call_id == call_id))
    if activity is None:
        live, _ = _live(call)
        open_call = next((c for c in live.tracker.open_calls() if c.call_id == call_id), None)
        if open_call is None:
            raise NotFound(f"call {call_id} is neither live nor logged", field="call_id")
        # The call is still going: its activity starts now and is completed when the call ends.
        activity = Activity(kind=ActivityKind.CALL, call_id=call_id, result="in_progress", user_id=call.principal.user_id,
                            call_meta={}, team_id=await live_call_team_id(call, call_id, open_call.did))
        call.session.add(activity)
    for key, value in links.items():
        setattr(activity, key, value)
    activity.call_meta = {**activity.call_meta, "linked_by": call.principal.user_id, "linked": sorted(links)}
    await call.session.flush()
    return CallLinkOut(call_id=call_id, activity_id=activity.id, **{k: getattr(activity, k) for k in ("contact_id", "company_id", "lead_id", "deal_id")})
