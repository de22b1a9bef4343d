"""Supervisor actions from the wallboard that are not agent controls: listen, whisper or barge on a live call.

The other wallboard actions already have one home each, and the page uses them as they are:
* pause / unpause with a reason, log out: ``/api/v1/agents/{ext}/...`` (agent_routes, same team scoping);
* reassigning a callback: ``PATCH /api/v1/tasks/{id}`` with ``assignee_id``. Its scoping is the one a reassignment
  needs (a supervisor sees only their team's tasks, its pool included, and their members' ones, and may hand them
  only to someone in both their team and the task's, or back to the task's team pool; an agent may not hand theirs to
  someone else) and the session audit records who changed it, so a second
  endpoint for the same change would only be a second place to get the rules wrong.

Listening is an AMI Originate of the supervisor's desk phone into ChanSpy on the agent's channel of the call (the
options per mode are chosen in ami.actions). It is audited like any other access to a conversation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from callcenter.ami import actions
from callcenter.ami.actions import AmiError, AmiNotConnected
from callcenter.ami.channel_vars import SpyMode
from callcenter.api.agent_routes import _may_control  # the one rule for "may this user act on that agent"
from callcenter.api.framework import Api, Call, ServiceUnavailable
from callcenter.api.live_call import agent_leg
from callcenter.app_keys import AMI, LIVE
from crm_core.errors import Conflict, Forbidden, Invalid
from crm_core.models import AuditEntry, Role, User
from crm_core.schemas import In
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"
SPY_RING_TIMEOUT_MS = 20_000  # how long the supervisor's desk phone rings before Asterisk gives up


class SpyIn(In):
    mode: SpyMode
    # The desk phone to ring; default: the caller's own extension from their user record.
    extension: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.+-]{1,32}$")


class SpyOut(BaseModel):
    call_id: str
    mode: SpyMode
    agent: str
    spied_channel: str
    supervisor_extension: str
    options: str  # the ChanSpy options sent, e.g. qESuB
    action_id: str  # the Originate's ActionID: OriginateResponse says whether the supervisor picked up


def _live(call: Call) -> Any:
    return call.request.app[LIVE], call.request.app.get(AMI)


async def _phone_of(call: Call, body: SpyIn) -> str:
    """The supervisor's phone: their own extension, or the one they name if it is nobody else's."""
    principal = call.principal
    own = None
    if principal.user_id is not None:
        own = await call.session.scalar(select(User.extension).where(User.id == principal.user_id))
    if body.extension is None:
        if not own:
            raise Invalid("you have no desk phone extension; name the extension to ring", field="extension")
        return own
    if body.extension != own and principal.role is not Role.ADMIN:
        holder = await call.session.scalar(select(User.id).where(User.extension == body.extension))
        if holder is not None and holder != principal.user_id:
            raise Forbidden(f"extension {body.extension} is another user's phone", field="extension")
    return body.extension


@api.route("POST", V1 + "/calls/{call_id}/spy", summary="Listen, whisper or barge on a live call: ring my desk phone into ChanSpy on the agent's channel (AMI Originate)", body=SpyIn, response=SpyOut, status=202, tag="telephony")
async def spy_on_call(call: Call) -> Any:
    principal = call.principal
    if principal.role in (Role.AGENT, Role.CAMPAIGN_MANAGER):
        raise Forbidden("listening in on calls is for supervisors and admins")
    body: SpyIn = call.body
    call_id = call.request.match_info["call_id"]
    live, ami = _live(call)
    tracker = live.tracker
    agent, channel = agent_leg(tracker, call_id)
    info = await _may_control(call, agent)  # 404 for a phone that is nobody's, 403 outside the supervisor's team
    extension = await _phone_of(call, body)
    if extension == agent:
        raise Invalid(f"extension {extension} is the agent's phone on this call", field="extension")
    if any(lst.call_id == call_id and lst.supervisor == extension for lst in tracker.listeners()):
        raise Conflict(f"extension {extension} is already listening to call {call_id}", field="call_id",
                       state="listening")
    if ami is None:
        raise ServiceUnavailable("no Asterisk is configured (ami.host)")
    action = actions.chanspy(supervisor=extension, spied_channel=channel, agent=agent, mode=body.mode,
                             timeout_ms=SPY_RING_TIMEOUT_MS)
    # Who listened to whom is personal data about the agent (and the customer): audited in the same transaction,
    # written before the phone rings, rolled back with the request if Asterisk cannot be told.
    call.session.add(AuditEntry(
        at=utcnow(), actor_id=principal.user_id, entity="call_supervision", entity_id=info.user_id,
        action=body.mode.value,
        changes={"call_id": call_id, "agent": agent, "extension": extension, "action_id": action["ActionID"]},
    ))
    await call.session.flush()
    try:
        await ami.send(action)
    except AmiNotConnected as exc:
        raise ServiceUnavailable(f"telephony is not connected: {exc}") from None
    except AmiError as exc:
        raise ServiceUnavailable(f"Asterisk refused: {exc}") from None
    options = action["Data"].rpartition(",")[2]
    return SpyOut(call_id=call_id, mode=body.mode, agent=agent, spied_channel=channel,
                  supervisor_extension=extension, options=options, action_id=action["ActionID"])
