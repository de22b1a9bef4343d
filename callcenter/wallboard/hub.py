"""Pushes the wallboard to browsers: a snapshot first, then numbered deltas.

Every message carries a sequence number; a client that sees a gap asks for a resync. A slow client gets a bounded
outbox: when it overflows, the client is dropped (close code 4000 "resync") instead of slowing the service, and its
browser reconnects and starts again from a fresh snapshot.

``push`` only numbers and keeps the deltas: it runs in the AMI reader's call stack (bus subscribers), so its cost
must not grow with the number of screens. Once per event-loop pass ``flush`` serialises the pass's deltas once per
stream and hands every screen the whole batch in one go (one wake-up of its writer per pass, not per delta): a
burst of deltas (a call ending: call gone, agent state, figures) no longer delays the AMI events behind it by
1,000 screens' worth of wake-ups.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from callcenter.events import EventBus
from callcenter.wallboard.state import Delta, WallboardState

log = logging.getLogger("callcenter.wallboard")
RESYNC_CLOSE_CODE = 4000


@dataclass(frozen=True, slots=True)
class Scope:
    """The teams a screen may see; ``teams=None``: every team (and rows of no known team)."""

    teams: frozenset[str] | None = None

    def sees(self, team: str | None) -> bool:
        return self.teams is None or team in self.teams


EVERYTHING = Scope()


class Client:
    """One screen: an outbox of batches of messages already serialised (a delta is encoded once per stream, not
    once per screen) and the event that wakes its writer."""

    def __init__(self, *, queue_limit: int, scope: Scope) -> None:
        self.outbox: collections.deque[Sequence[str]] = collections.deque()
        self.queued = 0  # messages in the outbox
        self.queue_limit = queue_limit
        self.scope = scope
        self.wake = asyncio.Event()
        self.stopped = False
        self.resync = False  # fell behind or saw a gap: close with RESYNC_CLOSE_CODE so it starts over

    def offer(self, batch: Sequence[str]) -> bool:
        """Queue ``batch``; False when it would pass the limit (the client is too slow)."""
        if self.queued + len(batch) > self.queue_limit:
            return False
        self.outbox.append(batch)
        self.queued += len(batch)
        self.wake.set()
        return True

    def take(self) -> list[str]:
        """Everything queued, oldest first."""
        out = [text for batch in self.outbox for text in batch]
        self.outbox.clear()
        self.queued = 0
        return out

    def stop(self, *, resync: bool) -> None:
        self.resync = self.resync or resync
        self.stopped = True
        self.wake.set()


class Hub:
    """Screens that see the same teams share one numbered stream (each delta is built once per stream, not per
    client); a screen never sees a number it skips, so a gap always means a lost message."""

    def __init__(
        self, *, queue_limit: int = 1000, state: WallboardState | None = None, config: dict[str, Any] | None = None
    ) -> None:
        self.state = state or WallboardState()
        self.config = config or {}  # sent with every snapshot (thresholds)
        self.seq = 0  # every delta so far: also the sequence of the screens that see every team
        self.queue_limit = queue_limit
        self.streams: dict[Scope, set[Client]] = {}
        self.scope_seq: dict[Scope, int] = {}  # the sequence of each team-limited stream
        self.dropped = 0
        self._pending: list[tuple[int, Delta]] = []  # pushed, not yet flushed: (hub seq, delta)
        self._flush_scheduled = False

    @property
    def clients(self) -> set[Client]:
        return set().union(*self.streams.values())

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.on_event)

    def on_event(self, event: object) -> None:
        self.push(self.state.apply(event))

    def push(self, deltas: list[Delta]) -> None:
        """Number ``deltas`` and send them with the rest of this loop pass's (``flush``). Without a running loop
        (a synchronous caller, e.g. a unit test) they wait for an explicit ``flush``."""
        if not deltas:
            return
        for delta in deltas:
            self.seq += 1
            self._pending.append((self.seq, delta))
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._flush_scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send the deltas pushed so far: serialised once per stream, one batch per screen."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        for scope, clients in list(self.streams.items()):
            if not clients:
                continue
            batch: list[str] = []
            for seq, delta in pending:
                if not scope.sees(delta.get("team")):
                    continue
                if scope.teams is not None:
                    seq = self.scope_seq[scope] = self.scope_seq.get(scope, 0) + 1
                batch.append(json.dumps({"type": "delta", "seq": seq, **delta}, separators=(",", ":")))
            if not batch:
                continue
            shared = tuple(batch)
            for client in list(clients):
                if not client.offer(shared):
                    self.dropped += 1
                    clients.discard(client)
                    client.stop(resync=True)

    def connect(self, scope: Scope = EVERYTHING) -> tuple[Client, dict[str, Any]]:
        """Register a client and return its snapshot; deltas after `seq` follow in its outbox."""
        self.flush()  # what is pending is in the snapshot already: it goes to the screens that were there
        client = Client(queue_limit=self.queue_limit, scope=scope)
        self.streams.setdefault(scope, set()).add(client)
        seq = self.seq if scope.teams is None else self.scope_seq.get(scope, 0)
        snapshot = {"type": "snapshot", "seq": seq, "state": self.state.snapshot(scope.sees), "config": self.config}
        return client, snapshot

    def disconnect(self, client: Client) -> None:
        clients = self.streams.get(client.scope)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self.streams[client.scope]
            self.scope_seq.pop(client.scope, None)

    async def serve(self, ws: web.WebSocketResponse, scope: Scope = EVERYTHING) -> None:
        """One browser: snapshot, then deltas until it leaves, asks to resync, or falls behind. One writer loop per
        screen and one reader task: nothing is created per delta, and the writer wakes once per batch."""
        client, snapshot = self.connect(scope)
        reader = asyncio.create_task(self._read(ws, client))
        try:
            await ws.send_json(snapshot)
            while not client.stopped and not ws.closed:
                await client.wake.wait()
                client.wake.clear()
                while client.outbox and not client.stopped and not ws.closed:
                    batch = client.outbox.popleft()
                    client.queued -= len(batch)
                    for text in batch:
                        await ws.send_str(text)
            if client.resync and not ws.closed:
                await ws.close(code=RESYNC_CLOSE_CODE, message=b"resync")
        finally:
            reader.cancel()
            self.disconnect(client)

    @staticmethod
    async def _read(ws: web.WebSocketResponse, client: Client) -> None:
        try:
            async for message in ws:
                if message.type == web.WSMsgType.TEXT and message.data == '{"type":"resync"}':
                    client.stop(resync=True)  # the client saw a gap: start it over from a snapshot
                    return
                if message.type in (web.WSMsgType.ERROR, web.WSMsgType.CLOSE):
                    break
        finally:
            client.stop(resync=False)  # the browser left: wake the writer


async def websocket_handler(
    hub: Hub,
    request: web.Request,
    scope: Scope = EVERYTHING,
    *,
    register: Callable[[web.WebSocketResponse], None] | None = None,
    unregister: Callable[[web.WebSocketResponse], None] | None = None,
) -> web.StreamResponse:
    """``register``/``unregister``: the auth layer's list of open sockets, which closes this one when its viewer's
    access is revoked or changes (closing it ends ``serve``: its reader sees the close and wakes the writer)."""
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    if register is not None:
        register(ws)
    try:
        await hub.serve(ws, scope)
    finally:
        if unregister is not None:
            unregister(ws)
    if not ws.closed:
        await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
