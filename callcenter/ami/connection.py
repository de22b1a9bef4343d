"""The AMI session: login, keepalive, reconnect with backoff, resync, and ONE ordered queue of everything received.

panoramisk carries the protocol (action/response correlation by ActionID). What we add around it, and why:

* Order. panoramisk runs coroutine callbacks as separate tasks, which loses order. We register one plain callback
  that appends every message to one queue; one consumer task (`run`) reads it.
* Bounded memory. The wire is read through `callcenter.ami.frames.FrameSplitter` (a frame has a size limit and a
  malformed frame is logged with its bytes, never fatal). When the consumer falls behind, reading from the socket is
  paused (TCP pushes back on Asterisk) and resumed once the queue drains; the lag is in `stats` and in the log.
* Login, keepalive and backoff are ours: panoramisk would reconnect at a fixed delay, report a refused login
  nowhere, and resend queued actions after a reconnect (a blind second Originate is a second phone call).
* Resync. After every login, before any new event is handed on, the list actions (CoreShowChannels, QueueStatus,
  DeviceStateList) are fetched and handed to the consumer as one `Resync` item, so the model is rebuilt from
  Asterisk's truth and then resumes with the events that arrived meanwhile. A source Asterisk refuses or answers
  with an error is left out of that item (logged, in `stats.resync_errors`); it never drops the session.
* Permissions. At every login `ListCommands` tells which actions this user may send; what the service needs and
  lacks is logged as an error naming the manager.conf class (callcenter.ami.permissions).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action as PanoramiskAction
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed, AmiAuthError, AmiNotConnected, AmiTimeout
from callcenter.ami.frames import FrameSplitter
from callcenter.ami.permissions import PermissionReport, check_permissions, listed_actions
from callcenter.waiting import wait_set

log = logging.getLogger("callcenter.ami")

LIST_ACTIONS = frozenset({"coreshowchannels", "queuestatus", "devicestatelist", "extensionstatelist", "pjsipshowcontacts"})


class _ListAction(PanoramiskAction):
    """A list action whose first answer may be its last.

    panoramisk, told `as_list`, waits for a `...Complete` event after the first response, but Asterisk answers a list
    action it refuses (`Permission denied`) or finds empty (PJSIPShowContacts: `No Contacts found`) with one
    `Response: Error` and nothing after it: that future would never complete."""

    def add_message(self, message: Message) -> bool | None:
        if not self.responses and str(message.get("Response", "")).lower() == "error":
            self.responses.append(message)
            if not self.future.done():
                self.future.set_result([message])
            return True
        return super().add_message(message)


class AmiState(enum.StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    RESYNCING = "resyncing"
    LIVE = "live"
    AUTH_FAILED = "auth_failed"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class Connected:
    """Queue item: a new session began (generation counts sessions); everything after it is from that session."""

    generation: int
    version: str | None


@dataclass(frozen=True, slots=True)
class Resync:
    """Queue item: Asterisk's answer to the list actions, taken right after login."""

    generation: int
    lists: dict[str, list[Message]]
    at_s: float


@dataclass(frozen=True, slots=True)
class Disconnected:
    generation: int
    reason: str


@dataclass(frozen=True, slots=True)
class Received:
    generation: int
    message: Message
    received_at_s: float


Item = Connected | Resync | Disconnected | Received


@dataclass
class AmiStats:
    messages: int = 0
    malformed_frames: int = 0
    queue_depth: int = 0
    max_queue_depth: int = 0
    reading_paused: int = 0
    lag_s: float = 0.0
    sessions: int = 0
    auth_failures: int = 0
    last_error: str = ""
    retry_in_s: float = 0.0  # the wait before the next connection attempt, once a session has ended
    # What the last login's ListCommands said this user may not send (empty: all granted or not yet known).
    missing_permissions: list[str] = field(default_factory=list)
    # Resync sources Asterisk refused or answered with an error at the last resync, with its message.
    resync_errors: dict[str, str] = field(default_factory=dict)
    recent_malformed: list[str] = field(default_factory=list)


