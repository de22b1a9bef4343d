"""FastAGI route ``feature``: an agent's desk phone dialled a feature code ([cc-features] in the shipped dialplan).

The phone's PJSIP endpoint names the agent (agi_arg_3 = ${CHANNEL(endpoint)}, the directory's extension); the code
acts through the same paths as the agent page and the API (queue membership over AMI, LiveCalls.pause / unpause /
end_wrapup), so Asterisk's queues, the live model and the wallboard all follow. The answer is one SET VARIABLE CC_PLAN
(feature1|<CC_FEATURE_RESULT>|<CC_FEATURE_PROMPT, a core sound>|<CC_FEATURE_DIAL>|<CC_CLICK_TO_CALL>) that
[cc-feature] unpacks: a session that breaks off leaves no plan, reads as "no answer" and plays the error prompt.
A phone of no agent, an unknown reason code or nothing to end / call back is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select

from callcenter.ami.actions import AmiError
from callcenter.ami.agi import AgiSession, RouteHandler
from callcenter.ami.agi_plan import plan_command
from callcenter.ami.channel_vars import ChannelVar, FeatureAgiArg, FeatureCode, FeaturePrompt, FeatureResult, PlanTag
from callcenter.calls.agents import WRAPUP_PAUSE_REASON
from crm_core.models import Task, TaskKind, TaskStatus, User

__all__ = ["FeatureAnswer", "PhoneFeatures", "parse_pause_reasons"]

log = logging.getLogger("callcenter.deskphone")

_ENDPOINT: Final = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_REASON_CODE: Final = re.compile(r"^[0-9]{1,4}$")
# One feature code must not hold the phone in silence: past this the agent hears the error prompt.
BUDGET_S: Final = 5.0


def parse_pause_reasons(reasons: Mapping[str, str]) -> dict[str, str]:
    """code (1-4 digits, what follows *46) -> pause reason text; ValueError naming the bad entry."""
    out: dict[str, str] = {}
    for code, text in reasons.items():
        if not _REASON_CODE.match(code):
            raise ValueError(f"pause reason code {code!r} must be 1-4 digits (dialled after *46)")
        text = " ".join(str(text).split())
        if not text or len(text) > 80:
            raise ValueError(f"pause reason for code {code} must be 1-80 characters")
        if text.lower() == WRAPUP_PAUSE_REASON:
            raise ValueError(f"pause reason '{WRAPUP_PAUSE_REASON}' is reserved for the service's wrap-up pacing")
        out[code] = text
    return out


@dataclass(frozen=True, slots=True)
class FeatureAnswer:
    """What the route answered one request, and why (kept for logs and tests)."""

    code: str
    agent: str | None  # None: the phone is no agent's
    result: FeatureResult
    prompt: FeaturePrompt
    why: str
    dial: str = ""  # callback: the number [cc-dial-customer] dials
    user_id: int | None = None
    took_ms: float = 0.0


class PhoneFeatures:
    """The handler for FastAgiServer(routes={AGI_ROUTE_FEATURE: features.handler}).

    ``routing``: the RoutingRuntime (directory, team rules, agent_control); ``live``: LiveCalls; ``db``: the CRM
    database (callbacks); ``members_of``: the queues an interface is in now (the membership keeper's record)."""

    def __init__(self, *, routing: Any, live: Any, db: Any, pause_reasons: Mapping[str, str],
                 members_of: Callable[[str], set[str]] | None = None, keep_answers: int = 1000) -> None:
        self.routing = routing
        self.live = live
        self.db = db
        self.pause_reasons = parse_pause_reasons(pause_reasons)
        self.members_of = members_of or (lambda _interface: set())
        self.answers: deque[FeatureAnswer] = deque(maxlen=keep_answers)
        self.listeners: list[Callable[[FeatureAnswer], None]] = []  # told of every answer (metrics, tests)

    @property
    def handler(self) -> RouteHandler:
        return self.serve

    async def serve(self, session: AgiSession) -> None:
        started = time.monotonic()
        answer = await self.answer(session.headers)
        answer = dataclasses.replace(answer, took_ms=(time.monotonic() - started) * 1000)
        self.answers.append(answer)
        for listener in list(self.listeners):
            listener(answer)
        log.log(logging.INFO if answer.result is FeatureResult.OK else logging.WARNING,
                "feature %s from %s -> %s (%s) in %.1f ms", answer.code, answer.agent or "no agent", answer.result,
                answer.why, answer.took_ms)
        result = await session.send_command(plan_command(PlanTag.FEATURE, {
            ChannelVar.FEATURE_RESULT: answer.result.value,
            ChannelVar.FEATURE_PROMPT: answer.prompt.value,
            ChannelVar.FEATURE_DIAL: answer.dial,
            # the user the callback goes out for ([cc-dial-customer]); the dialplan sets it only with a number
            ChannelVar.CLICK_TO_CALL: str(answer.user_id or 0) if answer.dial else "",
        }))
        if result.get("status_code") != 200:
            log.error("feature AGI SET VARIABLE %s rejected: %s", ChannelVar.PLAN, result)

    async def answer(self, headers: Mapping[str, str]) -> FeatureAnswer:
        def arg(position: FeatureAgiArg) -> str:
            return headers.get(f"agi_arg_{position}", "").strip()

        raw_code, endpoint = arg(FeatureAgiArg.CODE), arg(FeatureAgiArg.ENDPOINT)
        try:
            code = FeatureCode(raw_code)
        except ValueError:
            return FeatureAnswer(raw_code[:40], None, FeatureResult.REFUSED, FeaturePrompt.REFUSED,
                                 f"unknown feature {raw_code[:40]!r}")
        info = self.routing.directory.agent(endpoint) if _ENDPOINT.match(endpoint) else None
        if info is None:
            # nothing is recorded for a phone of no agent: no pause, no membership, no call
            return FeatureAnswer(code, None, FeatureResult.REFUSED, FeaturePrompt.NO_AGENT,
                                 f"endpoint {endpoint[:40]!r} is no agent's phone")
        try:
            return await asyncio.wait_for(self._run(code, arg(FeatureAgiArg.ARG), info), BUDGET_S)
        except TimeoutError:
            return FeatureAnswer(code, info.agent, FeatureResult.ERROR, FeaturePrompt.ERROR, "timeout")
        except AmiError as exc:
            return FeatureAnswer(code, info.agent, FeatureResult.ERROR, FeaturePrompt.ERROR, f"asterisk: {exc}")
        except Exception:
            log.exception("feature %s for agent %s failed", code, info.agent)
            return FeatureAnswer(code, info.agent, FeatureResult.ERROR, FeaturePrompt.ERROR, "error")

    async def _run(self, code: FeatureCode, arg: str, info: Any) -> FeatureAnswer:
        agent = info.agent

        def ok(prompt: FeaturePrompt, why: str) -> FeatureAnswer:
            return FeatureAnswer(code, agent, FeatureResult.OK, prompt, why)

        def refused(why: str) -> FeatureAnswer:
            return FeatureAnswer(code, agent, FeatureResult.REFUSED, FeaturePrompt.REFUSED, why)

        if code is FeatureCode.PAUSE:
            if arg and arg not in self.pause_reasons:
                return refused(f"unknown pause reason code {arg[:8]!r}")
            reason = self.pause_reasons.get(arg, "")
            queued = await self.live.pause(agent, reason, control=self._control(), interface=info.target)
            return ok(FeaturePrompt.DONE, f"paused ({reason or 'no reason'})" + ("" if queued else ", in no queue"))
        if code is FeatureCode.UNPAUSE:
            await self.live.unpause(agent, control=self._control(), interface=info.target)
            return ok(FeaturePrompt.DONE, "unpaused")
        if code is FeatureCode.WRAPUP_END:
            if not await self.live.end_wrapup(agent):
                return refused("not in wrap-up")
            return ok(FeaturePrompt.DONE, "wrap-up ended")
        if code is FeatureCode.LOGIN:
            queues = self._team_queues(info)
            if not queues:
                return refused("the agent has no team, so no queue")
            await self._log_in(info, queues)
            return ok(FeaturePrompt.LOGGED_IN, "logged in: " + ",".join(queues))
        if code is FeatureCode.LOGOUT:
            queues = sorted(set(self._team_queues(info)) | self.members_of(info.target))
            removed = await self._log_out(info, queues)
            return ok(FeaturePrompt.LOGGED_OUT, "logged out: " + (",".join(removed) or "was in no queue"))
        number = await self._last_missed(info)
        if number is None:
            return refused("no open callback")
        return FeatureAnswer(code, agent, FeatureResult.OK, FeaturePrompt.DONE, "calling back", dial=number,
                             user_id=info.user_id)

    def _control(self) -> Any:
        control = self.routing.agent_control()
        if control is None:
            raise AmiError("no Asterisk is configured (ami.host)")
        return control

    def _team_queues(self, info: Any) -> list[str]:
        team = self.routing.service.rules.teams.get(info.team) if info.team else None
        return [team.queue] if team is not None else []

    async def _log_in(self, info: Any, queues: list[str]) -> None:
        control = self._control()
        await control.log_in(info.target, queues, member_name=" ".join((info.name or info.agent).split()))
        own = self.live.tracker.agents.agents.get(info.agent)
        if own is not None and own.own_pause is not None:
            # paused while in no queue: the queues get the same pause, as the API's login does
            await control.pause(info.target, own.own_pause)

    async def _log_out(self, info: Any, queues: list[str]) -> list[str]:
        return await self._control().log_out(info.target, queues)

    async def _last_missed(self, info: Any) -> str | None:
        """The newest open callback of the agent, else the newest unassigned one of their team's pool."""
        if info.user_id is None:
            return None
        async with self.db.session() as session:
            base = select(Task.callback_e164).where(
                Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN, Task.callback_e164.is_not(None)
            ).order_by(Task.id.desc()).limit(1)
            number = await session.scalar(base.where(Task.assignee_id == info.user_id))
            if number is None:
                team_id = await session.scalar(select(User.team_id).where(User.id == info.user_id))
                if team_id is not None:
                    number = await session.scalar(base.where(Task.assignee_id.is_(None), Task.team_id == team_id))
        return number

