"""FastAGI route for calls dialled from an agent's desk phone: 9<number> in [from-internal] -> [cc-outbound].

The answer (one SET VARIABLE CC_PLAN = outbound1|<CC_ACTION dial or hangup>|<CC_DIAL_NUMBER>|<CC_PRESENTED_NUM>|
<CC_REASON>, unpacked by [cc-outbound]) comes from the agent's team's settings and the in-memory agent directory: no I/O, so it is far inside the FastAGI budget. The
number is read in the team's region (routing.teams.<team>.region, else crm.default_region) and dialled as E.164,
so the call's customer number (the trunk Dial string) is what the CRM stores: the activity lands on the customer's
record, an answered call closes their open callback and crm.outbound_leads applies (callcenter.crm_bridge).
Fail-open: whatever goes wrong here closes the session without a plan, and the dialplan dials the number as it
did before this route existed. A number that cannot be a phone number is refused (congestion): nothing is dialled
and nothing recorded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final

from callcenter.ami.agi import AgiSession
from callcenter.ami.agi_plan import PlanName, plan_command
from callcenter.ami.channel_vars import CcAction, ChannelVar, OutboundAgiArg, PlanTag
from callcenter.routing.directory import AgentDirectory
from callcenter.routing.settings import RoutingSettings, TeamSettings
from crm_core.phones import try_normalize

__all__ = ["OutboundAnswer", "OutboundRoute", "decide_outbound"]

log = logging.getLogger("callcenter.routing")

# what a desk phone can send after the 9: digits, and * # + (anything else never reaches a dialplan _X. pattern)
_DIALLED_RE: Final = re.compile(r"^[0-9*#+]{1,32}$")


class OutboundReason:
    DIAL = "outbound"
    UNPARSABLE = "outbound-unparsable->refused"


@dataclass(frozen=True, slots=True)
class OutboundAnswer:
    action: CcAction  # DIAL or HANGUP
    reason: str
    dial_number: str = ""
    presented_num: str = ""
    team: str | None = None

    def channel_variables(self) -> dict[PlanName, str]:
        # every field on every answer: nothing stale survives the unpacking
        return {
            ChannelVar.ACTION: self.action.value,
            ChannelVar.DIAL_NUMBER: self.dial_number,
            ChannelVar.PRESENTED_NUM: self.presented_num,
            ChannelVar.REASON: self.reason,
        }

    def plan_command(self) -> str:
        """The answer's one AGI command (PlanError naming the field if a value cannot be packed)."""
        return plan_command(PlanTag.OUTBOUND, self.channel_variables())


def _team_settings(settings: RoutingSettings, team: str | None) -> TeamSettings | None:
    if team is None:
        return settings.teams.get(settings.default_team)
    return settings.teams.get(team)


def decide_outbound(
    *, number: str, endpoint: str, settings: RoutingSettings, directory: AgentDirectory, default_region: str
) -> OutboundAnswer:
    """Pure: the answer for ``number`` dialled on ``endpoint``'s phone."""
    info = directory.agent(endpoint)
    team = info.team if info and info.team else settings.default_team
    ts = _team_settings(settings, team)
    region = (ts.region if ts else "") or default_region
    parsed = try_normalize(number, region=region) if _DIALLED_RE.match(number) else None
    if parsed is None:
        return OutboundAnswer(action=CcAction.HANGUP, reason=OutboundReason.UNPARSABLE, team=team)
    return OutboundAnswer(
        action=CcAction.DIAL,
        reason=OutboundReason.DIAL,
        dial_number=parsed.e164,
        presented_num=ts.outbound_caller_id if ts else "",
        team=team,
    )


class OutboundRoute:
    """``handler`` is a FastAgiServer route for AGI_ROUTE_OUTBOUND."""

    def __init__(self, *, settings: RoutingSettings, directory: AgentDirectory, default_region: str) -> None:
        self._settings = settings
        self._directory = directory
        self._default_region = default_region

    async def handler(self, session: AgiSession) -> None:
        headers = session.headers

        def arg(position: OutboundAgiArg) -> str:
            return headers.get(f"agi_arg_{int(position)}", "").strip()

        number, endpoint = arg(OutboundAgiArg.NUMBER), arg(OutboundAgiArg.ENDPOINT)
        answer = decide_outbound(
            number=number, endpoint=endpoint, settings=self._settings, directory=self._directory,
            default_region=self._default_region,
        )
        log.info(
            "outbound uniqueid=%s from %s team=%s dialled %r -> %s %s caller id %s",
            headers.get("agi_uniqueid", "-"), endpoint or "-", answer.team, number, answer.action.value,
            answer.dial_number or answer.reason, answer.presented_num or "(phone's own)",
        )
        result = await session.send_command(answer.plan_command())
        if result.get("status_code") != 200 or "error" in result:
            log.error("outbound SET VARIABLE %s rejected by Asterisk: %s", ChannelVar.PLAN, result)
