"""FastAGI route ``campaign``: [cc-campaign] asks which agent takes a campaign call a person just answered.

The law gives the call 2 s from the callee's greeting to reach an agent (compliance.INFORMATION_MESSAGE_WITHIN_S);
past it, the callee must hear the information message instead. So the answer has a hard budget: the port (the
campaign runner, which reserves a free agent) gets at most ``budget_ms``; no agent, a late port, a failing port or a
request we cannot trust all answer CC_AGENT=none, and the dialplan plays the message (the attempt is abandoned).

Answer: one SET VARIABLE CC_PLAN = campaign1|<CC_AGENT>|<CC_AGENT_RING_S> (callcenter.ami.agi_plan), one round trip
inside the 2 s; [cc-campaign] clears CC_PLAN before AGI() and unpacks it, so a session that breaks off reads as
"no agent".
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, Protocol

from callcenter.ami.agi import AgiSession, RouteHandler
from callcenter.ami.agi_plan import plan_command
from callcenter.ami.channel_vars import NO_AGENT, CampaignAgiArg, ChannelVar, PlanTag
from callcenter.dialer.compliance import INFORMATION_MESSAGE_WITHIN_S

__all__ = ["AgentAnswer", "AgentPort", "CampaignAgentRoute", "NotOurAttempt"]

log = logging.getLogger(__name__)

_EXTENSION: Final = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_INT64_MAX: Final = 2**63 - 1


class NotOurAttempt(Exception):
    """Raised by the port for an attempt it does not know or that is not in a state to take an agent; the message
    is the reason logged and kept with the answer."""


class AgentPort(Protocol):
    """What the campaign runner provides: reserve a free agent of the campaign's team for this answered attempt."""

    def agent_for(self, campaign_id: int, attempt_id: int) -> Awaitable[str | None]:
        """The reserved agent's extension, or None when nobody is free. May raise NotOurAttempt."""
        ...


@dataclass(frozen=True, slots=True)
class AgentAnswer:
    """What the route answered one request, and why (kept for logs, metrics and tests)."""

    campaign_id: int | None
    attempt_id: int | None
    agent: str | None  # None: CC_AGENT=none
    reason: str  # agent | no-agent | timeout | not-ours: ... | bad-request: ... | error
    took_ms: float


class CampaignAgentRoute:
    """The handler for FastAgiServer(routes={AGI_ROUTE_CAMPAIGN: route})."""

    def __init__(self, *, port: AgentPort, budget_ms: int = round(INFORMATION_MESSAGE_WITHIN_S * 1000),
                 agent_ring_s: int = 2, keep_answers: int = 1000) -> None:
        """``agent_ring_s``: Dial()'s timeout for the reserved agent's phone (whole seconds). Campaign agents' phones
        are meant to auto-answer: the callee is already waiting in silence, and a phone still ringing after this
        ends in the information message (abandoned) rather than keeping the callee on a silent line."""
        if not 1 <= budget_ms <= round(INFORMATION_MESSAGE_WITHIN_S * 1000):
            raise ValueError(f"budget_ms must be 1..{round(INFORMATION_MESSAGE_WITHIN_S * 1000)} (the law's limit)")
        if not 1 <= agent_ring_s <= 120:
            raise ValueError("agent_ring_s must be 1..120")
        self._port = port
        self._budget_s = budget_ms / 1000
        self._agent_ring_s = agent_ring_s
        self.answers: deque[AgentAnswer] = deque(maxlen=keep_answers)

    @property
    def handler(self) -> RouteHandler:
        return self.serve

    async def serve(self, session: AgiSession) -> None:
        started = time.monotonic()
        campaign_id = attempt_id = None
        try:
            campaign_id, attempt_id = _ids(session.headers)
        except ValueError as exc:
            agent, reason = None, f"bad-request: {exc}"
        else:
            agent, reason = await self._ask(campaign_id, attempt_id)
        answer = AgentAnswer(campaign_id, attempt_id, agent, reason, (time.monotonic() - started) * 1000)
        self.answers.append(answer)
        level = logging.INFO if agent or reason == "no-agent" else logging.WARNING
        log.log(level, "campaign AGI uniqueid=%s campaign=%s attempt=%s -> %s (%s) in %.1f ms",
                session.headers.get("agi_uniqueid", "-"), campaign_id, attempt_id, agent or NO_AGENT, reason,
                answer.took_ms)
        result = await session.send_command(plan_command(
            PlanTag.CAMPAIGN, {ChannelVar.AGENT: agent or NO_AGENT, ChannelVar.AGENT_RING_S: str(self._agent_ring_s)}
        ))
        if result.get("status_code") != 200:
            log.error("campaign AGI SET VARIABLE %s rejected: %s", ChannelVar.PLAN, result)

    async def _ask(self, campaign_id: int, attempt_id: int) -> tuple[str | None, str]:
        try:
            task = asyncio.ensure_future(self._port.agent_for(campaign_id, attempt_id))
        except Exception:
            log.exception("campaign AGI: the agent port could not be called")
            return None, "error"
        done, _ = await asyncio.wait({task}, timeout=self._budget_s)
        if not done:
            # asyncio.wait, not wait_for: a port that swallows cancellation cannot hold the caller past the limit
            task.cancel()
            task.add_done_callback(_discard)
            return None, "timeout"
        if task.cancelled():
            return None, "error"
        error = task.exception()
        if isinstance(error, NotOurAttempt):
            return None, f"not-ours: {error}"
        if error is not None:
            log.error("campaign AGI: the agent port failed", exc_info=error)
            return None, "error"
        agent = task.result()
        if agent is None:
            return None, "no-agent"
        if not isinstance(agent, str) or not _EXTENSION.match(agent) or agent == NO_AGENT:
            log.error("campaign AGI: the agent port returned %r, not an extension", agent)
            return None, "error"
        return agent, "agent"


def _ids(headers: dict[str, str]) -> tuple[int, int]:
    """(campaign id, attempt id) from agi_arg_1 / agi_arg_2, or ValueError naming the bad one."""
    values = []
    for position, name in ((CampaignAgiArg.CAMPAIGN, "campaign"), (CampaignAgiArg.DIAL_ATTEMPT, "attempt")):
        raw = headers.get(f"agi_arg_{position}", "").strip()
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= _INT64_MAX:
            raise ValueError(f"{name} id {raw[:40]!r} is not a positive integer")
        values.append(int(raw))
    return values[0], values[1]


def _discard(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()
