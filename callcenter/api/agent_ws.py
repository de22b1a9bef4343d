"""The agent's screen pop, pushed: while an agent's desk phone rings, their browser gets the caller's CRM card.

One WebSocket per agent page (``/api/v1/agent/ws?access_token=...``). Messages: ``ringing`` (call id, number, card:
the same card as GET /api/v1/screen-pop), ``answered`` and ``ended`` for the calls it popped. An agent sees the card
of whoever rings their phone, even another manager's customer: they are about to talk to them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select

from callcenter.api.call_routes import ScreenPopOut, card
from callcenter.events import CallAnswered, CallEnded, CallRinging, EventBus
from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Forbidden
from crm_core.models import User
from crm_core.phones import try_normalize
from crm_core.records import PhoneRules

__all__ = ["agent_websocket"]

log = logging.getLogger("callcenter.api")
QUEUE_LIMIT = 100  # pops for one phone; far more than a phone can ring


async def pop_for(db: Database, rules: PhoneRules, number: str | None) -> ScreenPopOut | None:
    parsed = try_normalize(number, region=rules.region)
    if parsed is None:
        return None  # withheld or not a number: the page shows the raw caller id
    async with db.session() as session:
        owner = await records.lookup_phone(session, rules, parsed.e164)
        if owner is None:
            return ScreenPopOut(number=parsed.e164, known=False)
        record = await records.get(session, Principal.system(), owner.entity, owner.id)
        return await card(session, owner.entity, record, parsed.e164)


async def agent_websocket(
    request: web.Request, *, db: Database, rules: PhoneRules, bus: EventBus, caller_of: Any
) -> web.StreamResponse:
    """``caller_of(call_id)`` -> the customer's number on that live call (from the live model)."""
    principal: Principal = request["principal"]
    async with db.session() as session:
        extension = await session.scalar(select(User.extension).where(User.id == principal.user_id))
    if not extension:
        raise Forbidden("the agent view needs a user with a desk phone extension")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    events: asyncio.Queue[object] = asyncio.Queue(maxsize=QUEUE_LIMIT)
    popped: set[str] = set()

    def on_event(event: Any) -> None:
        mine = getattr(event, "agent", None) == extension or (isinstance(event, CallEnded) and event.call_id in popped)
        if mine:
            try:
                events.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("agent %s page is not reading; pop dropped", extension)

    unsubscribe = [bus.subscribe(on_event, event_type=t) for t in (CallRinging, CallAnswered, CallEnded)]
    reader = asyncio.create_task(_drain(ws))
    try:
        await ws.send_json({"type": "hello", "agent": extension})
        while not reader.done():
            getter = asyncio.create_task(events.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await _send(ws, getter.result(), db=db, rules=rules, caller_of=caller_of, popped=popped)
    finally:
        for stop in unsubscribe:
            stop()
        reader.cancel()
        await ws.close()
    return ws


async def _send(ws: web.WebSocketResponse, event: object, *, db: Database, rules: PhoneRules, caller_of: Any,
                popped: set[str]) -> None:
    if isinstance(event, CallRinging):
        if event.call_id in popped:
            return  # rung again (next attempt): the page already shows it
        popped.add(event.call_id)
        number = caller_of(event.call_id)
        try:
            pop = await pop_for(db, rules, number)
        except Exception:
            # The phone rings regardless: show the number without a card rather than nothing.
            log.exception("screen pop lookup failed", extra={"call_id": event.call_id})
            pop = None
        await ws.send_json({"type": "ringing", "call_id": event.call_id, "number": number, "queue": event.queue,
                            "card": pop.model_dump() if pop else None})
    elif isinstance(event, CallAnswered):
        await ws.send_json({"type": "answered", "call_id": event.call_id})
    elif isinstance(event, CallEnded):
        popped.discard(event.call_id)
        await ws.send_json({"type": "ended", "call_id": event.call_id, "outcome": event.outcome.value})


async def _drain(ws: web.WebSocketResponse) -> None:
    """The page sends nothing we need; reading keeps pings answered and notices the close."""
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            break
