"""Which service instance paces which team's campaigns: a lease that expires (Redis), or this process alone.

The lease is per team, not per campaign: campaigns of one team share its agents, and two instances pacing two of
them would each count the same free agents and overdial. The holder renews it every tick; an instance that dies
stops renewing and another takes over once ``ttl_s`` has passed (it then adopts the attempts left in flight:
callcenter/dialer/runner.py). The holder also publishes each campaign's live status here, so the campaign page reads
the same figures through whichever instance answers it.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final, Protocol

from callcenter.dialer.live_status import CampaignLive
from callcenter.redis_keys import DIALER_LEASE, DIALER_STATUS

__all__ = ["Leases", "MemoryLeases", "RedisLeases"]

# Renew only our own lease: compare the holder, then extend (one round trip, atomic on the server).
_RENEW: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases(Protocol):
    async def hold(self, team_id: int, *, ttl_s: float) -> bool:
        """Take or renew this instance's lease on the team; False while another instance holds it."""
        ...

    async def release(self, team_id: int) -> None: ...

    async def put_status(self, live: CampaignLive, *, ttl_s: float) -> None: ...

    async def get_status(self, campaign_id: int) -> CampaignLive | None: ...


class MemoryLeases:
    """One process: every lease is ours; statuses expire like Redis keys would."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._status: dict[int, tuple[float, CampaignLive]] = {}

    async def hold(self, team_id: int, *, ttl_s: float) -> bool:
        return True

    async def release(self, team_id: int) -> None:
        return None

    async def put_status(self, live: CampaignLive, *, ttl_s: float) -> None:
        self._status[live.campaign_id] = (time.monotonic() + ttl_s, live)

    async def get_status(self, campaign_id: int) -> CampaignLive | None:
        kept = self._status.get(campaign_id)
        return kept[1] if kept is not None and kept[0] > time.monotonic() else None


class RedisLeases:
    def __init__(self, redis: Any, instance: str) -> None:
        self._redis = redis
        self.instance = instance

    @staticmethod
    def _lease(team_id: int) -> str:
        return f"{DIALER_LEASE}{team_id}"

    @staticmethod
    def _status_key(campaign_id: int) -> str:
        return f"{DIALER_STATUS}{campaign_id}"

    async def hold(self, team_id: int, *, ttl_s: float) -> bool:
        won = await self._redis.eval(_RENEW, 1, self._lease(team_id), self.instance, max(1, round(ttl_s * 1000)))
        return bool(int(won))

    async def holder(self, team_id: int) -> str | None:
        value = await self._redis.get(self._lease(team_id))
        return value.decode() if isinstance(value, bytes) else value

    async def release(self, team_id: int) -> None:
        await self._redis.eval(_RELEASE, 1, self._lease(team_id), self.instance)

    async def put_status(self, live: CampaignLive, *, ttl_s: float) -> None:
        await self._redis.set(self._status_key(live.campaign_id), json.dumps(live.to_json()),
                              px=max(1, round(ttl_s * 1000)))

    async def get_status(self, campaign_id: int) -> CampaignLive | None:
        raw = await self._redis.get(self._status_key(campaign_id))
        if raw is None:
            return None
        return CampaignLive(**json.loads(raw))
