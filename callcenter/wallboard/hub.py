"""Pushes the wallboard to browsers: a snapshot first, then numbered deltas.

Every message carries a sequence number; a client that sees a gap asks for a resync. A slow client gets a bounded
queue: when it overflows, the client is dropped (close code 4000 "resync") instead of slowing the service, and its
browser reconnects and starts again from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, web

from callcenter.events import EventBus
from callcenter.wallboard.state import Delta, WallboardState

log = logging.getLogger("callcenter.wallboard")
RESYNC_CLOSE_CODE = 4000


class Client:
    def __init__(self, *, queue_limit: int, visible: Callable[[Delta], bool]) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_limit)
        self.visible = visible
        self.overflowed = asyncio.Event()


class Hub:
    def __init__(self, *, queue_limit: int = 1000) -> None:
        self.state = WallboardState()
        self.seq = 0
        self.queue_limit = queue_limit
        self.clients: set[Client] = set()
        self.dropped = 0

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.on_event)

    def on_event(self, event: object) -> None:
        self.push(self.state.apply(event))

    def push(self, deltas: list[Delta]) -> None:
        for delta in deltas:
            self.seq += 1
            message = {"type": "delta", "seq": self.seq, **delta}
            for client in list(self.clients):
                if not client.visible(delta):
                    continue
                try:
                    client.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self.dropped += 1
                    self.clients.discard(client)
                    client.overflowed.set()

    def connect(self, visible: Callable[[Delta], bool] = lambda _d: True) -> tuple[Client, dict[str, Any]]:
        """Register a client and return its snapshot; deltas after `seq` follow in its queue."""
        client = Client(queue_limit=self.queue_limit, visible=visible)
        self.clients.add(client)
        snapshot = {"type": "snapshot", "seq": self.seq, "state": self.state.snapshot()}
        return client, snapshot

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    async def serve(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        """One browser: snapshot, then deltas until it leaves, asks to resync, or falls behind."""
        client, snapshot = self.connect()
        try:
            await ws.send_json(snapshot)
            reader = asyncio.create_task(self._read(ws, client))
            try:
                while not ws.closed:
                    getter = asyncio.create_task(client.queue.get())
                    overflow = asyncio.create_task(client.overflowed.wait())
                    done, pending = await asyncio.wait({getter, overflow, reader}, return_when=asyncio.FIRST_COMPLETED)
                    for task in pending - {reader}:
                        task.cancel()
                    if overflow in done:
                        await ws.close(code=RESYNC_CLOSE_CODE, message=b"resync")
                        return
                    if reader in done:
                        return
                    await ws.send_json(getter.result())
            finally:
                reader.cancel()
        finally:
            self.disconnect(client)

    async def _read(self, ws: web.WebSocketResponse, client: Client) -> None:
        async for message in ws:
            if message.type == web.WSMsgType.TEXT and message.data == '{"type":"resync"}':
                client.overflowed.set()  # the client saw a gap: start it over from a snapshot
                return
            if message.type in (web.WSMsgType.ERROR, web.WSMsgType.CLOSE):
                return


async def websocket_handler(hub: Hub, request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    await hub.serve(request, ws)
    if not ws.closed:
        await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