class _Protocol(AMIProtocol):
    """panoramisk's protocol with our bounded frame splitter in place of its unbounded string buffer."""

    def __init__(self, manager: _Manager) -> None:
        self._manager = manager

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.splitter = FrameSplitter()
        # Set before any byte can arrive (panoramisk sets it later, in Manager.connection_made).
        self.factory = self._manager

    def data_received(self, data: bytes) -> None:
        before = self.splitter.malformed_count
        for headers in self.splitter.feed(data):
            if "Event" in headers or "Response" in headers:
                self.handle_message(Message(headers))
        if self.splitter.malformed_count != before:
            self.factory.on_malformed(self.splitter)
        if self.version is None and self.splitter.version:
            self.version = self.splitter.version

    def handle_message(self, message: Message) -> None:
        # panoramisk drops the link on Shutdown *before* dispatching it; we want the event seen first.
        if str(message.get("Event", "")).lower() == "shutdown" and message.get("ActionID") is None:
            self.factory.dispatch(message)
            self.connection_lost(message)
            return
        super().handle_message(message)


class _Manager(Manager):
    """panoramisk Manager whose connection loss is reported to us instead of re-dialled at a fixed delay."""

    def __init__(self, owner: AmiConnection, **config: Any) -> None:
        super().__init__(**config)
        self.owner = owner
        # panoramisk registers a FullyBooted hook that resends actions queued before a drop; we never want that.
        self.callbacks.clear()
        self.patterns.clear()

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self.awaiting_actions.clear()
        self.owner._lost(exc)

    def on_malformed(self, splitter: FrameSplitter) -> None:
        self.owner._malformed(splitter)


