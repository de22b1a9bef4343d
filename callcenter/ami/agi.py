"""FastAGI server: Asterisk asks where an inbound call goes, we answer with CC_* channel variables.

One session, as captured in tests/data/ami-traces/*.agi: Asterisk connects, sends `agi_*: value` lines and a blank
line; we parse them into an AgiRequest, ask the injected decider within a hard time budget, answer with ONE
SET VARIABLE CC_PLAN (the whole decision packed, callcenter.ami.agi_plan; acknowledged with `200 result=1`) and close
the socket, which returns from AGI() in dialplans/extensions_callcenter.conf; [cc-inbound] unpacks the plan. A caller must never hear silence because we stalled: a slow or
failing decider, and any request we cannot make sense of, still gets the fail-open answer (the default queue).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from panoramisk import fast_agi
from panoramisk.utils import parse_agi_result

from callcenter.ami.agi_plan import PlanName, agi_quote, plan_command
from callcenter.ami.channel_vars import (
    NO_DIAL_STATUS,
    PLAN_DELIMITER,
    AgiArg,
    AgiRoute,
    CcAction,
    ChannelVar,
    DialplanFunction,
    PlanTag,
)

log = logging.getLogger(__name__)

# Asterisk's request lines are short (the longest is agi_request with its arguments); anything far longer is not
# Asterisk, and an unbounded line would let one peer grow our memory without limit.
MAX_LINE_BYTES: Final = 8192
MAX_HEADER_LINES: Final = 256
MAX_ATTEMPT: Final = 99
# Asterisk reads one AGI command into a 2 KiB buffer; keep every value well below that.
_MAX_VALUE_CHARS: Final = 1024

_DIAL_STATUS_RE: Final = re.compile(r"^[A-Z]{1,32}$")
_REASON_RE: Final = re.compile(r"^[A-Za-z0-9_.:>/+-]{1,64}$")
_QUEUE_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAILBOX_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}(@[A-Za-z0-9_.-]{1,64})?$")
# A Dial() target is split on '&' and its arguments on ',', so neither may appear inside one target; '|' is the
# CC_PLAN delimiter (callcenter.ami.agi_plan), so no value packed into the plan may hold one.
_TARGET_RE: Final = re.compile(r'^[^\s,&|"\\\x00-\x1f\x7f]{1,256}$')
_DIAL_OPTS_RE: Final = re.compile(r"^[^,|\x00-\x1f\x7f]{0,256}$")
_AGI_REPLY_RE: Final = re.compile(r"^\d{3}[ -]")
# CALLERID(name): printable, no quotes / backslash / <> and no '|' (the plan delimiter); callcenter.routing.caller_name
# makes names so. The quote also keeps the dialplan's $["<name>" = ""] test whole.
_CALLER_NAME_RE: Final = re.compile(r'^[^"\\<>|\x00-\x1f\x7f]{1,80}$')


class Reason(StrEnum):
    """Reason codes the server itself produces (deciders bring their own)."""

    DEFAULT_QUEUE = "default-queue"
    TIMEOUT = "timeout->queue"
    ERROR = "error->queue"
    MALFORMED = "malformed->queue"
    UNKNOWN_ROUTE = "unknown-route->queue"


_SERVER_FAIL_OPEN: Final = frozenset(Reason) - {Reason.DEFAULT_QUEUE}


class MalformedRequest(ValueError):
    """The agi_* header block cannot be turned into an AgiRequest."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One route request, parsed once at the edge."""

    route: AgiRoute
    channel: str
    uniqueid: str
    linkedid: str | None  # agi_arg_3; Asterisk itself sends no linkedid header
    callerid_num: str | None  # None when Asterisk says "unknown"
    callerid_name: str | None
    dnid: str | None
    extension: str  # in [cc-inbound] this is the DID the customer dialled
    context: str
    attempt: int  # 1-based
    last_dial_status: str | None  # DIALSTATUS of the previous attempt; None before the first Dial
    args: tuple[str, ...]  # all agi_arg_N in order

    @property
    def did(self) -> str:
        return self.extension


def _optional(headers: Mapping[str, str], key: str) -> str | None:
    value = headers.get(key, "").strip()
    return None if value in ("", "unknown") else value


