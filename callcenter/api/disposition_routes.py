"""The agent's wrap-up of a call: ``POST /api/v1/calls/{call_id}/disposition`` (disposition, notes, a promised
callback). Only the agent who handled the call, their supervisor or an admin may set it; see crm_core.dispositions
for idempotency and how it stays safe beside the CRM writer.

A call of a dialer campaign may take one of the campaign's own disposition codes (``campaign_code``, from its
definition's ``dispositions``): the call's disposition is then the code's ``counts_as`` and the code's effects are
applied to the called record in the same transaction (callcenter.dialer.dispositions). A callback may be left for the
team's pool instead of the agent (``callback_for: "team"``).

Saving is the agent saying they are done with the call: if the asker is still in wrap-up *for this call*, it ends
once the save is committed, by the same path as ``POST /api/v1/agents/{ext}/wrapup-end`` (``wrapup_ended`` in the
answer). A supervisor's correction, a stale save of an older call or a save during the call ends nobody's wrap-up."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

from typing import Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from callcenter.ami.channel_vars import ChannelVar
from callcenter.api.call_team import team_of_call
from callcenter.dialer import dispositions as campaign_dispositions
from callcenter.dialer.call_record import called_record, campaign_of, int_or_none
from callcenter.dialer.campaign import DispositionSpec
from callcenter.api.framework import Api, Call, ServiceUnavailable
from callcenter.automation.facts import CallLogged
from callcenter.app_keys import BUS, DATABASE, LIVE
from callcenter.outbox.pipeline import crm_settled
from crm_core import dispositions
from crm_core.errors import Invalid, NotFound
from crm_core.models import Activity, Direction, Disposition, User
from crm_core.phones import try_normalize
from crm_core.schemas import In
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"

CALL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # Asterisk Linkedids ("1700000000.42") and our own ids
MAX_NOTES_CHARS = 20_000
MAX_CALLBACK_AHEAD = timedelta(days=366)
# A call that just ended is logged by the CRM writer within milliseconds; a wrap-up sent at once waits at most this.
WRITER_WAIT_S = 5.0
CLOCK_SKEW = timedelta(minutes=2)  # a browser's clock a little behind ours must not turn "now" into the past


class DispositionIn(In):
    # One of the fixed list; may be left out when campaign_code is given (the code's counts_as is used).
    disposition: Disposition | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES_CHARS)  # none: keep the notes as they are
    callback_at: datetime | None = None  # required with (and only with) the "callback" disposition
    # A campaign call: one of the campaign's own codes (its definition's "dispositions"), e.g. "promised_to_pay".
    campaign_code: str | None = Field(default=None, min_length=1, max_length=40)
    # Who calls back: "me" (the handler, the default) or "team" (unassigned in the team's pool). Callbacks only.
    callback_for: Literal["me", "team"] | None = None

    @field_validator("callback_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-01-31T09:00:00Z)")
        return value


class DispositionOut(BaseModel):
    call_id: str
    activity_id: int
    disposition: Disposition
    notes: str
    disposition_at: datetime
    callback_task_id: int | None
    callback_due_at: datetime | None
    wrapup_ended: bool = False  # this save ends the asker's wrap-up of this call: their phone is offered calls again
    callback_assignee_id: int | None = None  # who calls back; null with a callback: the team's pool
    campaign_code: str | None = None
    effects: list[dict[str, Any]] = []  # what the campaign code did to the record (kind, target, applied, detail)


def check_callback(body: DispositionIn, now: datetime) -> None:
    """A callback disposition names when; no other one may (a silently ignored time would surprise)."""
    if body.disposition is None:
        raise Invalid("pick a disposition (or a campaign_code of the call's campaign)", field="disposition")
    if body.callback_for is not None and body.disposition is not Disposition.CALLBACK:
        raise Invalid("only the callback disposition takes callback_for", field="callback_for")
    if body.disposition is Disposition.CALLBACK:
        if body.callback_at is None:
            raise Invalid("a callback disposition needs callback_at (when to call back)", field="callback_at")
        if body.callback_at < now - CLOCK_SKEW:
            raise Invalid("callback_at is in the past", field="callback_at")
        if body.callback_at > now + MAX_CALLBACK_AHEAD:
            raise Invalid("callback_at is more than a year ahead", field="callback_at")
    elif body.callback_at is not None:
        raise Invalid("only the callback disposition takes callback_at", field="callback_at")


def _live_call(call: Call, call_id: str) -> Any:
    return next((c for c in call.request.app[LIVE].tracker.open_calls() if c.call_id == call_id), None)


async def _end_my_wrapup_after_commit(call: Call, call_id: str) -> bool:
    """If the asker's phone is in wrap-up for this call, end it once the save is committed (a failed save must not
    release the agent). True when it will end."""
    me = call.principal.user_id
    extension = await call.session.scalar(select(User.extension).where(User.id == me)) if me is not None else None
    live = call.request.app[LIVE]
    if not extension or live.wrapup_call(extension) != call_id:
        return False
    call.after_commit.append(lambda: live.end_wrapup(extension, call_id=call_id))
    return True


async def _writer_caught_up(call: Call, call_id: str) -> bool:
    """Wait (bounded) until the CRM writer has logged the call, or everything the call path published is written.
    The tracker drops a call from the live model in the same step that publishes its CallEnded, so "not live" +
    "logged, or everything before now handed on and done" means "logged if it is a real call". False: not known yet
    (still on its way after WRITER_WAIT_S, or the workers are another process's).

    Runs before the request's own transaction touches the database: on SQLite that holds the write lock, which would
    stall the very writer we wait for."""
    app = call.request.app
    logged = asyncio.Event()
    stop = app[BUS].subscribe(lambda fact: fact.call_id == call_id and logged.set(), event_type=CallLogged)
    try:
        async with app[DATABASE].session() as session:  # its own short transaction, see above
            if await session.scalar(select(Activity.id).where(Activity.call_id == call_id)) is not None:
                return True
        # Not the writer's whole backlog under load: this call's own fact, unless the pipeline runs dry first.
        waits = [asyncio.create_task(logged.wait()),
                 asyncio.create_task(crm_settled(app))]
        done, pending = await asyncio.wait(waits, timeout=WRITER_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return any(task.result() is not False for task in done)
    finally:
        stop()


@api.route(
    "POST",
    V1 + "/calls/{call_id}/disposition",
    summary="Wrap up a call: disposition and notes on its activity; 'callback' keeps one callback task due at callback_at",
    body=DispositionIn,
    response=DispositionOut,
    tag="telephony",
)
async def set_disposition(call: Call) -> Any:
    call_id = call.request.match_info["call_id"]
    if not CALL_ID.match(call_id):
        raise Invalid("bad call id", field="call_id")
    body: DispositionIn = call.body
    now = utcnow()
    if body.campaign_code is None:
        check_callback(body, now)  # before any lookup: a bad body is refused at once
    live = _live_call(call, call_id)
    caught_up = live is not None or await _writer_caught_up(call, call_id)
    activity = await dispositions.locked_call_activity(call.session, call_id)
    if activity is None and live is None:
        if not caught_up:
            raise ServiceUnavailable("the call is still being written to the CRM; try again in a moment")
        raise NotFound(f"call {call_id} is neither live nor logged", field="call_id")
    talked = [e for e in ((live.answered_by, *live.agents_talked) if live is not None else ()) if e]
    team_id = await team_of_call(call, activity, live, call_id)
    handlers = await dispositions.check_may_dispose(call.session, call.principal, activity, talked, call_team_id=team_id)
    # Whose wrap-up it is: the asker's if they handled the call, else the logged agent's (a supervisor's fix); a call
    # nobody took stays nobody's (its supervisor's disposition does not book the call to them).
    me = call.principal.user_id
    if me in handlers:
        handler = me
    elif activity is not None and activity.user_id is not None:
        handler = activity.user_id
    else:
        handler = min(handlers, default=None)
    if activity is None:
        activity = await dispositions.locked_call_activity(call.session, call_id, start=True, user_id=handler)
        assert activity is not None
    if activity.team_id is None:
        activity.team_id = team_id
    campaign = await _campaign_of_call(call, activity, live)
    spec = _campaign_code(body, campaign)
    if spec is not None:
        if body.disposition is not None and body.disposition is not spec.counts_as:
            raise Invalid(f"campaign code {body.campaign_code} counts as {spec.counts_as.value}, not"
                          f" {body.disposition.value}: leave disposition out", field="disposition")
        body = body.model_copy(update={"disposition": spec.counts_as})
        check_callback(body, now)
    assert body.disposition is not None
    pool = body.callback_for == "team"
    customer = _customer(call, activity, live)
    if pool:
        # The campaign's team takes its callbacks; any other call's, the handler's team, else the call's.
        team_id = await _pool_team(call, campaign, handler, team_id)
    task = await dispositions.record_disposition(
        call.session,
        activity,
        disposition=body.disposition,
        notes=body.notes,
        callback_at=body.callback_at,
        assignee_id=handler,
        customer_e164=customer,
        now=now,
        team_id=team_id,
        pool=pool,
    )
    effects: list[dict[str, Any]] = []
    if campaign is not None:
        attempt_id = int_or_none(live.variables.get(ChannelVar.DIAL_ATTEMPT.value)) if live is not None else None
        found = await called_record(call.session, call.rules, activity=activity, attempt_id=attempt_id, e164=customer)
        meta = dict(activity.call_meta or {})
        meta.setdefault("campaign", str(campaign.id))
        if spec is not None:
            meta["campaign_disposition"] = body.campaign_code
            applied = await campaign_dispositions.apply(
                call.session, campaign=campaign, code=body.campaign_code or "", spec=spec, found=found, e164=customer,
                actor_id=call.principal.user_id, call_id=call_id)
            effects = [e.to_json() for e in applied]
        activity.call_meta = meta
        if task is not None:
            _link_callback(task, found, campaign)
        await call.session.flush()
    wrapup_ended = await _end_my_wrapup_after_commit(call, call_id)
    return DispositionOut(
        call_id=call_id,
        activity_id=activity.id,
        disposition=body.disposition,
        notes=activity.body,
        disposition_at=now,
        callback_task_id=task.id if task is not None else None,
        callback_due_at=task.due_at if task is not None else None,
        wrapup_ended=wrapup_ended,
        callback_assignee_id=task.assignee_id if task is not None else None,
        campaign_code=body.campaign_code,
        effects=effects,
    )


async def _campaign_of_call(call: Call, activity: Any, live: Any) -> Any:
    """The dialer campaign the call belongs to: as logged (call_meta "campaign"), else its live CC_CAMPAIGN."""
    raw = (activity.call_meta or {}).get("campaign") if activity is not None else None
    if raw is None and live is not None:
        raw = live.variables.get(ChannelVar.CAMPAIGN.value)
    return await campaign_of(call.session, raw) if raw is not None else None


def _campaign_code(body: DispositionIn, campaign: Any) -> DispositionSpec | None:
    if body.campaign_code is None:
        return None
    if campaign is None:
        raise Invalid("this call is not a dialer campaign's call: it takes no campaign_code", field="campaign_code")
    raw = (campaign.definition or {}).get("dispositions", {}).get(body.campaign_code)
    if raw is None:
        known = ", ".join(sorted((campaign.definition or {}).get("dispositions", {}))) or "none"
        raise Invalid(f"campaign {campaign.id} has no disposition {body.campaign_code!r} (its codes: {known})",
                      field="campaign_code")
    return DispositionSpec.model_validate(raw)


async def _pool_team(call: Call, campaign: Any, handler: int | None, call_team_id: int | None) -> int:
    team_id = campaign.team_id if campaign is not None else None
    if team_id is None and handler is not None:
        team_id = await call.session.scalar(select(User.team_id).where(User.id == handler))
    team_id = team_id or call_team_id
    if team_id is None:
        raise Invalid("the call has no team whose pool could take the callback", field="callback_for")
    return team_id


def _link_callback(task: Any, found: Any, campaign: Any) -> None:
    """A campaign call's callback names the campaign and the called record (a live call's activity has no links
    yet)."""
    if found is not None and not any((task.contact_id, task.lead_id, task.company_id)):
        for key, value in found.links.items():
            setattr(task, key, value)
    task.campaign_id = campaign.id


def _customer(call: Call, activity: Any, live: Any) -> str | None:
    """The customer's number: as logged (from for inbound, to for outbound), else from the live model."""
    logged = activity.to_e164 if activity.direction is Direction.OUTBOUND else activity.from_e164
    if logged or live is None:
        return logged
    number = try_normalize(live.customer, region=call.rules.region)
    return number.e164 if number is not None else None
