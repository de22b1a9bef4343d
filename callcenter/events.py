"""Domain events (what happened to calls and agents) and the bus that carries them to consumers.

The call tracker turns AMI events into these; CRM bridge, routing state, recording store, wallboard, dialer and
webhooks subscribe. Events are frozen dataclasses keyed by ``call_id`` (= Asterisk Linkedid) or ``agent`` so that
consumers can be idempotent: after a reconnect the tracker never emits a second ``CallEnded`` for a call, but a
consumer fed from several instances (Redis fan-out) may still see one twice and must key by ``call_id``.

``EventBus`` is the interface; ``InProcessBus`` the one-process implementation. A Redis-backed fan-out can implement
the same protocol and use ``event_to_dict`` / ``event_from_dict`` for the wire format.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "AgentState",
    "AgentStateChanged",
    "CallAnswered",
    "CallDirection",
    "CallEnded",
    "CallOutcome",
    "CallRinging",
    "CallStarted",
    "CallTransferred",
    "Consultation",
    "DialAttempt",
    "DomainEvent",
    "EventBus",
    "HungUpBy",
    "InProcessBus",
    "RecordingReady",
    "event_from_dict",
    "event_to_dict",
]

log = logging.getLogger(__name__)


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"  # first channel came in from a trunk
    OUTBOUND = "outbound"  # AMI Originate, or an agent phone dialling a trunk
    INTERNAL = "internal"  # agent phone to agent phone, no trunk leg


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"  # an agent talked with the other party
    MISSED = "missed"  # offered to agents (or queue timed out / callee did not answer) and nobody took it
    ABANDONED = "abandoned"  # inbound: caller hung up while waiting in a queue / before any agent was offered;
    #                          outbound: the customer answered but no agent was connected
    BUSY = "busy"  # outbound/internal: the called party was busy
    FAILED = "failed"  # could not be delivered (unavailable, congestion, no route) or ended with no attempt


class HungUpBy(enum.StrEnum):
    CUSTOMER = "customer"  # trunk side (for internal calls: the calling phone)
    AGENT = "agent"
    SYSTEM = "system"  # dialplan Hangup(), timeout, Asterisk shutdown; nobody's BYE/CANCEL


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap-up"
    PAUSED = "paused"


_dc = dataclass(frozen=True, slots=True, kw_only=True)


@_dc
class DialAttempt:
    """One offer of the call to one agent. ``result``: ANSWER, NOANSWER, BUSY, CANCEL, CHANUNAVAIL, CONGESTION,
    DUMP (queue member hung up during the announcement) or ``None`` when still unknown (closed by resync).
    ``ended_s``: when the result came; ``ring_s``: how long the offer lasted (dial to result; 0 for CHANUNAVAIL);
    ``rang``: whether the phone actually rang (BUSY and CHANUNAVAIL never do)."""

    agent: str
    queue: str | None
    result: str | None
    at_s: float
    ended_s: float | None = None
    ring_s: float | None = None
    rang: bool = False


@_dc
class Consultation:
    """An agent consulted during an attended transfer (their own leg of the customer's call). ``transferred``: the
    transfer completed and the customer went to them; otherwise they talked only to the colleague who asked, so they
    are not an agent who talked with the customer and no wrap-up of theirs is booked on the call."""

    agent: str
    by_agent: str | None
    at_s: float  # the consulted phone answered
    ended_s: float | None  # their leg ended, or the transfer completed
    transferred: bool = False


@_dc
class CallStarted:
    call_id: str
    at_s: float
    direction: CallDirection
    caller: str | None
    caller_name: str | None
    did: str | None
    customer: str | None
    recovered: bool = False  # created from a resync snapshot: started while we were disconnected


@_dc
class CallRinging:
    call_id: str
    at_s: float
    agent: str
    queue: str | None


@_dc
class CallAnswered:
    call_id: str
    at_s: float
    agent: str
    queue: str | None
    wait_s: float


@_dc
class CallTransferred:
    call_id: str
    at_s: float
    from_agent: str | None
    to_agent: str


@_dc
class CallEnded:
    call_id: str
    started_s: float
    ended_s: float
    direction: CallDirection
    outcome: CallOutcome
    caller: str | None
    caller_name: str | None
    did: str | None
    customer: str | None  # the customer's number: caller for inbound, dialled number for outbound
    answered_by: str | None
    agents_rung: tuple[str, ...]  # agents whose phone actually rang, in first-ring order
    agents_talked: tuple[str, ...]  # agents connected with the call, in order (transfers add to it)
    attempts: tuple[DialAttempt, ...]
    wait_s: float  # first channel -> answer (unanswered: -> end)
    talk_s: float  # answer -> end of call, across transfers (0 when unanswered)
    hangup_cause: int | None
    hangup_cause_txt: str | None
    hung_up_by: HungUpBy | None
    recordings: tuple[str, ...]
    queue: str | None
    originate_action_id: str | None = None
    campaign: str | None = None  # CC_CAMPAIGN channel variable set by the dialer's Originate
    end_estimated: bool = False  # the end happened while we were disconnected; ended_s is when we found out
    consultations: tuple[Consultation, ...] = ()  # attended-transfer consultations, completed or not


@_dc
class AgentStateChanged:
    """``call_id``: the call the new state is about (ringing, talking; for WRAP_UP the call whose leg just ended).

    A change *out of* WRAP_UP also says which call that wrap-up was for and when it began, so a consumer can book
    the after-call work on the call without pairing events itself: the spell is [``wrapup_since_s``, ``at_s``]. One
    call's wrap-up can be several spells (a pause or a phone ringing before its timer ran out, then back to WRAP_UP).
    """

    agent: str
    at_s: float
    state: AgentState
    previous: AgentState | None
    reason: str | None = None  # pause reason
    call_id: str | None = None
    wrapup_call_id: str | None = None
    wrapup_since_s: float | None = None

    @property
    def wrapup_s(self) -> float | None:
        """Length of the wrap-up spell this change ends; None when it does not leave WRAP_UP."""
        if self.wrapup_since_s is None:
            return None
        return max(self.at_s - self.wrapup_since_s, 0.0)  # event times may be microseconds out of order


@_dc
class RecordingReady:
    """MixMonitor closes its files when the channel hangs up; emitted once per recording at the end of the call."""

    call_id: str
    at_s: float
    path: str
    leg_paths: tuple[str, ...] = ()  # r()/t() per-direction files, when the dialplan asked for them


@_dc
class CallRouted:
    """FastAGI answered Asterisk for one routing attempt of a call: where it goes and why."""

    call_id: str
    at_s: float
    attempt: int
    action: str  # CcAction value: dial, queue, voicemail, callback, hangup
    reason: str  # reason code: owner, last-agent, least-loaded, owner-busy->least-loaded, no-agent->queue ...
    targets: tuple[str, ...] = ()  # agents offered (action dial)
    queue: str | None = None
    team: str | None = None
    explanation: str = ""
    # What the route request said, so a call FastAGI routed while AMI was down can still be rebuilt (recovery.gap).
    caller: str | None = None
    did: str | None = None
    uniqueid: str | None = None  # the inbound channel's: its MixMonitor files are named by it
    last_dial_status: str | None = None  # how the previous attempt's Dial ended (None before the first)
    # The instance whose FastAGI answered: another instance shows the decision too, but only this one recovers the
    # call if AMI was down (recovery.gap); with the rest of the answer, so that instance's decision log is whole.
    instance: str | None = None
    ring_timeout_s: int | None = None
    mailbox: str | None = None
    alternatives: tuple[str, ...] = ()


DomainEvent: TypeAlias = (
    CallStarted
    | CallRinging
    | CallAnswered
    | CallTransferred
    | CallEnded
    | AgentStateChanged
    | RecordingReady
    | CallRouted
)
Handler: TypeAlias = Callable[[Any], None]


@runtime_checkable
class EventBus(Protocol):
    """What the tracker's callers and the consumers rely on; implementations: in-process, Redis fan-out."""

    def subscribe(self, handler: Handler, *, event_type: type | None = None) -> Callable[[], None]:
        """Register ``handler`` for ``event_type`` (or every event); returns an unsubscribe function."""
        ...

    def publish(self, event: object) -> None:
        """Deliver ``event`` to the subscribers, in publish order."""
        ...


class InProcessBus:
    """Synchronous, ordered, one-process bus.

    * Handlers run in subscription order, in the publisher's call stack (no tasks: order must not be lost, see
      ARCHITECTURE "One ordered event stream"). An async consumer subscribes a handler that puts into its own
      ``asyncio.Queue``.
    * Publishing from inside a handler does not recurse: the event is queued and delivered after the current one to
      every handler, so all handlers see one global order.
    * A failing handler is logged and counted; the other handlers still get the event (one broken consumer must not
      stop call tracking).
    """

    __slots__ = ("_by_type", "_any", "_queue", "_dispatching", "handler_errors", "published")

    def __init__(self) -> None:
        self._by_type: dict[type, list[Handler]] = {}
        self._any: list[Handler] = []
        self._queue: deque[object] = deque()
        self._dispatching = False
        self.handler_errors = 0
        self.published = 0

    def subscribe(self, handler: Handler, *, event_type: type | None = None) -> Callable[[], None]:
        target = self._any if event_type is None else self._by_type.setdefault(event_type, [])
        target.append(handler)

        def unsubscribe() -> None:
            if handler in target:
                target.remove(handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        self._queue.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._queue:
                self._deliver(self._queue.popleft())
        finally:
            self._dispatching = False

    def publish_many(self, events: Any) -> None:
        for event in events:
            self.publish(event)

    def _deliver(self, event: object) -> None:
        self.published += 1
        specific = self._by_type.get(type(event))
        # Copy: a handler may unsubscribe itself while we iterate.
        for handler in (*specific, *self._any) if specific else tuple(self._any):
            try:
                handler(event)
            except Exception:
                self.handler_errors += 1
                log.exception("event handler %r failed on %s", handler, type(event).__name__)


# --------------------------------------------------------------------------------------------------------------------
# Wire format for cross-process fan-out
# --------------------------------------------------------------------------------------------------------------------

_EVENT_TYPES: Final[dict[str, type]] = {
    cls.__name__: cls
    for cls in (
        CallStarted, CallRinging, CallAnswered, CallTransferred, CallEnded, AgentStateChanged, RecordingReady, CallRouted
    )
}
_NESTED: Final[dict[str, type]] = {"attempts": DialAttempt, "consultations": Consultation}
_ENUM_FIELDS: Final[dict[str, type[enum.StrEnum]]] = {
    "direction": CallDirection,
    "outcome": CallOutcome,
    "hung_up_by": HungUpBy,
    "state": AgentState,
    "previous": AgentState,
}


# What every instance derives from its own AMI session, in Asterisk's order: never sent between instances (the
# receiver would have it twice, docs/architecture.md "Several instances").
FROM_AMI: Final[frozenset[type]] = frozenset(
    {CallStarted, CallRinging, CallAnswered, CallTransferred, CallEnded, AgentStateChanged, RecordingReady}
)


def is_domain_event(event: object) -> bool:
    """One of the call and agent events (not a local fact such as automation's CallLogged)."""
    return type(event).__name__ in _EVENT_TYPES


def is_shared_event(event: object) -> bool:
    """A domain event that AMI does not carry (FastAGI's CallRouted): the one kind instances send each other."""
    return is_domain_event(event) and type(event) not in FROM_AMI


def event_to_dict(event: object) -> dict[str, Any]:
    """JSON-ready dict with a ``type`` key; enums become their string values, tuples become lists."""
    if type(event).__name__ not in _EVENT_TYPES:
        raise TypeError(f"not a domain event: {event!r}")
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):  # type: ignore[arg-type]
        value = getattr(event, f.name)
        if f.name in _NESTED:
            value = [dataclasses.asdict(a) for a in value]
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[f.name] = value
    return out


def event_from_dict(data: Mapping[str, Any]) -> object:
    """Inverse of ``event_to_dict``."""
    cls = _EVENT_TYPES[data["type"]]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in _NESTED:
            value = tuple(_NESTED[f.name](**a) for a in value)
        elif isinstance(value, list):
            value = tuple(value)
        elif f.name in _ENUM_FIELDS and value is not None:
            value = _ENUM_FIELDS[f.name](value)
        kwargs[f.name] = value
    return cls(**kwargs)
