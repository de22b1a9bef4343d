"""Routing state in Redis, shared by several service instances. Same contract as MemoryRoutingStore (state.py).

Every read-modify-write is one Lua script (registered with ``register_script``, so EVALSHA with a transparent
reload after a Redis restart): Redis runs a script alone, which is what makes ``reserve`` atomic across instances
and what makes two calls in the same millisecond get different agents. Every key a script touches is passed in
KEYS (Redis Cluster requirement); they share one hash tag (keys.py).

Floats travel as Python ``repr`` strings, which round-trip exactly through Lua's doubles; computed floats come back
formatted with %.17g because Lua integers-only replies would truncate them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from callcenter.events import AgentState, AgentStateChanged, CallAnswered, CallEnded, CallRinging
from callcenter.routing.keys import NO_ANSWER_FIELD, PREFIX, RoutingKeys
from callcenter.routing.state import DEFAULT_HISTORY_S, DEFAULT_OFFERS_TTL_S, AgentLive, Reserved, Snapshot, TierAsk

__all__ = ["RedisRoutingStore"]

_SET_STATE: Final = """
local cur = redis.call('HMGET', KEYS[1], 'state', 'since_s', 'reason')
local at = tonumber(ARGV[3])
local since = tonumber(cur[2])
if since and at < since then return 0 end
if cur[1] == ARGV[2] and (cur[3] or '') == ARGV[4] then return 0 end
if (cur[1] == 'talking' or cur[1] == 'wrap-up') and since and at > since then
  redis.call('ZADD', KEYS[2], ARGV[3], cur[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.17g', at - tonumber(ARGV[5])))
  redis.call('HSET', KEYS[1], 'last_busy_end_s', ARGV[3])
end
if cur[1] == 'paused' and ARGV[2] ~= 'paused' then redis.call('HSET', KEYS[1], 'streak', 0) end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'since_s', ARGV[3], 'reason', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

# KEYS: agent hash, offers hash, calls zset. ARGV: kind, call id, agent, at_s, history_s, offers ttl
_OFFERED_EVENT: Final = """
if redis.call('HGET', KEYS[1], 'reserved_call') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'reserved_call', 'reserved_until_s')
end
redis.call('HSETNX', KEYS[2], ARGV[3], '0')
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[1] == 'answered' then
  redis.call('HSET', KEYS[1], 'streak', 0)
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf',
             '(' .. string.format('%.17g', tonumber(ARGV[4]) - tonumber(ARGV[5])))
end
return 1
"""

# KEYS: offers hash, then the hashes of the agents it names. ARGV: call id
_CALL_ENDED: Final = """
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'reserved_call') == ARGV[1] then
    redis.call('HDEL', KEYS[i], 'reserved_call', 'reserved_until_s')
  end
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: offers hash, rr key, `nrel` agent hashes to release, then one hash per candidate.
# ARGV: call id, attempt, count, now_s, until_s, nrel, offers ttl, set rr (1/0), candidate agent ids...
_RESERVE: Final = """
local call = ARGV[1]
local now = tonumber(ARGV[4])
local nrel = tonumber(ARGV[6])
for i = 1, nrel do
  local k = KEYS[2 + i]
  if redis.call('HGET', k, 'reserved_call') == call then redis.call('HDEL', k, 'reserved_call', 'reserved_until_s') end
end
local won = {}
local count = tonumber(ARGV[3])
for j = 9, #ARGV do
  local agent = ARGV[j]
  local k = KEYS[2 + nrel + (j - 8)]
  local h = redis.call('HMGET', k, 'state', 'reserved_call', 'reserved_until_s')
  local held = h[2] and (tonumber(h[3]) or 0) > now
  if h[1] == 'available' and not held and redis.call('HEXISTS', KEYS[1], agent) == 0 then
    redis.call('HSET', k, 'reserved_call', call, 'reserved_until_s', ARGV[5])
    redis.call('HSET', KEYS[1], agent, ARGV[2])
    won[#won + 1] = agent
    if #won >= count then break end
  end
end
if #won > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  if ARGV[8] == '1' then redis.call('SET', KEYS[2], won[#won]) end
end
return won
"""

# KEYS: offers hash, then agent hashes. ARGV: attempt, offers ttl
_NOTE_NO_ANSWER: Final = """
local done = tonumber(redis.call('HGET', KEYS[1], '""" + NO_ANSWER_FIELD + """') or '0')
local counting = done < tonumber(ARGV[1])
if counting then
  redis.call('HSET', KEYS[1], '""" + NO_ANSWER_FIELD + """', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local out = {}
for i = 2, #KEYS do
  if counting then
    out[#out + 1] = redis.call('HINCRBY', KEYS[i], 'streak', 1)
  else
    out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 'streak') or '0')
  end
end
return out
"""

# Lua that appends one row per agent to `out`, from KEYS[first], KEYS[first + 1], ... (per agent: hash, busy zset,
# calls zset) for `n` agents, with `now` / `ws` (window start) and ARGV[wsarg] its exact text. Shared by both
# snapshot scripts so the rows cannot drift apart.
_ROWS: Final = """
local function rows(out, first, n, now, ws, wstext)
  for base = first, first + 3 * (n - 1), 3 do
    local h = redis.call('HMGET', KEYS[base], 'state', 'since_s', 'reason', 'reserved_call', 'reserved_until_s',
                         'last_busy_end_s', 'streak', 'callbacks')
    local busy = 0
    local segs = redis.call('ZRANGEBYSCORE', KEYS[base + 1], '(' .. wstext, '+inf', 'WITHSCORES')
    for j = 1, #segs, 2 do
      local s = tonumber(segs[j])
      local e = tonumber(segs[j + 1])
      if s < ws then s = ws end
      if e > s then busy = busy + (e - s) end
    end
    local calls = redis.call('ZCOUNT', KEYS[base + 2], wstext, '+inf')
    local rc = h[4]
    if rc and (tonumber(h[5]) or 0) <= now then rc = false end
    out[#out + 1] = {h[1] or '', h[2] or '', h[3] or '', rc or '', h[6] or '', h[7] or '0', h[8] or '0',
                     string.format('%.17g', busy), tostring(calls)}
  end
end
"""

# KEYS: offers hash, rr key, then per agent: hash, busy zset, calls zset. ARGV: now_s, window start.
# Replies with ONE JSON string: a nested multi-bulk reply costs redis-py's pure-Python parser ~10 us per element
# (300 for a team of 30), json.loads a few us for the whole thing. Values stay strings so floats keep every digit.
_SNAPSHOT: Final = _ROWS + """
local rr = redis.call('GET', KEYS[2])
local out = {redis.call('HGETALL', KEYS[1]), rr or ''}
rows(out, 3, (#KEYS - 2) / 3, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[2])
return cjson.encode(out)
"""

# snapshot_and_reserve, one script so that a routing decision is one round trip (state.py, service.py).
# KEYS: offers hash, rr key, 3 per snapshot agent (as _SNAPSHOT), `nrel` hashes to release, `nwd` hashes to
#       withdraw, then one hash per candidate of every tier in order.
# ARGV: 1 now_s, 2 window start, 3 call id, 4 attempt, 5 until_s, 6 offers ttl, 7 nagents, 8 nrel, 9 nwd,
#       10 rr team given (1/0), 11 cursor before a withdrawal ('' none), 12 ntiers, then the `nwd` withdrawn agent
#       ids, then per tier: count, round robin (1/0), ncand, candidate ids.
# Reply: JSON [tier (1-based, 0 none), taken agents, offers (flat), rr cursor, row per agent...].
_SNAPSHOT_RESERVE: Final = _ROWS + """
local now = tonumber(ARGV[1])
local call = ARGV[3]
local nagents = tonumber(ARGV[7])
local nrel = tonumber(ARGV[8])
local nwd = tonumber(ARGV[9])
local k = 2 + 3 * nagents
for i = 1, nrel + nwd do
  local h = KEYS[k + i]
  if redis.call('HGET', h, 'reserved_call') == call then redis.call('HDEL', h, 'reserved_call', 'reserved_until_s') end
end
local a = 13
for i = 1, nwd do
  if redis.call('HGET', KEYS[1], ARGV[a]) == ARGV[4] then redis.call('HDEL', KEYS[1], ARGV[a]) end
  a = a + 1
end
if nwd > 0 and ARGV[10] == '1' then
  if ARGV[11] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[11]) end
end
local out = {0, {}, redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) or ''}
if nagents > 0 then rows(out, 3, nagents, now, tonumber(ARGV[2]), ARGV[2]) end
k = k + nrel + nwd
local won = {}
for t = 1, tonumber(ARGV[12]) do
  local count = tonumber(ARGV[a])
  local rr = ARGV[a + 1]
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  if #won == 0 then
    for j = 0, n - 1 do
      local agent = ARGV[a + j]
      local h = KEYS[k + 1 + j]
      local cur = redis.call('HMGET', h, 'state', 'reserved_call', 'reserved_until_s')
      local held = cur[2] and (tonumber(cur[3]) or 0) > now
      if cur[1] == 'available' and not held and redis.call('HEXISTS', KEYS[1], agent) == 0 then
        redis.call('HSET', h, 'reserved_call', call, 'reserved_until_s', ARGV[5])
        redis.call('HSET', KEYS[1], agent, ARGV[4])
        won[#won + 1] = agent
        if #won >= count then break end
      end
    end
    if #won > 0 then
      out[1] = t
      if rr == '1' and ARGV[10] == '1' then redis.call('SET', KEYS[2], won[#won]) end
    end
  end
  a = a + n
  k = k + n
end
if #won > 0 then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
out[2] = won
return cjson.encode(out)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _float(value: Any) -> float | None:
    text = _text(value)
    return float(text) if text else None


def _parse_snapshot(agents: Sequence[str], offers_flat: Any, rr: str, rows: Sequence[Sequence[str]]) -> Snapshot:
    flat = offers_flat or []  # cjson encodes an empty table as {}
    offers = {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2) if flat[i] != NO_ANSWER_FIELD}
    out: dict[str, AgentLive] = {}
    for agent, row in zip(agents, rows):
        state, since, reason, reserved, last_end, streak, callbacks, busy, calls = row
        out[agent] = AgentLive(
            agent=agent,
            state=AgentState(state) if state else AgentState.OFFLINE,
            since_s=float(since) if since else None,
            reason=reason or None,
            reserved_by=reserved or None,
            busy_s=float(busy),
            calls=int(calls),
            last_busy_end_s=_float(last_end),
            no_answer_streak=int(streak),
            open_callbacks=int(callbacks),
        )
    return Snapshot(agents=out, offers=offers, rr_cursor=rr or None)


class RedisRoutingStore:
    """``redis``: a redis.asyncio client (decode_responses either way). The client is the caller's to close."""

    remote = True  # every call is a round trip: RoutingService plans on the last snapshot (service.py)

    def __init__(
        self,
        *,
        redis: Any,
        prefix: str = PREFIX,
        history_s: float = DEFAULT_HISTORY_S,
        offers_ttl_s: int = DEFAULT_OFFERS_TTL_S,
    ) -> None:
        self._redis = redis
        self.keys = RoutingKeys(prefix)
        self._history_s = history_s
        self._offers_ttl_s = offers_ttl_s
        self._set_state = redis.register_script(_SET_STATE)
        self._offered = redis.register_script(_OFFERED_EVENT)
        self._ended = redis.register_script(_CALL_ENDED)
        self._reserve = redis.register_script(_RESERVE)
        self._no_answer = redis.register_script(_NOTE_NO_ANSWER)
        self._snapshot = redis.register_script(_SNAPSHOT)
        self._snapshot_reserve = redis.register_script(_SNAPSHOT_RESERVE)

    # -- events -------------------------------------------------------------------------------------------------

    async def apply(self, event: object) -> None:
        k = self.keys
        if isinstance(event, AgentStateChanged):
            await self.set_state(event.agent, event.state, at_s=event.at_s, reason=event.reason)
        elif isinstance(event, CallRinging | CallAnswered):
            kind = "answered" if isinstance(event, CallAnswered) else "ringing"
            await self._offered(
                keys=[k.agent(event.agent), k.offers(event.call_id), k.calls(event.agent)],
                args=[kind, event.call_id, event.agent, repr(event.at_s), repr(self._history_s), self._offers_ttl_s],
            )
        elif isinstance(event, CallEnded):
            offered = [a for a in map(_text, await self._redis.hkeys(k.offers(event.call_id))) if a != NO_ANSWER_FIELD]
            await self._ended(keys=[k.offers(event.call_id), *map(k.agent, offered)], args=[event.call_id])

    async def set_state(self, agent: str, state: AgentState, *, at_s: float, reason: str | None = None) -> None:
        k = self.keys
        await self._set_state(
            keys=[k.agent(agent), k.busy(agent), k.agents],
            args=[agent, state.value, repr(at_s), reason or "", repr(self._history_s)],
        )

    async def set_open_callbacks(self, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        async with self._redis.pipeline(transaction=True) as pipe:  # one round trip for the whole directory
            for agent, count in counts.items():
                pipe.hset(self.keys.agent(agent), "callbacks", max(0, count))
            pipe.sadd(self.keys.agents, *counts)
            await pipe.execute()

    # -- routing ------------------------------------------------------------------------------------------------

    async def snapshot(
        self, *, agents: Sequence[str], call_id: str, now_s: float, window_start_s: float, rr_team: str | None = None
    ) -> Snapshot:
        k = self.keys
        keys = [k.offers(call_id), k.rr(rr_team or "")]
        for agent in agents:
            keys += (k.agent(agent), k.busy(agent), k.calls(agent))
        raw = json.loads(await self._snapshot(keys=keys, args=[repr(now_s), repr(window_start_s)]))
        return _parse_snapshot(agents, raw[0], raw[1] if rr_team else "", raw[2:])

    async def snapshot_and_reserve(
        self,
        *,
        agents: Sequence[str],
        call_id: str,
        attempt: int,
        now_s: float,
        window_start_s: float,
        ttl_s: float,
        tiers: Sequence[TierAsk],
        release: Sequence[str] = (),
        withdraw: Sequence[str] = (),
        rr_team: str | None = None,
        rr_before: str | None = None,
    ) -> Reserved:
        k = self.keys
        keys = [k.offers(call_id), k.rr(rr_team or "")]
        for agent in agents:
            keys += (k.agent(agent), k.busy(agent), k.calls(agent))
        keys += map(k.agent, release)
        keys += map(k.agent, withdraw)
        args: list[Any] = [
            repr(now_s), repr(window_start_s), call_id, attempt, repr(now_s + ttl_s), self._offers_ttl_s,
            len(agents), len(release), len(withdraw), 1 if rr_team else 0, rr_before or "", len(tiers), *withdraw,
        ]
        for tier in tiers:
            keys += map(k.agent, tier.candidates)
            args += (tier.count, 1 if tier.round_robin else 0, len(tier.candidates), *tier.candidates)
        raw = json.loads(await self._snapshot_reserve(keys=keys, args=args))
        snap = _parse_snapshot(agents, raw[2], raw[3] if rr_team else "", raw[4:])
        won = tuple(raw[1] or ())  # cjson encodes an empty table as {}
        return Reserved(snapshot=snap, tier=raw[0] - 1 if won else None, agents=won)

    async def note_no_answer(self, *, call_id: str, attempt: int, agents: Sequence[str]) -> Mapping[str, int]:
        k = self.keys
        streaks = await self._no_answer(
            keys=[k.offers(call_id), *map(k.agent, agents)], args=[attempt, self._offers_ttl_s]
        )
        return {agent: int(s) for agent, s in zip(agents, streaks)}

    async def reserve(
        self,
        *,
        call_id: str,
        attempt: int,
        candidates: Sequence[str],
        now_s: float,
        ttl_s: float,
        count: int = 1,
        release: Sequence[str] = (),
        rr_team: str | None = None,
    ) -> tuple[str, ...]:
        if not candidates and not release:
            return ()
        k = self.keys
        keys = [k.offers(call_id), k.rr(rr_team or ""), *map(k.agent, release), *map(k.agent, candidates)]
        won = await self._reserve(
            keys=keys,
            args=[
                call_id,
                attempt,
                count,
                repr(now_s),
                repr(now_s + ttl_s),
                len(release),
                self._offers_ttl_s,
                1 if rr_team else 0,
                *candidates,
            ],
        )
        return tuple(_text(a) for a in won)

    async def aclose(self) -> None:
        return None
