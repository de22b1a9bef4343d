"""A TCP Asterisk Manager Interface server in front of the simulated PBX.

What a client sees is what Asterisk 20 sends (tests/data/ami-traces): the ``Asterisk Call Manager/9.0.0`` banner,
``Authentication accepted`` followed by FullyBooted (no Timestamp) and SuccessfulAuth, ActionID echoed on every
response, list actions answered with ``EventList: start`` ... ``<List>Complete``, ``Goodbye`` on Logoff. A failed
login gets ``Authentication failed`` and the connection is closed, as manager.c does.

As strict as manager.c: the users and their read/write classes come from manager.conf (``manager_conf``); an action
outside the user's write classes answers ``Permission denied``, an event outside its read classes (or the session's
Events mask, or its eventfilter lines) is not sent, FullyBooted only reaches a session reading ``system``.

Fault controls for tests and demos: ``drop_connections()`` (TCP reset, Asterisk keeps running), ``restart()``
(Shutdown event, close without Goodbye, listener down for a moment, a fresh boot with Uptime 0), ``refuse_logins``,
``event_delay_s`` (events reach the client late, in order); ``cli()`` for ``core restart now``, ``dialplan reload`` and
``module reload [name]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from callcenter.pbxsim.manager_conf import (
    ACTIONS,
    ALL,
    SYSTEM,
    ManagerUser,
    authority_to_str,
    event_category,
    strings_to_mask,
)
from callcenter.pbxsim.operations import Operations
from callcenter.pbxsim.pbx import Pbx
from callcenter.pbxsim.wire import BANNER, PRIV_SECURITY, PRIV_SYSTEM, Headers, event_tv, frame, parse_action

__all__ = ["AmiServer", "AmiServerStats"]

log = logging.getLogger("callcenter.pbxsim.ami")

_MAX_ACTION_BYTES: Final = 64 * 1024
_LISTS: Final = {
    "coreshowchannels": ("Channels will follow", "CoreShowChannelsComplete"),
    "queuestatus": ("Queue status will follow", "QueueStatusComplete"),
    "devicestatelist": ("Device State Changes will follow", "DeviceStateListComplete"),
    "extensionstatelist": ("Extension Statuses will follow", "ExtensionStateListComplete"),
    "pjsipshowcontacts": ("A listing of Contacts follows, presented as ContactList events", "ContactListComplete"),
}


@dataclass(slots=True)
class AmiServerStats:
    connections: int = 0
    logins: int = 0
    failed_logins: int = 0
    actions: dict[str, int] = field(default_factory=dict)


class _Session:
    def __init__(self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.user: ManagerUser | None = None
        self.send_events = ALL  # manager.c: a new session's send_events is -1 (every class) until Login's Events:
        self.username = ""
        self.outbox: asyncio.Queue[tuple[bool, bytes] | None] = asyncio.Queue()
        self.session_id = f"0x{server.pbx.ids.randbits(44):x}"
        self.closed = False
        self.writer_task: asyncio.Task[None] | None = None
        # Events raised while this session's action runs go out after its response, as manager.c sends them.
        self.deferred: list[bytes] | None = None

    def send(self, data: bytes, *, event: bool = False) -> None:
        if self.closed:
            return
        if event and self.deferred is not None:
            self.deferred.append(data)
            return
        self.outbox.put_nowait((event, data))

    def release(self) -> None:
        deferred, self.deferred = self.deferred, None
        for data in deferred or ():
            self.send(data, event=True)

    async def write_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            if item is None:
                break
            is_event, data = item
            if is_event and self.server.event_delay_s > 0:
                await asyncio.sleep(self.server.event_delay_s)
            try:
                self.writer.write(data)
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                break
        self.abort(graceful=True)

    def close_after_flush(self) -> None:
        self.outbox.put_nowait(None)

    def abort(self, *, graceful: bool = False) -> None:
        if self.closed and not graceful:
            return
        self.closed = True
        transport = self.writer.transport
        if graceful:
            self.writer.close()
        elif transport is not None:
            transport.abort()


class AmiServer:
    def __init__(
        self,
        *,
        pbx: Pbx,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "callcenter",
        secret: str = "callcenter",
        users: Mapping[str, ManagerUser] | None = None,
        auth_failure_delay_s: float = 0.0,
    ) -> None:
        """``users``: the manager.conf users (manager_conf.load_manager_conf); without them one user
        ``username``/``secret`` with every read and write class (the captures' manager.conf: read = all, write = all)."""
        self.pbx = pbx
        self.ops = Operations(pbx)
        self.host = host
        self._requested_port = port
        self.users: dict[str, ManagerUser] = (
            dict(users) if users is not None
            else {username: ManagerUser(name=username, secret=secret, read=ALL, write=ALL)}
        )
        self.auth_failure_delay_s = auth_failure_delay_s  # manager.c sleeps 1 s before the failure reply
        self.refuse_logins = False
        self.event_delay_s = 0.0
        self.stats = AmiServerStats()
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._remove_listener: Callable[[], None] | None = None
        self.login_listeners: list[Callable[[], None]] = []

    # == lifecycle ====================================================================================================

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("AmiServer is not started")
        return self._port

    async def start(self) -> None:
        if self._remove_listener is None:
            self._remove_listener = self.pbx.bus.listen(self._on_event)
        self._server = await asyncio.start_server(self._client, self.host, self._port or self._requested_port,
                                                  limit=_MAX_ACTION_BYTES)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("pbxsim AMI listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        await self._close_listener()
        for session in list(self._sessions):
            session.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    @property
    def sessions(self) -> int:
        return sum(1 for s in self._sessions if s.authenticated and not s.closed)

    # == faults =======================================================================================================

    def drop_connections(self) -> None:
        """Cut every AMI connection (no Goodbye); the PBX and its calls go on."""
        for session in list(self._sessions):
            session.abort()

    async def restart(self, *, down_s: float = 0.4) -> None:
        """`core restart now`: Shutdown event, connections closed, channels gone, listener down for ``down_s``."""
        self.pbx.emit.shutdown(restart=True)
        sessions = list(self._sessions)
        for session in sessions:
            session.close_after_flush()  # the Shutdown frame goes out, then the socket closes without Goodbye
        writers = [s.writer_task for s in sessions if s.writer_task is not None]
        if writers:
            await asyncio.wait(writers, timeout=1.0)
        await self._close_listener()
        for session in sessions:
            session.abort()
        self.pbx.restart()
        if down_s > 0:
            await asyncio.sleep(down_s)
        await self.start()

    async def cli(self, command: str) -> str:
        """The CLI commands tests and demos need (``asterisk -rx``), with the CLI's answer."""
        words = command.split()
        if words == ["core", "restart", "now"]:
            await self.restart()
            return ""
        if words == ["dialplan", "reload"]:
            # pbx_config's CLI handler: the dialplan alone, no Reload event (captures: module_reload)
            self.ops.dialplan_reload()
            return "Dialplan reloaded."
        if words[:2] == ["module", "reload"] and len(words) <= 3:
            module = words[2] if len(words) == 3 else None
            error = self.ops.module_reload(module)
            if error is not None:
                return error
            return f"Module '{module}' reloaded successfully." if module else ""
        raise ValueError(f"the simulator does not run the CLI command {command!r}")

    # == events =======================================================================================================

    def _on_event(self, name: str, data: bytes) -> None:
        category: int | None = None
        text: str | None = None
        for session in self._sessions:
            user = session.user
            if not session.authenticated or session.closed or user is None:
                continue
            if category is None:
                category = _category(data)
            # manager.c process_events: every class of the event in the user's read classes and the session's
            # event mask, then the user's eventfilter lines
            if (user.read & category) != category or (session.send_events & category) != category:
                continue
            if user.filters:
                text = text if text is not None else data.decode("utf-8", errors="replace")
                if not user.wants(text):
                    continue
            session.send(data, event=True)

    # == connections ==================================================================================================

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        self.stats.connections += 1
        writer_task = session.writer_task = asyncio.create_task(session.write_loop())
        session.send(BANNER)
        try:
            while not session.closed:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    log.warning("AMI action larger than %d bytes; closing", _MAX_ACTION_BYTES)
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                headers = parse_action(raw)
                if headers:
                    session.deferred = []
                    try:
                        await self._handle(session, headers)
                    finally:
                        session.release()
        finally:
            self._sessions.discard(session)
            if not session.closed:
                session.close_after_flush()
            try:
                await asyncio.wait_for(asyncio.shield(writer_task), 2.0)
            except (asyncio.CancelledError, TimeoutError, ConnectionError):
                # server shutdown: the connection goes now; swallowing the cancel keeps asyncio's stream callback
                # from logging a cancelled handler as an error
                writer_task.cancel()
            session.abort()
            if task is not None:
                self._tasks.discard(task)

    # == actions ======================================================================================================

    async def _handle(self, session: _Session, action: list[tuple[str, str]]) -> None:
        values: dict[str, str] = {}
        variables: list[tuple[str, str]] = []
        for key, value in action:
            low = key.lower()
            if low == "variable":
                for item in value.split(","):
                    name, _, val = item.partition("=")
                    if name:
                        variables.append((name.strip(), val))
            values.setdefault(low, value)
        name = values.get("action", "").strip()
        low = name.lower()
        action_id = values.get("actionid") or None  # astman_send_response_full: ActionID only when not empty
        self.stats.actions[name] = self.stats.actions.get(name, 0) + 1

        def reply(pairs: Headers, *, ok: bool = True) -> None:
            head: Headers = [("Response", "Success" if ok else "Error")]
            if action_id is not None:
                head.append(("ActionID", action_id))
            session.send(frame([*head, *pairs]))

        def result(error: str | None, success: str) -> None:
            reply([("Message", error or success)], ok=error is None)

        if not name:
            reply([("Message", "Missing action in request")], ok=False)
            return
        # manager.c process_message: before Login only Login, Logoff and Challenge are heard
        if not session.authenticated and low not in ("login", "logoff", "challenge"):
            reply([("Message", "Permission denied")], ok=False)
            return
        known = ACTIONS.get(low)
        if known is None:
            reply([("Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available "
                               "commands.")], ok=False)
            return
        user = session.user
        authority = known[1]
        if user is not None and not user.may_run(authority):
            # the user's write classes share none with the action's authority
            reply([("Message", "Permission denied")], ok=False)
            return
        if low == "login":
            await self._login(session, values, reply)
            return
        if low == "logoff":
            head: Headers = [("Response", "Goodbye")]
            if action_id is not None:
                head.append(("ActionID", action_id))
            session.send(frame([*head, ("Message", "Thanks for all the fish.")]))
            session.close_after_flush()
            return
        if low == "ping":
            reply([("Ping", "Pong"), ("Timestamp", f"{self.pbx.clock.now_s():.6f}")])
        elif low == "events":
            # manager.c action_events: EventMask through strings_to_mask; nothing usable is an error
            mask = strings_to_mask(values.get("eventmask"))
            if mask < 0:
                result("Invalid event mask", "")
            else:
                session.send_events = mask
                reply([("Events", "On" if mask > 0 else "Off")])
        elif low == "listcommands":
            self._list_commands(session, reply)
        elif low == "userevent":
            # manager.c action_userevent: the ack first, then the event to every session reading `user`, carrying
            # every header but those starting "UserEvent:" or "Action:" (so ActionID too), in the action's order
            reply([("Message", "Event Sent")])
            body = [(k, v) for k, v in action if k.lower() not in ("userevent", "action")]
            self.pbx.bus.emit("UserEvent", "user,all", [("UserEvent", values.get("userevent", "")), *body])
        elif low in _LISTS:
            self._list(session, low, action_id or "", values, reply)
        elif low == "originate":
            error, priority = self.ops.check_originate(
                channel=values.get("channel", ""), context=values.get("context", ""), exten=values.get("exten", ""),
                priority=values.get("priority", ""), timeout=values.get("timeout", ""),
                application=values.get("application", ""), data=values.get("data", ""),
                writeperm=user.write if user is not None else 0)
            if error is None:
                error = self.ops.originate(
                    action_id=action_id or "",
                    channel=values.get("channel", ""),
                    context=values.get("context") or None,
                    exten=values.get("exten") or None,
                    priority=priority or 1,
                    application=values.get("application") or None,
                    data=values.get("data", ""),
                    caller_id=values.get("callerid"),
                    timeout_ms=_int(values.get("timeout"), 30_000),
                    variables=variables,
                )
            result(error, "Originate successfully queued")
        elif low == "redirect":
            error, priority = self.ops.check_redirect(channel=values.get("channel", ""),
                                                      context=values.get("context", ""),
                                                      exten=values.get("exten", ""),
                                                      priority=values.get("priority", ""))
            if error is None:
                error = self.ops.redirect(channel=values.get("channel", ""), context=values.get("context", ""),
                                          exten=values.get("exten", ""), priority=priority)
            result(error, "Redirect successful")
        elif low == "blindtransfer":
            error = self.ops.blind_transfer(channel=values.get("channel", ""), exten=values.get("exten", ""),
                                            context=values.get("context", ""))
            result(error, "Transfer succeeded")
        elif low == "atxfer":
            error = self.ops.atxfer(channel=values.get("channel", ""), exten=values.get("exten", ""),
                                    context=values.get("context", ""))
            result(error, "Atxfer successfully queued")
        elif low == "hangup":
            if not values.get("channel"):
                error = "No channel specified"  # manager.c ast_manager_hangup_helper
            else:
                error = self.ops.hangup(channel=values.get("channel", ""), cause=_int(values.get("cause"), 16))
            result(error, "Channel Hungup")
        elif low == "queueadd":
            # app_queue.c manager_add_queue_member
            if not values.get("queue"):
                error = "'Queue' not specified."
            elif not values.get("interface"):
                error = "'Interface' not specified."
            else:
                error = self.ops.queue_add(
                    queue=values.get("queue", ""),
                    interface=values.get("interface", ""),
                    member_name=values.get("membername"),
                    state_interface=values.get("stateinterface"),
                    penalty=max(0, _int(values.get("penalty"), 0)),
                    paused=_bool(values.get("paused")),
                    reason=values.get("reason", ""),
                )
            result(error, "Added interface to queue")
        elif low == "queueremove":
            if not values.get("queue") or not values.get("interface"):
                error = "Need 'Queue' and 'Interface' parameters."  # manager_remove_queue_member
            else:
                error = self.ops.queue_remove(queue=values.get("queue", ""), interface=values.get("interface", ""))
            result(error, "Removed interface from queue")
        elif low == "queuepause":
            paused = _bool(values.get("paused"))
            if not values.get("interface") or not values.get("paused"):
                error = "Need 'Interface' and 'Paused' parameters."  # manager_pause_queue_member
            else:
                error = self.ops.queue_pause(interface=values.get("interface", ""), paused=paused,
                                             queue=values.get("queue") or None, reason=values.get("reason", ""))
            result(error, "Interface paused successfully" if paused else "Interface unpaused successfully")
        elif low == "setvar":
            if not values.get("variable"):
                error = "No variable specified"  # manager.c action_setvar
            else:
                error = self.ops.setvar(channel=values.get("channel"), variable=values.get("variable", ""),
                                        value=values.get("value", ""))
            result(error, "Variable Set")
        elif low == "getvar":
            ch = self.pbx.find_channel(values.get("channel", ""))
            variable = values.get("variable", "")
            if not variable:
                result("No variable specified", "")  # manager.c action_getvar
            elif ch is None and values.get("channel"):
                result("No such channel", "")
            else:
                value = self.pbx.get_var(ch, variable) if ch else self.pbx.dialplan.globals.get(variable)
                reply([("Variable", variable), ("Value", value or "")])
        elif low == "reload":
            # manager.c action_reload -> loader.c ast_module_reload (which publishes the Reload event itself)
            error = self.ops.module_reload(values.get("module") or None)
            result(error, "Module Reloaded")
        else:
            # an Asterisk action the simulator does not model (MixMonitor, CancelAtxfer, Status ...): say so plainly
            reply([("Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available "
                               "commands.")], ok=False)

    async def _login(self, session: _Session, values: dict[str, str], reply: Callable[..., None]) -> None:
        if session.authenticated:
            reply([("Message", "Already authenticated")])  # manager.c action_login
            return
        user = self.users.get(values.get("username", ""))
        if user is not None and not user.allow_multiple_login and any(
                s.authenticated and not s.closed and s.username == user.name for s in self._sessions):
            # manager.c process_message: checked before the secret; sleep(1), then the session ends
            if self.auth_failure_delay_s > 0:
                await asyncio.sleep(self.auth_failure_delay_s)
            reply([("Message", "Login Already In Use")], ok=False)
            session.close_after_flush()
            return
        ok = not self.refuse_logins and user is not None and values.get("secret") == user.secret
        if not ok or user is None:
            self.stats.failed_logins += 1
            if self.auth_failure_delay_s > 0:
                await asyncio.sleep(self.auth_failure_delay_s)
            reply([("Message", "Authentication failed")], ok=False)
            session.close_after_flush()  # manager.c ends the session after a failed Login
            return
        self.stats.logins += 1
        session.username = user.name
        session.user = user
        mask = strings_to_mask(values.get("events"))  # authenticate(): set_eventmask(Events:); empty keeps all
        if mask >= 0:
            session.send_events = mask
        reply([("Message", "Authentication accepted")])
        session.authenticated = True
        if session.send_events & SYSTEM and user.read & SYSTEM:
            # action_login appends it straight after the reply (no Timestamp, no event filters), and only for a
            # session that reads and wants the system class
            session.send(frame([("Event", "FullyBooted"), ("Privilege", PRIV_SYSTEM),
                                ("Uptime", str(self.pbx.uptime_s())), ("LastReload", str(self.pbx.since_reload_s())),
                                ("Status", "Fully Booted")]), event=True)
        now = self.pbx.clock.now_s()
        peer = session.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        tv = event_tv(now)
        self.pbx.bus.emit("SuccessfulAuth", PRIV_SECURITY, [
            ("EventTV", tv),
            ("Severity", "Informational"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("AccountID", session.username),
            ("SessionID", session.session_id),
            ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
            ("RemoteAddress", f"IPV4/TCP/{peer[0]}/{peer[1]}"),
            ("UsingPassword", "0"),
            ("SessionTV", tv),
        ])
        for listener in list(self.login_listeners):
            listener()

    def _list_commands(self, session: _Session, reply: Callable[..., None]) -> None:
        """manager.c action_listcommands: one ``Name: synopsis (Priv: classes)`` line per action this user may send,
        in the action list's (alphabetical) order."""
        user = session.user
        lines: Headers = [
            (name, f"{synopsis} (Priv: {authority_to_str(authority)})")
            for name, authority, synopsis in sorted(ACTIONS.values(), key=lambda item: item[0].lower())
            if user is None or user.may_run(authority)
        ]
        reply(lines)

    def _list(self, session: _Session, low: str, action_id: str, values: dict[str, str],
              reply: Callable[..., None]) -> None:
        message, complete = _LISTS[low]
        if low == "coreshowchannels":
            items = self.ops.core_show_channels(action_id)
        elif low == "queuestatus":
            items = self.ops.queue_status(action_id=action_id, queue=values.get("queue") or None,
                                          member=values.get("member") or None)
        elif low == "devicestatelist":
            items = self.ops.device_state_list(action_id)
        elif low == "extensionstatelist":
            items = self.pbx.hints.list_items(action_id)
        elif low == "pjsipshowcontacts":
            items = self.ops.pjsip_show_contacts(action_id)
            if not items:
                # res_pjsip/pjsip_options.c ami_show_contacts: an empty contact container is an error, no list
                # (the text ends in a bare newline, sent as is before the CRLF)
                reply([("Message", "No Contacts found\n")], ok=False)
                return
        else:
            items = []
        data = frame(_with_id([("Response", "Success"), ("ActionID", action_id), ("EventList", "start"),
                               ("Message", message)]))
        data += b"".join(frame(_with_id(item)) for item in items)
        data += frame(_with_id([("Event", complete), ("ActionID", action_id), ("EventList", "Complete"),
                                ("ListItems", str(len(items)))]))
        session.send(data)


def _with_id(headers: Headers) -> Headers:
    """Asterisk writes ``ActionID:`` only when the action had one (astman_send_listack, idText in the modules)."""
    return [(k, v) for k, v in headers if k != "ActionID" or v]


def _category(data: bytes) -> int:
    """The event's class from its Privilege header (second line of every frame EventBus.emit builds)."""
    start = data.find(b"\r\nPrivilege: ")
    if start < 0:
        return 0
    start += len(b"\r\nPrivilege: ")
    end = data.find(b"\r\n", start)
    return event_category(data[start:end].decode("ascii", errors="replace"))


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value).strip()) if value is not None and str(value).strip() else default
    except ValueError:
        return default


def _bool(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on", "y", "t")