def _required(headers: Mapping[str, str], key: str) -> str:
    value = headers.get(key, "").strip()
    if not value:
        raise MalformedRequest(f"missing {key}")
    return value


def _agi_args(headers: Mapping[str, str]) -> tuple[str, ...]:
    args: list[str] = []
    while (value := headers.get(f"agi_arg_{len(args) + 1}")) is not None:
        args.append(value)
    return tuple(args)


def parse_agi_request(headers: Mapping[str, str]) -> AgiRequest:
    """Turn the agi_* header block into an AgiRequest or raise MalformedRequest saying what is wrong."""
    script = _required(headers, "agi_network_script")
    try:
        route = AgiRoute(script)
    except ValueError:
        raise MalformedRequest(f"unknown route {script!r}") from None
    args = _agi_args(headers)

    def arg(position: AgiArg) -> str | None:
        return args[position - 1].strip() if len(args) >= position else None

    # The trace dialplan's extension 7100 calls agi://.../inbound without arguments: that is a first attempt.
    raw_attempt = arg(AgiArg.ATTEMPT) or "1"
    if not raw_attempt.isascii() or not raw_attempt.isdigit() or not 1 <= int(raw_attempt) <= MAX_ATTEMPT:
        raise MalformedRequest(f"attempt {raw_attempt!r} is not a number in 1..{MAX_ATTEMPT}")
    raw_status = arg(AgiArg.LAST_DIAL_STATUS) or NO_DIAL_STATUS
    if not _DIAL_STATUS_RE.match(raw_status):
        raise MalformedRequest(f"last dial status {raw_status!r} is not a DIALSTATUS word")

    return AgiRequest(
        route=route,
        channel=_required(headers, "agi_channel"),
        uniqueid=_required(headers, "agi_uniqueid"),
        linkedid=arg(AgiArg.LINKEDID) or None,
        callerid_num=_optional(headers, "agi_callerid"),
        callerid_name=_optional(headers, "agi_calleridname"),
        dnid=_optional(headers, "agi_dnid"),
        extension=_required(headers, "agi_extension"),
        context=headers.get("agi_context", "").strip(),
        attempt=int(raw_attempt),
        last_dial_status=None if raw_status == NO_DIAL_STATUS else raw_status,
        args=args,
    )


