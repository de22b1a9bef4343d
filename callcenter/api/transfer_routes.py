"""Transfer a live call to another agent: blind (the customer goes straight to them) or attended (the agent talks to
them first, then hangs up to hand the customer over).

The route acts on the channel of the agent talking on the call now, the way their desk phone's transfer keys would:
AMI BlindTransfer or Atxfer into the agents' context (``Context.AGENTS``), whose Dial gives the new agent transfer
rights in turn. The live model records it as a transfer only once Asterisk completes it (a blind transfer when the
new agent answers, an attended one on AttendedTransfer Result: Success or the first agent hanging up); an attended
transfer the colleague declines stays a consultation. Who may: the agent on the call, their supervisor, an admin
(``agent_routes._may_control``). Every request Asterisk accepted is audited (entity ``call_transfer``).
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, Field

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed, AmiError, AmiNotConnected
from callcenter.ami.channel_vars import Context
from callcenter.api.agent_routes import _may_control  # the one rule for "may this user act on that agent"
from callcenter.api.framework import Api, Call, ServiceUnavailable
from callcenter.api.live_call import agent_leg
from callcenter.app_keys import AMI, LIVE, ROUTING
from crm_core.errors import Conflict, Invalid
from crm_core.models import AuditEntry
from crm_core.schemas import In
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"


class TransferMode(enum.StrEnum):
    BLIND = "blind"  # AMI BlindTransfer
    ATTENDED = "attended"  # AMI Atxfer


class TransferIn(In):
    to: str = Field(pattern=r"^[0-9A-Za-z_.+-]{1,32}$")  # the extension of the agent to transfer to
    mode: TransferMode


class TransferOut(BaseModel):
    call_id: str
    mode: TransferMode
    from_agent: str
    to: str
    channel: str  # the transferring agent's channel the action was sent on
    action_id: str


def _live(call: Call) -> Any:
    app = call.request.app
    return app[LIVE], app.get(AMI), app[ROUTING]


def _action(mode: TransferMode, channel: str, to: str) -> actions.Action:
    build = actions.blind_transfer if mode is TransferMode.BLIND else actions.atxfer
    return build(channel=channel, exten=to, context=Context.AGENTS.value)


@api.route("POST", V1 + "/calls/{call_id}/transfer", summary="Transfer a live call to another agent, blind or attended (AMI BlindTransfer / Atxfer on the agent's channel)", body=TransferIn, response=TransferOut, status=202, tag="telephony")
async def transfer_call(call: Call) -> Any:
    body: TransferIn = call.body
    call_id = call.request.match_info["call_id"]
    live, ami, routing = _live(call)
    tracker = live.tracker
    agent, channel = agent_leg(tracker, call_id)
    info = await _may_control(call, agent)  # 404 for a phone that is nobody's, 403 outside the supervisor's team
    if body.to == agent:
        raise Invalid(f"{body.to} is the agent on the call already", field="to")
    if routing.directory.agent(body.to) is None:
        raise Invalid(f"no agent has extension {body.to}", field="to")
    if ami is None:
        raise ServiceUnavailable("no Asterisk is configured (ami.host)")
    action = _action(body.mode, channel, body.to)
    try:
        await ami.send(action)
    except AmiNotConnected as exc:
        raise ServiceUnavailable(f"telephony is not connected: {exc}") from None
    except AmiActionFailed as exc:
        # "Transfer invalid" (the leg is in no bridge), "No attended transfer feature code found" ... An Atxfer on a leg
        # without Dial t rights is still "successfully queued" and does nothing (api_atxfer_no_rights): the shipped
        # dialplans always give t.
        raise Conflict(f"Asterisk refused the transfer: {exc.message}", field="call_id", state="refused") from None
    except AmiError as exc:
        raise ServiceUnavailable(f"Asterisk did not answer: {exc}") from None
    # Who moved which customer to whom: audited once Asterisk took the request.
    call.session.add(AuditEntry(
        at=utcnow(), actor_id=call.principal.user_id, entity="call_transfer", entity_id=info.user_id,
        action=body.mode.value,
        changes={"call_id": call_id, "from": agent, "to": body.to, "channel": channel, "action_id": action["ActionID"]},
    ))
    await call.session.flush()
    return TransferOut(call_id=call_id, mode=body.mode, from_agent=agent, to=body.to, channel=channel,
                       action_id=action["ActionID"])