class AmiConnection:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        ping_interval_s: float = 10.0,
        action_timeout_s: float = 10.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        queue_high_water: int = 20_000,
        queue_low_water: int = 5_000,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.ping_interval_s = ping_interval_s
        self.action_timeout_s = action_timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.high_water, self.low_water = queue_high_water, queue_low_water
        self._state = AmiState.STOPPED
        self.stats = AmiStats()
        self.generation = 0
        self._queue: deque[Item] = deque()
        self._wakeup = asyncio.Event()
        self._lost_event = asyncio.Event()
        self._manager: _Manager | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._paused = False
        self._live = asyncio.Event()
        self._changed = asyncio.Event()
        self._prelogin: list[Received] = []

    @property
    def state(self) -> AmiState:
        return self._state

    @state.setter
    def state(self, value: AmiState) -> None:
        self._state = value
        self._notify()

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")

    async def stop(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._close()
        self.state = AmiState.STOPPED

    async def wait_live(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._live.wait(), timeout_s)

    async def wait_until(self, predicate: Callable[[AmiConnection], bool], timeout_s: float) -> None:
        """Wait until `predicate(self)` holds, re-checked at every state or stats change (health checks, tests)."""

        async def watch() -> None:
            while not predicate(self):
                await self._changed.wait()

        await asyncio.wait_for(watch(), timeout_s)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- sending --------------------------------------------------------------------------------------------------

    async def send(self, action: actions.Action, *, timeout_s: float | None = None) -> Message | list[Message]:
        """Send one action and return its response (a list of messages for list actions)."""
        manager = self._manager
        if manager is None or manager.protocol is None or manager.protocol.closed:
            raise AmiNotConnected(f"{action['Action']}: no AMI session")
        name = action["Action"]
        # as_list must be explicit: panoramisk guesses from the reply text and takes "Added interface to queue"
        # (QueueAdd) for the start of a list, so that future would never complete.
        as_list = name.lower() in LIST_ACTIONS
        future = manager.send_action(_ListAction(action, as_list=True) if as_list else dict(action), as_list=as_list)
        lost = asyncio.ensure_future(self._lost_event.wait())
        limit_s = timeout_s or self.action_timeout_s
        try:
            done, _ = await asyncio.wait({future, lost}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if future not in done:
            future.cancel()
            if lost in done:
                raise AmiNotConnected(f"{name}: connection lost before the answer")
            raise AmiTimeout(f"{name}: no answer within {limit_s} s")
        response = future.result()
        first = response[0] if isinstance(response, list) else response
        if str(first.get("Response", "")).lower() == "error":
            raise AmiActionFailed(name, str(first.get("Message", "")))
        return response

    # -- consuming ------------------------------------------------------------------------------------------------

    async def run(self, handle: Callable[[Item], Awaitable[None] | None]) -> None:
        """The one consumer: hands every item to `handle` in arrival order, forever."""
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._queue.popleft()
            self._observe_depth(item)
            result = handle(item)
            if result is not None:
                await result

    def queue_depth(self) -> int:
        """Items received and not yet handed to the consumer (read at metrics scrape time)."""
        return len(self._queue)

    def backlog_age_s(self) -> float:
        """How long the oldest message not yet handled has waited (0 when caught up): unlike ``stats.lag_s``, which
        is measured as an item is taken, this grows while the consumer is stuck."""
        for item in self._queue:  # a Connected / Disconnected marker carries no arrival time; messages follow it
            if isinstance(item, Received):
                return max(0.0, time.monotonic() - item.received_at_s)
        return 0.0

    def _observe_depth(self, item: Item) -> None:
        depth = len(self._queue)
        self.stats.queue_depth = depth
        if isinstance(item, Received):
            self.stats.lag_s = max(0.0, time.monotonic() - item.received_at_s)
        if self._paused and depth <= self.low_water:
            self._paused = False
            manager = self._manager
            if manager is not None and manager.protocol is not None and not manager.protocol.closed:
                manager.protocol.transport.resume_reading()
                log.info("AMI reading resumed (queue %d, lag %.2f s)", depth, self.stats.lag_s)

    def _put(self, item: Item) -> None:
        self._queue.append(item)
        depth = len(self._queue)
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, depth)
        self._wakeup.set()
        if not self._paused and depth >= self.high_water:
            manager = self._manager
            if manager is not None and manager.protocol is not None and not manager.protocol.closed:
                self._paused = True
                self.stats.reading_paused += 1
                manager.protocol.transport.pause_reading()
                self._notify()
                log.warning("AMI consumer behind: queue %d, lag %.2f s; reading paused", depth, self.stats.lag_s)

    def _on_message(self, _manager: Manager, message: Message) -> None:
        self.stats.messages += 1
        item = Received(generation=self.generation, message=message, received_at_s=time.monotonic())
        if self.state not in (AmiState.RESYNCING, AmiState.LIVE):
            # Events that come with the login reply (FullyBooted) belong after this session's Connected marker.
            self._prelogin.append(item)
        else:
            self._put(item)

    def _malformed(self, splitter: FrameSplitter) -> None:
        self.stats.malformed_frames = splitter.malformed_count
        for bad in list(splitter.recent_malformed)[-3:]:
            text = bad.raw[:200]
            log.warning("AMI malformed frame (%s): %r", bad.reason, text)
            self.stats.recent_malformed = (self.stats.recent_malformed + [f"{bad.reason}: {text!r}"])[-10:]
        splitter.recent_malformed.clear()

    # -- the session loop -----------------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.reconnect_min_s
        while True:
            if self.state is not AmiState.AUTH_FAILED:  # a refused login stays visible while we retry
                self.state = AmiState.CONNECTING
            went_live = self.stats.sessions
            try:
                await self._session()
            except AmiAuthError as exc:
                self.state = AmiState.AUTH_FAILED
                self.stats.auth_failures += 1
                self.stats.last_error = str(exc)
                log.error("AMI login to %s:%d refused: %s", self.host, self.port, exc)
            except (OSError, asyncio.TimeoutError, AmiTimeout, AmiNotConnected, AmiActionFailed) as exc:
                self.stats.last_error = f"{exc.__class__.__name__}: {exc}"
                log.warning("AMI %s:%d unavailable: %s", self.host, self.port, self.stats.last_error)
            finally:
                self._close()
                self._notify()
            if self.state is not AmiState.AUTH_FAILED:
                self.state = AmiState.DISCONNECTED
            if self.stats.sessions != went_live:
                # A session that got going always ends in an exception (the link dropped): start the backoff
                # again, or every Asterisk restart would leave us away for the longest delay reached so far.
                delay = self.reconnect_min_s
            # Jitter keeps a fleet of instances from hammering a restarting Asterisk in lockstep.
            self.stats.retry_in_s = delay * random.uniform(0.8, 1.2)
            self._notify()
            await asyncio.sleep(self.stats.retry_in_s)
            delay = min(self.reconnect_max_s, delay * 2)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        manager = _Manager(self, host=self.host, port=self.port, loop=loop, ping_delay=10**9)
        manager.register_event("*", self._on_message)
        self._manager = manager
        self._lost_event.clear()
        self._prelogin: list[Received] = []
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(manager), self.host, self.port), self.action_timeout_s
        )
        connected: asyncio.Future[Any] = loop.create_future()
        connected.set_result((transport, protocol))
        manager.connection_made(connected)
        try:
            await self.send(actions.login(username=self._username, secret=self._secret))
        except AmiActionFailed as exc:
            raise AmiAuthError(exc.message) from None
        self.generation += 1
        self.stats.sessions += 1
        generation = self.generation
        self.state = AmiState.RESYNCING
        self._put(Connected(generation=generation, version=protocol.version))
        for early in self._prelogin:
            self._put(Received(generation=generation, message=early.message, received_at_s=early.received_at_s))
        self._prelogin.clear()
        log.info("AMI logged in to %s:%d (session %d); resyncing", self.host, self.port, generation)
        await self._check_permissions()
        lists: dict[str, list[Message]] = {}
        errors: dict[str, str] = {}
        for build in actions.RESYNC_LISTS:
            action = build()
            name = action["Action"]
            try:
                reply = await self.send(action)
            except AmiActionFailed as exc:
                # A refused or empty source is that source's answer: the model is rebuilt from the others, and a
                # list that did not complete never replaces what the model holds (tracker.end_resync).
                errors[name] = exc.message
                log.warning("AMI resync: %s answered %r; resyncing without it", name, exc.message)
                continue
            lists[name] = [m for m in (reply if isinstance(reply, list) else [reply]) if "Event" in m]
        self.stats.resync_errors = errors
        self._put(Resync(generation=generation, lists=lists, at_s=time.time()))
        self.state = AmiState.LIVE
        self._live.set()
        channels = sum(1 for m in lists.get("CoreShowChannels", []) if m.get("Event") == "CoreShowChannel")
        log.info("AMI live (%d channel%s at resync)", channels, "" if channels == 1 else "s")
        await self._keepalive()

    async def _check_permissions(self) -> None:
        """Name, once per login, every action manager.conf does not let this user send (see ami.permissions)."""
        try:
            reply = await self.send(actions.list_commands())
        except AmiActionFailed as exc:
            log.warning("AMI ListCommands refused (%s): cannot check this user's permissions", exc.message)
            return
        report: PermissionReport = check_permissions(listed_actions(reply))  # type: ignore[arg-type]
        self.stats.missing_permissions = list(report.missing)
        if report.complete:
            log.info("AMI user %r: %s", self._username, report.describe())
        else:
            log.error("AMI user %r: %s", self._username, report.describe())

    async def _keepalive(self) -> None:
        while not await wait_set(self._lost_event, self.ping_interval_s):
            await self.send(actions.ping())  # AmiTimeout here ends the session: the link is dead
        raise AmiNotConnected("connection lost")

    def _lost(self, exc: Any) -> None:
        reason = exc.get("Event", "closed") if isinstance(exc, Message) else str(exc or "closed by peer")
        self._live.clear()
        if self.state in (AmiState.LIVE, AmiState.RESYNCING):
            log.warning("AMI connection lost (%s)", reason)
            self._put(Disconnected(generation=self.generation, reason=reason))
        self._lost_event.set()

    def _close(self) -> None:
        manager, self._manager = self._manager, None
        if self._paused:
            self._paused = False
        if manager is not None:
            manager.close()
