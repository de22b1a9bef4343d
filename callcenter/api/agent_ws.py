"""The agent's screen pop, pushed: while an agent's desk phone rings, their browser gets the caller's CRM card.

One WebSocket per agent page (``/api/v1/agent/ws?ticket=...``, a one-time ticket from POST /api/v1/auth/ws-ticket). Messages: ``hello`` (who I am and my state),
``ringing`` (call id, number, card: the same card as GET /api/v1/screen-pop; script: the call's script filled in, as
GET /api/v1/calls/{call_id}/script, or null; campaign: a campaign call's campaign and its disposition codes, or
null), ``answered`` and ``ended`` for my calls,
and ``state`` when my own state changes (available, ringing, talking, wrap-up, paused with reason,
offline). An agent sees the card of whoever rings their phone, even another manager's customer: they are about to
talk to them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy import select

from callcenter.api.auth import PRINCIPAL
from callcenter.api.sockets import OPEN_SOCKETS
from callcenter.api.call_routes import ScreenPopOut, card
from callcenter.dialer import script_store
from callcenter.events import AgentStateChanged, CallAnswered, CallEnded, CallRinging, EventBus
from callcenter.app_keys import LIVE
from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Forbidden
from crm_core.models import User
from crm_core.phones import try_normalize
from crm_core.records import PhoneRules

__all__ = ["agent_websocket", "close_on_shutdown"]

log = logging.getLogger("callcenter.api")
QUEUE_LIMIT = 100  # pops for one phone; far more than a phone can ring
SOCKETS = web.AppKey("agent_sockets", set)


def close_on_shutdown(app: web.Application) -> None:
    """Agent pages stay open all day: on shutdown tell them to go (they reconnect to the next instance) rather than
    hold the shutdown until its timeout."""
    app[SOCKETS] = set()

    async def close_all(app: web.Application) -> None:
        for ws in set(app[SOCKETS]):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"service shutting down")

    app.on_shutdown.append(close_all)


async def pop_for(db: Database, rules: PhoneRules, number: str | None, viewer: Principal) -> ScreenPopOut | None:
    parsed = try_normalize(number, region=rules.region)
    if parsed is None:
        return None  # withheld or not a number: the page shows the raw caller id
    async with db.read_session() as session:
        owner = await records.lookup_phone(session, rules, parsed.e164)
        if owner is None:
            return ScreenPopOut(number=parsed.e164, known=False)
        record = await records.get(session, Principal.system(), owner.entity, owner.id)
        # Who it is, but only what the agent may see anyway of the record's deals, tasks and calls (card()).
        return await card(session, owner.entity, record, parsed.e164, viewer=viewer)


async def script_for(
    db: Database, rules: PhoneRules, on_call: script_store.CallOnPhone | None, user_id: int
) -> tuple[Any, Any]:
    """The call's script for this agent (campaign, deal stage or segment) filled in, and a campaign call's campaign
    with its disposition codes; None for what does not apply."""
    if on_call is None:
        return None, None
    async with db.read_session() as session:
        return (await script_store.resolve(session, rules, on_call, user_id),
                await script_store.campaign_codes(session, on_call))


def _live_call_of(request: web.Request) -> Any:
    """call id -> what the resolver needs of the live call (its customer, CC_CAMPAIGN, CC_DIAL_ATTEMPT), or None."""
    from callcenter.api.script_routes import on_call_of

    live = request.app.get(LIVE)

    def find(call_id: str) -> script_store.CallOnPhone | None:
        found = next((c for c in live.tracker.open_calls() if c.call_id == call_id), None) if live else None
        return on_call_of(found) if found is not None else None

    return find


async def agent_websocket(
    request: web.Request, *, db: Database, rules: PhoneRules, bus: EventBus, caller_of: Any, state_of: Any
) -> web.StreamResponse:
    """``caller_of(call_id)`` -> the customer's number on that live call; ``state_of(extension)`` -> (state, reason)
    (both from the live model)."""
    principal = request[PRINCIPAL]
    async with db.read_session() as session:
        user = await session.scalar(select(User).where(User.id == principal.user_id))
    extension = user.extension if user is not None else None
    if not extension:
        raise Forbidden("the agent view needs a user with a desk phone extension")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sockets: set[web.WebSocketResponse] = request.app.get(SOCKETS, set())
    sockets.add(ws)
    request.app[OPEN_SOCKETS].add(ws, principal, endpoint="agent")  # closed when the token is revoked or the user's access changes
    events: asyncio.Queue[tuple[object, str | None, Any]] = asyncio.Queue(maxsize=QUEUE_LIMIT)
    popped: set[str] = set()
    live_call_of = _live_call_of(request)

    def on_event(event: Any) -> None:
        # Decided here, in the bus's order, not when the queue is read: by then a short call may be over and gone
        # from the live model (no number for its card), and its CallEnded must still find it popped.
        number = on_call = None
        if isinstance(event, CallRinging):
            if event.agent != extension or event.call_id in popped:
                return  # not my phone, or rung again (next attempt): the page already shows it
            popped.add(event.call_id)
            number = caller_of(event.call_id)
            on_call = live_call_of(event.call_id)  # its campaign and dial attempt pick the script
        elif isinstance(event, CallEnded):
            # Also the end of a call this page did not pop itself (opened or reconnected during it).
            mine = extension in (event.answered_by, *event.agents_rung, *event.agents_talked)
            if event.call_id not in popped and not mine:
                return
            popped.discard(event.call_id)
        elif getattr(event, "agent", None) != extension:
            return
        try:
            events.put_nowait((event, number, on_call))
        except asyncio.QueueFull:
            log.warning("agent %s page is not reading; %s dropped", extension, type(event).__name__)

    unsubscribe = [bus.subscribe(on_event, event_type=t) for t in (CallRinging, CallAnswered, CallEnded, AgentStateChanged)]
    reader = asyncio.create_task(_drain(ws))
    try:
        state, reason = state_of(extension)
        await ws.send_json({"type": "hello", "agent": extension, "user_id": user.id, "name": user.name,
                            "state": str(state), "reason": reason})
        while not reader.done():
            getter = asyncio.create_task(events.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            event, number, on_call = getter.result()
            await _send(ws, event, number, db=db, rules=rules, viewer=principal, on_call=on_call)
    finally:
        sockets.discard(ws)
        request.app[OPEN_SOCKETS].discard(ws)
        for stop in unsubscribe:
            stop()
        reader.cancel()
        await ws.close()
    return ws


async def _send(
    ws: web.WebSocketResponse, event: object, number: str | None, *, db: Database, rules: PhoneRules, viewer: Principal,
    on_call: Any = None,
) -> None:
    if isinstance(event, CallRinging):
        try:
            pop = await pop_for(db, rules, number, viewer)
        except Exception:
            # The phone rings regardless: show the number without a card rather than nothing.
            log.exception("screen pop lookup failed", extra={"call_id": event.call_id})
            pop = None
        script = campaign = None
        try:
            if viewer.user_id is not None:
                script, campaign = await script_for(db, rules, on_call, viewer.user_id)
        except Exception:
            log.exception("call script lookup failed", extra={"call_id": event.call_id})  # the card still goes
        await ws.send_json({"type": "ringing", "call_id": event.call_id, "number": number, "queue": event.queue,
                            "card": pop.model_dump() if pop else None, "script": script, "campaign": campaign})
    elif isinstance(event, CallAnswered):
        await ws.send_json({"type": "answered", "call_id": event.call_id})
    elif isinstance(event, CallEnded):
        await ws.send_json({"type": "ended", "call_id": event.call_id, "outcome": event.outcome.value})
    elif isinstance(event, AgentStateChanged):
        await ws.send_json({"type": "state", "state": str(event.state), "reason": event.reason,
                            "call_id": event.call_id})


async def _drain(ws: web.WebSocketResponse) -> None:
    """The page sends nothing we need; reading keeps pings answered and notices the close."""
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            break
