"""What the dialer is doing for a campaign right now, as the campaign page shows it (pure data).

The instance that holds a campaign's lease (callcenter/dialer/runner.py) makes one of these on every pacing tick and
keeps it where every instance's API can read it (Redis when configured, else in memory), so the page shows the same
figures whichever instance answers it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

__all__ = ["CampaignLive", "DIALER", "LiveStatusSource", "Status"]


class Status:
    """``CampaignLive.status`` values (strings on the wire)."""

    DIALLING = "dialling"  # placing calls as the pacing says
    WAITING_FOR_AGENTS = "waiting_for_agents"  # nobody of the team is logged in / free
    WAITING_FOR_WINDOW = "waiting_for_window"  # every number left is outside its calling hours or waits a retry
    WAITING_FOR_ASTERISK = "waiting_for_asterisk"  # the AMI session is down: nothing is dialled, calls in flight kept
    NO_LIST = "no_list"  # the report or its creator is gone (state_reason says which)
    IDLE = "idle"  # paused, stopped, finished or draft: the dialer does nothing for it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CampaignLive:
    campaign_id: int
    at_s: float  # when this was made (epoch seconds)
    status: str
    detail: str  # one sentence for the page ("3 free of 5 logged in; dialled 4: ...")
    instance: str  # which service instance paces the campaign
    ringing: int  # dialled, not answered yet
    waiting_for_agent: int  # answered by a person, being given to an agent (inside the 2 s)
    talking: int  # connected to an agent
    agents: Mapping[str, int]  # the team's agents by state (available, ringing, talking, wrap_up, paused, offline)
    pacing: Mapping[str, Any] | None  # the last PacingDecision: dial_count, mode, fallback, why and its estimates
    next_dial_at_s: float | None = None  # waiting for a window or a retry: when the next number becomes callable

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "agents": dict(self.agents),
                "pacing": None if self.pacing is None else dict(self.pacing)}


class LiveStatusSource(Protocol):
    """What the API reads (``app[DIALER]``): the latest CampaignLive of a campaign, or None when no instance paces
    it now (not running, or its lease lapsed)."""

    async def live_status(self, campaign_id: int) -> CampaignLive | None: ...


# The running service's LiveStatusSource (the campaign runner), absent when no AMI session is configured.
DIALER = web.AppKey("dialer", Any)
