"""Agents' states on supervisors' BLF keys: each agent's live state as the custom device state Custom:agent-<ext>.

[cc-features] has a hint per agent (*7<ext> -> Custom:agent-<ext>), so a phone subscribed to that extension lights
with the agent. Written with AMI Setvar DEVICE_STATE(Custom:agent-<ext>)=<state> (func_devstate.c: needs the `call`
write class; Asterisk keeps the value in astdb family CustomDevstate and restores it when the module loads), on every
AgentStateChanged of the live model and, for every agent, after each AMI (re)connect: while the service was away
the stored values went stale, and a fresh Asterisk has none.

States (docs/deskphone.md): available NOT_INUSE, ringing RINGING, talking INUSE, wrap-up BUSY, paused ONHOLD (a
distinct lamp on most phones: not on a call, not free), offline UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from callcenter.ami import actions
from callcenter.ami.actions import AmiError
from callcenter.ami.channel_vars import AGENT_DEVICE_PREFIX
from callcenter.events import AgentState, AgentStateChanged

__all__ = ["DEVICE_STATE_BY_AGENT_STATE", "AgentBlf", "device_of"]

log = logging.getLogger("callcenter.deskphone")

DEVICE_STATE_BY_AGENT_STATE: Final[dict[AgentState, str]] = {
    AgentState.AVAILABLE: "NOT_INUSE",
    AgentState.RINGING: "RINGING",
    AgentState.TALKING: "INUSE",
    AgentState.WRAP_UP: "BUSY",
    AgentState.PAUSED: "ONHOLD",
    AgentState.OFFLINE: "UNAVAILABLE",
}


def device_of(agent: str) -> str:
    return f"{AGENT_DEVICE_PREFIX}{agent}"


class AgentBlf:
    """``send``: AmiConnection.send; ``agents``: the directory's agent ids; ``state_of``: LiveCalls.agent_state."""

    def __init__(self, *, send: Callable[[actions.Action], Any], agents: Callable[[], list[str]],
                 state_of: Callable[[str], tuple[AgentState, str | None]]) -> None:
        self.send = send
        self.agents = agents
        self.state_of = state_of
        self.published: dict[str, str] = {}  # agent -> the device state Asterisk last accepted
        self.republished = 0  # full re-publications (after each AMI session's resync)
        self._dirty: dict[str, None] = {}  # agents to publish, in order
        self._wakeup = asyncio.Event()
        self.listeners: list[Callable[[str, str], None]] = []  # (agent, device state) once Asterisk accepted it

    def on_state(self, event: AgentStateChanged) -> None:
        """Bus handler: publish the agent's new state (coalesced: only the latest one is sent). The live model also
        follows desk phones of no agent (a supervisor's): those have no hint and get no state."""
        if event.agent not in self.agents():
            return
        self._dirty[event.agent] = None
        self._wakeup.set()

    def republish_all(self) -> None:
        self.published.clear()
        for agent in self.agents():
            self._dirty[agent] = None
        self.republished += 1
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._dirty:
                agent = next(iter(self._dirty))
                del self._dirty[agent]
                await self._publish(agent)

    def on_session(self, _generation: int) -> None:
        """LiveCalls.on_synced hook: a new AMI session's resync is in the live model."""
        self.republish_all()

    async def _publish(self, agent: str) -> None:
        state, _ = self.state_of(agent)
        value = DEVICE_STATE_BY_AGENT_STATE[state]
        if self.published.get(agent) == value:
            return
        try:
            # no Channel: manager.c action_setvar writes the function without a channel, as the CLI's devstate does
            await self.send(actions.set_device_state(device=device_of(agent), state=value))
        except AmiError as exc:
            # not connected, or refused: the next session's republish_all sets it
            log.warning("BLF state of agent %s not published: %s", agent, exc)
            return
        self.published[agent] = value
        for listener in list(self.listeners):
            listener(agent, value)