def _positive_int(name: str, value: object, *, maximum: int) -> int:
    # bool is an int subclass; True seconds is a bug, not a timeout
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise ValueError(f"{name} must be an int in 1..{maximum}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """What [cc-inbound] does next. Build it with the for_* constructors; invalid values raise ValueError.

    Validation happens here because these values end up inside Dial()/Queue() arguments and an AGI command line:
    a comma would shift Dial() arguments and a newline would start a second AGI command.
    """

    action: CcAction
    reason: str
    targets: tuple[str, ...] = ()
    ring_timeout_s: int | None = None
    dial_options: str = ""
    queue: str | None = None  # action=queue: the queue; action=dial: overflow queue after the last attempt
    queue_timeout_s: int | None = None
    mailbox: str | None = None
    caller_name: str | None = None  # CALLERID(name) for the agent's display; None leaves the caller's own

    def __post_init__(self) -> None:
        if not isinstance(self.action, CcAction):
            raise ValueError(f"action must be a CcAction, got {self.action!r}")
        if not isinstance(self.reason, str) or not _REASON_RE.match(self.reason):
            raise ValueError(f"reason must match {_REASON_RE.pattern}, got {self.reason!r}")
        for target in self.targets:
            if not isinstance(target, str) or not _TARGET_RE.match(target):
                raise ValueError(f"dial target {target!r} is empty or contains whitespace, ',', '&', '|' or quotes")
        if len("&".join(self.targets)) > _MAX_VALUE_CHARS:
            raise ValueError("dial targets are too long for one AGI command")
        if not isinstance(self.dial_options, str) or not _DIAL_OPTS_RE.match(self.dial_options):
            raise ValueError(f"dial options {self.dial_options!r} contain ',', '|' or control characters")
        if self.queue is not None and not _QUEUE_RE.match(self.queue):
            raise ValueError(f"queue name {self.queue!r} must match {_QUEUE_RE.pattern}")
        if self.mailbox is not None and not _MAILBOX_RE.match(self.mailbox):
            raise ValueError(f"mailbox {self.mailbox!r} must look like box@context")
        if self.caller_name is not None and not _CALLER_NAME_RE.match(self.caller_name):
            raise ValueError(
                f"caller name {self.caller_name!r} is empty, longer than 80, or holds a quote, backslash, <, >, "
                f"{PLAN_DELIMITER!r} or a control character"
            )
        if self.ring_timeout_s is not None:
            _positive_int("ring_timeout_s", self.ring_timeout_s, maximum=600)
        if self.queue_timeout_s is not None:
            _positive_int("queue_timeout_s", self.queue_timeout_s, maximum=86_400)
        if self.action is CcAction.DIAL and (not self.targets or self.ring_timeout_s is None):
            raise ValueError("a dial decision needs targets and ring_timeout_s")
        if self.action is CcAction.QUEUE and self.queue is None:
            raise ValueError("a queue decision needs a queue")
        if self.action is CcAction.VOICEMAIL and self.mailbox is None:
            raise ValueError("a voicemail decision needs a mailbox")

    @classmethod
    def for_dial(
        cls,
        targets: tuple[str, ...] | list[str],
        *,
        ring_timeout_s: int,
        reason: str,
        dial_options: str = "",
        overflow_queue: str | None = None,
        queue_timeout_s: int | None = None,
    ) -> RouteDecision:
        return cls(
            action=CcAction.DIAL,
            reason=reason,
            targets=tuple(targets),
            ring_timeout_s=ring_timeout_s,
            dial_options=dial_options,
            queue=overflow_queue,
            queue_timeout_s=queue_timeout_s,
        )

    @classmethod
    def for_queue(
        cls, queue: str, *, reason: str, queue_timeout_s: int | None = None, mailbox: str | None = None
    ) -> RouteDecision:
        return cls(action=CcAction.QUEUE, reason=reason, queue=queue, queue_timeout_s=queue_timeout_s, mailbox=mailbox)

    @classmethod
    def for_hangup(cls, *, reason: str) -> RouteDecision:
        return cls(action=CcAction.HANGUP, reason=reason)

    @classmethod
    def for_voicemail(cls, mailbox: str, *, reason: str) -> RouteDecision:
        return cls(action=CcAction.VOICEMAIL, reason=reason, mailbox=mailbox)

    @classmethod
    def for_callback(cls, *, reason: str, mailbox: str | None = None) -> RouteDecision:
        return cls(action=CcAction.CALLBACK, reason=reason, mailbox=mailbox)

    def channel_variables(
        self, *, default_queue: str, default_queue_timeout_s: int
    ) -> dict[PlanName, str]:
        """Every field of the inbound plan (PLAN_FIELDS[PlanTag.INBOUND]) as [cc-inbound] unpacks it.

        Every field on every answer, so nothing from an earlier attempt survives the unpacking; CALLERID(name) empty
        when there is no name: the dialplan then leaves the caller's own name (or number), as on a CRM miss.
        """
        return {
            ChannelVar.ACTION: self.action.value,
            ChannelVar.TARGET: "&".join(self.targets),
            ChannelVar.RING_TIMEOUT_S: "" if self.ring_timeout_s is None else str(self.ring_timeout_s),
            ChannelVar.DIAL_OPTS: self.dial_options,
            ChannelVar.QUEUE: self.queue or default_queue,
            ChannelVar.QUEUE_TIMEOUT_S: str(self.queue_timeout_s or default_queue_timeout_s),
            ChannelVar.MAILBOX: self.mailbox or "",
            ChannelVar.REASON: self.reason,
            DialplanFunction.CALLER_NAME: self.caller_name or "",
        }

    def plan_command(self, *, default_queue: str, default_queue_timeout_s: int) -> str:
        """The answer's one AGI command: SET VARIABLE CC_PLAN "inbound1|<action>|<target>|..."."""
        return plan_command(
            PlanTag.INBOUND,
            self.channel_variables(default_queue=default_queue, default_queue_timeout_s=default_queue_timeout_s),
        )


Decider = Callable[[AgiRequest], Awaitable[RouteDecision]]


def queue_decider(*, queue: str, queue_timeout_s: int) -> Decider:
    """The decider used until routing.service is wired: every call goes to one queue."""
    decision = RouteDecision.for_queue(queue, reason=Reason.DEFAULT_QUEUE, queue_timeout_s=queue_timeout_s)

    async def decide(request: AgiRequest) -> RouteDecision:
        return decision

    return decide


def set_variable_command(name: ChannelVar | DialplanFunction, value: str) -> str:
    return f"SET VARIABLE {name.value} {agi_quote(value)}"


@dataclass(frozen=True, slots=True)
class AgiCounters:
    """Snapshot for metrics.

    requests: connections accepted; fail_open: answers that used the fail-open queue for any reason (decider
    timeout or error, malformed request, unknown route); malformed: requests we could not parse, including peers
    that disconnected or stalled mid-request; decider_timeouts / decider_errors: the two decider failure kinds.
    """

    requests: int = 0
    answered: int = 0
    fail_open: int = 0
    malformed: int = 0
    decider_timeouts: int = 0
    decider_errors: int = 0


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    answered: int = 0
    fail_open: int = 0
    malformed: int = 0
    decider_timeouts: int = 0
    decider_errors: int = 0

    def snapshot(self) -> AgiCounters:
        return AgiCounters(**dataclasses.asdict(self))


class _SessionEnded(Exception):
    """The session cannot go on (peer gone, channel hung up, no or bad reply); the message says why."""


class _BadHeaderBlock(Exception):
    """The request never became a complete agi_* header block."""


class _AgiSession(fast_agi.Request):  # type: ignore[misc]  # panoramisk ships no type hints
    """panoramisk's Request with bounded, timed reply reading.

    panoramisk's send_command() feeds an empty read (peer closed) to int('') and raises ValueError, reads only one
    line of a multi-line 520 usage reply (leaving the rest to be taken as the next reply), and waits forever.
    """

    def __init__(
        self,
        *,
        app: fast_agi.Application,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reply_timeout_s: float,
    ) -> None:
        super().__init__(app=app, headers=headers, reader=reader, writer=writer, encoding="utf-8")
        self._reply_timeout_s = reply_timeout_s

    async def send_command(self, command: str) -> dict[str, Any]:
        if "\n" in command or "\r" in command:
            raise ValueError(f"AGI command contains a line break: {command!r}")
        self.writer.write(command.encode(self.encoding) + b"\n")
        try:
            async with asyncio.timeout(self._reply_timeout_s):
                await self.writer.drain()
                return await self._read_reply()
        except TimeoutError:
            raise _SessionEnded(f"no reply to {command!r} within {self._reply_timeout_s} s") from None
        except ConnectionError as exc:
            raise _SessionEnded(f"connection lost while sending {command!r}: {exc}") from None

    async def _read_reply(self) -> dict[str, Any]:
        while True:
            line = await self._read_line()
            if line == "HANGUP":
                # res_agi tells network scripts once that the caller is gone; later commands get 511
                raise _SessionEnded("channel hung up")
            if not _AGI_REPLY_RE.match(line):
                raise _SessionEnded(f"unexpected reply line {line[:80]!r}")
            if line.startswith("520-"):
                while not (await self._read_line()).startswith("520 "):
                    pass
                return {"status_code": 520, "error": "AGIUsageError", "msg": line}
            result: dict[str, Any] = parse_agi_result(line)
            if result.get("status_code") != 100:  # 100 Trying: the real reply follows
                return result

    async def _read_line(self) -> str:
        try:
            raw: bytes = await self.reader.readline()
        except ValueError:
            raise _SessionEnded(f"reply line longer than {MAX_LINE_BYTES} bytes") from None
        if not raw.endswith(b"\n"):
            raise _SessionEnded("Asterisk closed the connection")
        return raw.decode(self.encoding, errors="replace").rstrip("\r\n")


async def _read_header_block(reader: asyncio.StreamReader, headers: dict[str, str], problems: list[str]) -> None:
    """Read `agi_key: value` lines up to the blank line into headers, noting lines that are not agi_* headers.

    Fills the caller's dict so that a request that breaks off half-way can still be logged with its uniqueid.
    """
    for _ in range(MAX_HEADER_LINES):
        try:
            raw = await reader.readline()
        except ValueError:
            raise _BadHeaderBlock(f"header line longer than {MAX_LINE_BYTES} bytes") from None
        if not raw.endswith(b"\n"):
            raise _BadHeaderBlock(
                f"peer closed the connection after {len(headers)} header lines, before the blank line"
            )
        raw = raw.rstrip(b"\r\n")
        if not raw:
            return
        key, sep, value = raw.decode("utf-8", errors="replace").partition(":")
        if not sep or not key.startswith("agi_") or not key.isidentifier():
            problems.append(f"not an agi_* header: {raw[:60]!r}")
            continue
        headers[key] = value[1:] if value.startswith(" ") else value
    raise _BadHeaderBlock(f"more than {MAX_HEADER_LINES} header lines")


UnroutedHandler = Callable[[_AgiSession, Reason, str], Awaitable[None]]
# A session as route handlers see it: ``headers`` (agi_* -> value) and ``await send_command(line)`` -> parsed reply.
AgiSession = _AgiSession
RouteHandler = Callable[[_AgiSession], Awaitable[None]]
# (route, outcome, seconds from request to answer sent): told of every answered request (metrics)
AnswerObserver = Callable[[str, str, float], None]
FAIL_OPEN_OUTCOME: Final = "fail_open"


class _GuardedApplication(fast_agi.Application):  # type: ignore[misc]  # untyped base
    """panoramisk's FastAGI route table with a connection handler that cannot be wedged or crashed by a peer.

    panoramisk 1.4's Application.handler() is replaced because: it loops on reader.read() until it sees a blank
    line, so a peer that disconnects mid-request makes it spin forever on b'' (one CPU core per such peer); it has
    no limit on header size or time; it decodes strictly, so garbage bytes raise UnicodeDecodeError and leave the
    socket open; and an unknown or missing route gets no answer at all while the caller waits in silence.
    The route table (add_route) and the Request interface (headers, send_command) are kept.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        counters: _Counters,
        on_unrouted: UnroutedHandler,
        header_timeout_s: float,
        reply_timeout_s: float,
    ) -> None:
        super().__init__(default_encoding="utf-8", loop=loop)
        self._counters = counters
        self._on_unrouted = on_unrouted
        self._header_timeout_s = header_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self.sessions: set[asyncio.Task[Any]] = set()

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.sessions.add(task)
        self._counters.requests += 1
        peer = writer.get_extra_info("peername")
        headers: dict[str, str] = {}
        problems: list[str] = []
        try:
            try:
                async with asyncio.timeout(self._header_timeout_s):
                    await _read_header_block(reader, headers, problems)
            except TimeoutError:
                raise _BadHeaderBlock(f"no complete request within {self._header_timeout_s} s") from None
            session = _AgiSession(
                app=self, headers=headers, reader=reader, writer=writer, reply_timeout_s=self._reply_timeout_s
            )
            script = headers.get("agi_network_script")
            endpoint = self._route.get(script) if script else None
            if problems:
                await self._on_unrouted(session, Reason.MALFORMED, "; ".join(problems[:3]))
            elif endpoint is None:
                what = f"unknown route {script!r}" if script else "missing agi_network_script"
                await self._on_unrouted(session, Reason.UNKNOWN_ROUTE if script else Reason.MALFORMED, what)
            else:
                await endpoint(session)
        except _BadHeaderBlock as exc:
            self._counters.malformed += 1
            log.warning(
                "FastAGI malformed request from %s uniqueid=%s: %s; closing",
                peer,
                headers.get("agi_uniqueid", "-"),
                exc,
            )
        except _SessionEnded as exc:
            log.warning("FastAGI session uniqueid=%s ended early: %s", headers.get("agi_uniqueid", "-"), exc)
        except Exception:
            log.exception("FastAGI session uniqueid=%s failed; closing", headers.get("agi_uniqueid", "-"))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self.sessions.discard(task)


def _discard_outcome(task: asyncio.Future[Any]) -> None:
    # A decider abandoned at the budget may still fail later; fetch its outcome so asyncio does not log
    # "exception was never retrieved" for a call that was already answered.
    if not task.cancelled():
        task.exception()


class FastAgiServer:
    """The FastAGI listener. Use `async with FastAgiServer(...)` or start()/stop()."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        default_queue: str,
        queue_timeout_s: int,
        time_budget_ms: int = 300,
        decide: Decider | None = None,
        routes: Mapping[str, RouteHandler] | None = None,
        header_timeout_s: float = 5.0,
        reply_timeout_s: float = 5.0,
        stop_grace_s: float = 2.0,
    ) -> None:
        if not _QUEUE_RE.match(default_queue):
            raise ValueError(f"default_queue {default_queue!r} must match {_QUEUE_RE.pattern}")
        _positive_int("queue_timeout_s", queue_timeout_s, maximum=86_400)
        _positive_int("time_budget_ms", time_budget_ms, maximum=60_000)
        self._host = host
        self._requested_port = port
        self._default_queue = default_queue
        self._queue_timeout_s = queue_timeout_s
        self._time_budget_s = time_budget_ms / 1000
        self._decide = decide or queue_decider(queue=default_queue, queue_timeout_s=queue_timeout_s)
        # other FastAGI scripts served next to the inbound router (the dialer's campaign route); never an AgiRoute
        self._routes = dict(routes or {})
        clash = set(self._routes) & {route.value for route in AgiRoute}
        if clash:
            raise ValueError(f"routes {sorted(clash)} are the inbound router's")
        self._header_timeout_s = header_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self._stop_grace_s = stop_grace_s
        self._counters = _Counters()
        # Fail-open answers by Reason value (metrics): what _Counters.fail_open adds up.
        self.fail_open_reasons: collections.Counter[str] = collections.Counter()
        self.on_answered: AnswerObserver | None = None
        self._server: asyncio.Server | None = None
        self._app: _GuardedApplication | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port=0)."""
        if self._port is None:
            raise RuntimeError("FastAgiServer is not started")
        return self._port

    @property
    def counters(self) -> AgiCounters:
        return self._counters.snapshot()

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAgiServer is already started")
        # built here, not in __init__: panoramisk's Application wants a loop, and the composition root may
        # construct us before one runs
        app = _GuardedApplication(
            loop=asyncio.get_running_loop(),
            counters=self._counters,
            on_unrouted=self._answer_unrouted,
            header_timeout_s=self._header_timeout_s,
            reply_timeout_s=self._reply_timeout_s,
        )
        for route in AgiRoute:
            app.add_route(route.value, self._serve)
        for name, handler in self._routes.items():
            app.add_route(name, self._timed(name, handler))
        self._server = await asyncio.start_server(app.handler, self._host, self._requested_port, limit=MAX_LINE_BYTES)
        self._app = app
        self._port = self._server.sockets[0].getsockname()[1]
        log.info(
            "FastAGI listening on %s:%d (routes %s, default queue %s, budget %d ms)",
            self._host,
            self._port,
            ",".join(AgiRoute),
            self._default_queue,
            round(self._time_budget_s * 1000),
        )

    async def stop(self) -> None:
        """Stop accepting; let sessions in flight finish within stop_grace_s, then cancel them."""
        server, app = self._server, self._app
        if server is None or app is None:
            return
        self._server = self._app = None
        server.close()
        if app.sessions:
            _, pending = await asyncio.wait(set(app.sessions), timeout=self._stop_grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await server.wait_closed()
        self._port = None
        log.info("FastAGI stopped")

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _fail_open(self, reason: Reason) -> RouteDecision:
        self._counters.fail_open += 1
        self.fail_open_reasons[reason.value] += 1
        return RouteDecision.for_queue(self._default_queue, reason=reason, queue_timeout_s=self._queue_timeout_s)

    async def _serve(self, session: fast_agi.Request) -> None:
        """Route handler for every AgiRoute."""
        assert isinstance(session, _AgiSession)
        try:
            request = parse_agi_request(session.headers)
        except MalformedRequest as exc:
            await self._answer_unrouted(session, Reason.MALFORMED, str(exc))
            return
        started = time.perf_counter()
        decision = await self._decide_within_budget(request)
        decided_ms = (time.perf_counter() - started) * 1000
        log.info(
            "FastAGI uniqueid=%s did=%s caller=%s attempt=%d last=%s -> %s %s (%s) in %.1f ms",
            request.uniqueid,
            request.did,
            request.callerid_num,
            request.attempt,
            request.last_dial_status or NO_DIAL_STATUS,
            decision.action.value,
            "&".join(decision.targets) or decision.queue or decision.mailbox or "",
            decision.reason,
            decided_ms,
        )
        if await self._answer(session, decision, request.uniqueid) and self.on_answered is not None:
            outcome = FAIL_OPEN_OUTCOME if decision.reason in _SERVER_FAIL_OPEN else decision.action.value
            self.on_answered(request.route.value, outcome, time.perf_counter() - started)

    def _timed(self, route: str, handler: RouteHandler) -> RouteHandler:
        """A route served next to the inbound router, with its answer time told to on_answered."""

        async def timed(session: _AgiSession) -> None:
            started = time.perf_counter()
            await handler(session)
            if self.on_answered is not None:
                self.on_answered(route, "answered", time.perf_counter() - started)

        return timed

    async def _decide_within_budget(self, request: AgiRequest) -> RouteDecision:
        try:
            task = asyncio.ensure_future(self._decide(request))
        except Exception:
            # a synchronous decider raised, or returned something that is not awaitable
            return self._decider_failed(request, "decider could not be started", exc_info=True)
        try:
            done, _ = await asyncio.wait({task}, timeout=self._time_budget_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            # asyncio.wait (not wait_for) so a decider that swallows cancellation cannot hold the call
            task.cancel()
            task.add_done_callback(_discard_outcome)
            self._counters.decider_timeouts += 1
            log.warning(
                "FastAGI uniqueid=%s decider exceeded the %d ms budget; fail-open to queue %s",
                request.uniqueid,
                round(self._time_budget_s * 1000),
                self._default_queue,
            )
            return self._fail_open(Reason.TIMEOUT)
        if task.cancelled():
            return self._decider_failed(request, "decider was cancelled")
        error = task.exception()
        if error is not None:
            return self._decider_failed(request, f"decider raised {error!r}", exc_info=error)
        decision = task.result()
        if not isinstance(decision, RouteDecision):
            return self._decider_failed(request, f"decider returned {type(decision).__name__}, not RouteDecision")
        return decision

    def _decider_failed(
        self, request: AgiRequest, why: str, *, exc_info: bool | BaseException = False
    ) -> RouteDecision:
        self._counters.decider_errors += 1
        log.error(
            "FastAGI uniqueid=%s %s; fail-open to queue %s",
            request.uniqueid,
            why,
            self._default_queue,
            exc_info=exc_info,
        )
        return self._fail_open(Reason.ERROR)

    async def _answer_unrouted(self, session: _AgiSession, reason: Reason, why: str) -> None:
        """A request we cannot route: answer with the fail-open queue if there is a channel to answer."""
        self._counters.malformed += 1
        uniqueid = session.headers.get("agi_uniqueid", "-")
        if not session.headers.get("agi_channel", "").strip():
            log.warning("FastAGI malformed request uniqueid=%s: %s; no agi_channel, closing", uniqueid, why)
            return
        log.warning(
            "FastAGI malformed request uniqueid=%s channel=%s: %s; fail-open to queue %s",
            uniqueid,
            session.headers.get("agi_channel"),
            why,
            self._default_queue,
        )
        await self._answer(session, self._fail_open(reason), uniqueid)

    async def _answer(self, session: _AgiSession, decision: RouteDecision, uniqueid: str) -> bool:
        """Send the plan; True when Asterisk took it."""
        command = decision.plan_command(
            default_queue=self._default_queue, default_queue_timeout_s=self._queue_timeout_s
        )
        result = await session.send_command(command)
        if result.get("status_code") != 200 or "error" in result:
            # CC_PLAN stays as the dialplan cleared it: the dialplan sees no plan and fails open by itself
            log.error("FastAGI uniqueid=%s SET VARIABLE %s rejected by Asterisk: %s", uniqueid, ChannelVar.PLAN, result)
            return False
        self._counters.answered += 1
        return True
