"""Typed AMI events, parsed once at the edge from a header mapping.

Every event the service uses is a frozen, slotted dataclass with typed fields (ints for numbers, ``None`` for absent
or ``<unknown>`` values, units in field names). The mapping from AMI headers to fields is one declarative table
(``EVENT_SPECS``: field -> header, converter, required); at import time each row list is compiled into a small
straight-line parse function, because this runs for every event Asterisk sends and a generic loop over the table
was several times slower.

Contract:

* ``parse_event(headers)`` returns the typed event, or ``None`` when the frame is not an event, when the event name
  is unknown (the caller counts those, see ``is_known_event``), or when a known event is deliberately dropped early
  (VarSet of a variable we do not use, Newexten of an application we do not use, RTCP, security events...).
* A missing required header or an unconvertible value raises ``AmiParseError``; its message names the event and the
  header. Values are never silently replaced by ``''``.
* ``parse_event_full`` is the same without the early drops (for tests and diagnostics).

The header mapping may be a plain ``dict`` (from ``callcenter.ami.frames``) or a panoramisk ``Message``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, NamedTuple

from callcenter.ami.channel_vars import (
    USER_EVENT_AGENT_CONTROL,
    USER_EVENT_DIALER_AMD,
    USER_EVENT_DIALER_RESULT,
    AgentControl,
)

DIALER_USER_EVENTS: Final = frozenset({USER_EVENT_DIALER_AMD, USER_EVENT_DIALER_RESULT})

__all__ = [
    "EVENT_CLASSES",
    "EVENT_SPECS",
    "AmiEvent",
    "AgentControlEvent",
    "DialerUserEvent",
    "AmiParseError",
    "F",
    "KEEP_APPLICATIONS",
    "KEEP_VARIABLES",
    "KNOWN_IGNORED_EVENTS",
    "is_known_event",
    "parse_event",
    "parse_event_full",
]


class AmiParseError(ValueError):
    """A known event whose headers do not fit its declared shape."""

    def __init__(self, event: str, header: str, problem: str) -> None:
        super().__init__(f"AMI {event}: {problem} header {header!r}")
        self.event = event
        self.header = header
        self.problem = problem


# --------------------------------------------------------------------------------------------------------------------
# Converters. Each takes the raw header string and returns the typed value or raises ValueError.
# --------------------------------------------------------------------------------------------------------------------

_UNKNOWN_VALUES: Final = frozenset({"", "<unknown>", "<Unknown>", "(null)"})
_TRUE: Final = frozenset({"yes", "true", "1", "on", "y", "t"})
_FALSE: Final = frozenset({"no", "false", "0", "off", "n", "f", ""})


def _opt(value: str) -> str | None:
    """Asterisk writes ``<unknown>`` or nothing for absent caller IDs, uniqueids...; that means None."""
    return None if value in _UNKNOWN_VALUES else value


def _bool(value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("not a boolean")


def _int_or_none(value: str) -> int | None:
    """Integers where Asterisk may leave the value empty (PausedReason-style optional numbers)."""
    return int(value) if value.strip() else None


def _hms_to_s(value: str) -> int:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> seconds."""
    parts = value.split(":")
    if len(parts) != 3:
        raise ValueError("not HH:MM:SS")
    hours, minutes, seconds = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds


# --------------------------------------------------------------------------------------------------------------------
# Event classes
# --------------------------------------------------------------------------------------------------------------------

_dc = dataclass(frozen=True, slots=True, kw_only=True)


@_dc
class AmiEvent:
    """Base of every typed event. ``timestamp_s`` = Asterisk's ``Timestamp`` header (epoch seconds, µs resolution);
    ``None`` for response-list items and the FullyBooted sent at login, which carry no Timestamp."""

    timestamp_s: float | None = None


@_dc
class ChannelEvent(AmiEvent):
    """The standard channel snapshot block every channel-scoped event carries."""

    channel: str
    channel_state: int
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    context: str
    exten: str
    priority: int
    uniqueid: str
    linkedid: str


# Asterisk channel states (ChannelState header, ast_channel_state).
STATE_DOWN: Final = 0
STATE_RING: Final = 4
STATE_RINGING: Final = 5
STATE_UP: Final = 6
STATE_BUSY: Final = 7


@_dc
class Newchannel(ChannelEvent):
    pass


@_dc
class Newstate(ChannelEvent):
    pass


@_dc
class Newexten(ChannelEvent):
    extension: str
    application: str
    app_data: str


@_dc
class VarSet(ChannelEvent):
    variable: str
    value: str


@_dc
class GlobalVarSet(AmiEvent):
    """A dialplan global set (every `[globals]` entry at each dialplan reload, or Set(GLOBAL(...))). Asterisk sends
    it as a VarSet with `Channel: none` / `Uniqueid: none` and no channel block (main/stasis_channels.c,
    varset_to_ami): a known shape, not a malformed channel event."""

    variable: str
    value: str


@_dc
class NewConnectedLine(ChannelEvent):
    pass


@_dc
class NewCallerid(ChannelEvent):
    cid_calling_pres: str | None = None


@_dc
class Hangup(ChannelEvent):
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@_dc
class HangupRequest(ChannelEvent):
    cause: int | None = None
    tech_cause: int | None = None


@_dc
class SoftHangupRequest(ChannelEvent):
    cause: int | None = None
    tech_cause: int | None = None


@_dc
class MixMonitorStart(ChannelEvent):
    pass


@_dc
class MixMonitorStop(ChannelEvent):
    pass


@_dc
class AGIExecStart(ChannelEvent):
    command_id: str
    command: str


@_dc
class AGIExecEnd(ChannelEvent):
    command_id: str
    command: str
    result_code: int
    result: str


@_dc
class QueueCallerJoin(ChannelEvent):
    queue: str
    position: int
    count: int


@_dc
class QueueCallerLeave(ChannelEvent):
    queue: str
    position: int
    count: int


@_dc
class QueueCallerAbandon(ChannelEvent):
    queue: str
    position: int
    original_position: int
    hold_time_s: int


@_dc
class BridgeChannelEvent(ChannelEvent):
    bridge_uniqueid: str
    bridge_type: str
    bridge_num_channels: int


@_dc
class BridgeEnter(BridgeChannelEvent):
    swap_uniqueid: str | None = None


@_dc
class BridgeLeave(BridgeChannelEvent):
    pass


@_dc
class BridgeEvent(AmiEvent):
    bridge_uniqueid: str
    bridge_type: str
    bridge_technology: str
    bridge_creator: str | None
    bridge_name: str | None
    bridge_num_channels: int


@_dc
class BridgeCreate(BridgeEvent):
    pass


@_dc
class BridgeDestroy(BridgeEvent):
    pass


@_dc
class DialEvent(AmiEvent):
    """Dial* events. The caller block is absent for the originated leg of an AMI Originate (Dest block only)."""

    channel: str | None = None
    channel_state: int | None = None
    caller_id_num: str | None = None
    context: str | None = None
    exten: str | None = None
    uniqueid: str | None = None
    linkedid: str | None = None
    dest_channel: str
    dest_channel_state: int
    dest_caller_id_num: str | None
    dest_caller_id_name: str | None
    dest_connected_line_num: str | None
    dest_context: str
    dest_exten: str
    dest_uniqueid: str
    dest_linkedid: str


@_dc
class DialBegin(DialEvent):
    dial_string: str


@_dc
class DialState(DialEvent):
    dial_status: str


@_dc
class DialEnd(DialEvent):
    dial_status: str
    forward: str | None = None


@_dc
class AgentEvent(ChannelEvent):
    """Queue agent events: caller block + Dest block (the member's leg) + member identity."""

    dest_channel: str
    dest_channel_state: int
    dest_uniqueid: str
    dest_linkedid: str
    queue: str
    interface: str
    member_name: str


@_dc
class AgentCalled(AgentEvent):
    pass


@_dc
class AgentConnect(AgentEvent):
    hold_time_s: int
    ring_time_s: int


@_dc
class AgentComplete(AgentEvent):
    hold_time_s: int
    talk_time_s: int
    reason: str


@_dc
class AgentRingNoAnswer(AgentEvent):
    ring_time_ms: int  # milliseconds, unlike every other queue time


@_dc
class AgentDump(AgentEvent):
    pass


@_dc
class QueueMemberEvent(AmiEvent):
    queue: str
    member_name: str
    interface: str
    state_interface: str
    membership: str
    penalty: int
    calls_taken: int
    in_call: int | None = None
    status: int  # AST_DEVICE_*: 1 not in use, 2 in use, 5 unavailable, 6 ringing ...
    paused: bool
    paused_reason: str | None = None
    ringinuse: bool | None = None
    wrapup_time_s: int | None = None


@_dc
class QueueMemberAdded(QueueMemberEvent):
    pass


@_dc
class QueueMemberRemoved(QueueMemberEvent):
    pass


@_dc
class QueueMemberStatus(QueueMemberEvent):
    pass


@_dc
class QueueMemberPause(QueueMemberEvent):
    pass


@_dc
class QueueMember(AmiEvent):
    """QueueStatus response-list item (no Privilege, no Timestamp; ``Name``/``Location`` spellings)."""

    queue: str
    name: str
    location: str
    state_interface: str | None = None
    membership: str
    penalty: int
    calls_taken: int
    in_call: int | None = None
    status: int
    paused: bool
    paused_reason: str | None = None
    wrapup_time_s: int | None = None
    action_id: str | None = None


@_dc
class QueueParams(AmiEvent):
    queue: str
    max: int
    strategy: str
    calls: int
    hold_time_s: int
    talk_time_s: int
    completed: int
    abandoned: int
    service_level_s: int | None = None
    action_id: str | None = None


@_dc
class QueueEntry(AmiEvent):
    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_id_num: str | None
    caller_id_name: str | None
    wait_s: int
    action_id: str | None = None


@_dc
class ListComplete(AmiEvent):
    action_id: str | None = None
    event_list: str
    list_items: int


@_dc
class QueueStatusComplete(ListComplete):
    pass


@_dc
class CoreShowChannelsComplete(ListComplete):
    pass


@_dc
class CoreShowChannel(ChannelEvent):
    """CoreShowChannels response-list item: one live channel at the moment of the request."""

    bridge_id: str | None = None
    application: str | None = None
    application_data: str | None = None
    duration_s: int
    action_id: str | None = None


@_dc
class DeviceStateChange(AmiEvent):
    device: str
    state: str


@_dc
class ContactStatus(AmiEvent):
    uri: str
    contact_status: str
    aor: str
    endpoint_name: str
    roundtrip_usec: int | None = None


@_dc
class ContactList(AmiEvent):
    """PJSIPShowContacts response-list item (resync of registrations)."""

    uri: str | None = None
    endpoint: str | None = None
    status: str | None = None
    action_id: str | None = None


@_dc
class PeerStatus(AmiEvent):
    channel_type: str
    peer: str
    peer_status: str


@_dc
class OriginateResponse(AmiEvent):
    action_id: str | None = None
    response: str
    channel: str  # on failure this is the dial string, not a channel name
    context: str | None = None
    exten: str | None = None
    reason: int
    uniqueid: str | None  # None when Asterisk says <unknown> (failed originate)
    caller_id_num: str | None = None
    caller_id_name: str | None = None


@_dc
class Cdr(AmiEvent):
    account_code: str | None = None
    source: str | None
    destination: str | None
    destination_context: str | None = None
    caller_id: str | None = None
    channel: str
    destination_channel: str | None
    last_application: str | None = None
    last_data: str | None = None
    start_time: str | None = None
    answer_time: str | None = None
    end_time: str | None = None
    duration_s: int
    billable_s: int
    disposition: str
    unique_id: str
    user_field: str | None = None


@_dc
class FullyBooted(AmiEvent):
    status: str
    uptime_s: int | None = None
    last_reload_s: int | None = None


@_dc
class Shutdown(AmiEvent):
    shutdown: str
    restart: bool


@_dc
class Reload(AmiEvent):
    module: str
    status: str


@_dc
class LocalEvent(AmiEvent):
    local_one_channel: str
    local_one_uniqueid: str
    local_one_linkedid: str
    local_two_channel: str
    local_two_uniqueid: str
    local_two_linkedid: str


@_dc
class LocalBridge(LocalEvent):
    context: str
    exten: str
    local_optimization: bool


@_dc
class LocalOptimizationBegin(LocalEvent):
    source_channel: str | None = None
    source_uniqueid: str | None = None
    dest_uniqueid: str | None = None
    id: str


@_dc
class LocalOptimizationEnd(LocalEvent):
    success: bool
    id: str


@_dc
class BlindTransfer(AmiEvent):
    result: str
    transferer_channel: str
    transferer_uniqueid: str
    transferer_linkedid: str
    transferee_channel: str | None = None
    transferee_uniqueid: str | None = None
    extension: str | None = None
    context: str | None = None
    is_external: bool | None = None


@_dc
class AttendedTransfer(AmiEvent):
    result: str
    orig_transferer_channel: str
    orig_transferer_uniqueid: str
    orig_transferer_linkedid: str
    second_transferer_channel: str | None = None
    second_transferer_uniqueid: str | None = None
    second_transferer_linkedid: str | None = None
    transferee_channel: str | None = None
    transferee_uniqueid: str | None = None
    transfer_target_channel: str | None = None
    transfer_target_uniqueid: str | None = None
    dest_type: str | None = None
    is_external: bool | None = None


@_dc
class ChanSpyStart(AmiEvent):
    """A channel (the supervisor's) began listening to another one (the agent's). Not in the captures: shape from the
    Asterisk 20 AMI event docs (Spyer*/Spyee* channel blocks); only the ids the live model needs are typed."""

    spyer_channel: str
    spyer_uniqueid: str
    spyer_linkedid: str
    spyee_channel: str
    spyee_uniqueid: str
    spyee_linkedid: str


@_dc
class ChanSpyStop(AmiEvent):
    """The spyer stopped listening. app_chanspy publishes it without the spyee (it may already be gone), although the
    event docs list a Spyee* block: so the spyee is optional here."""

    spyer_channel: str
    spyer_uniqueid: str
    spyer_linkedid: str
    spyee_channel: str | None = None
    spyee_uniqueid: str | None = None
    spyee_linkedid: str | None = None


@_dc
class DialerUserEvent(ChannelEvent):
    """A UserEvent raised by the dialplan's [cc-campaign] (names in callcenter.ami.channel_vars): CcDialerAmd carries
    AMD()'s AMDSTATUS / AMDCAUSE, CcDialerResult the outcome the dialplan decided (abandoned, machine). Every
    other UserEvent is dropped before typing."""

    user_event: str
    attempt: str  # CC_DIAL_ATTEMPT as the dialplan saw it (the follower checks it is one of its own)
    status: str | None = None
    cause: str | None = None
    outcome: str | None = None
    agent: str | None = None


@_dc
class AgentControlEvent(AmiEvent):
    """The service's own UserEvent CcAgentControl (callcenter.ami.channel_vars.AgentControl), sent by whichever
    instance was asked: the end of a wrap-up, or the pause of an agent in no queue. It carries no channel (an
    Action: UserEvent has none); ``at_s`` is when the sender decided, so every instance books the same instant."""

    user_event: str
    agent: str
    control: AgentControl
    at_s: float
    call_id: str | None = None
    reason: str | None = None
    action_id: str | None = None  # the sender's ActionID (manager.c forwards it): the sender waits for its echo


# --------------------------------------------------------------------------------------------------------------------
# The declarative table: event name -> (class, rows). A row is (field, header, converter or None, required).
# --------------------------------------------------------------------------------------------------------------------


class F(NamedTuple):
    field: str
    header: str
    conv: Callable[[str], Any] | None = None  # None = keep the string as is
    required: bool = True


def _opt_f(row: F) -> F:
    return row._replace(required=False)


_TS = F("timestamp_s", "Timestamp", float, False)


def _channel_block(prefix: str = "", attr: str = "", *, required: bool = True) -> tuple[F, ...]:
    rows = (
        F(f"{attr}channel", f"{prefix}Channel"),
        F(f"{attr}channel_state", f"{prefix}ChannelState", int),
        F(f"{attr}caller_id_num", f"{prefix}CallerIDNum", _opt),
        F(f"{attr}caller_id_name", f"{prefix}CallerIDName", _opt),
        F(f"{attr}connected_line_num", f"{prefix}ConnectedLineNum", _opt),
        F(f"{attr}connected_line_name", f"{prefix}ConnectedLineName", _opt),
        F(f"{attr}context", f"{prefix}Context"),
        F(f"{attr}exten", f"{prefix}Exten"),
        F(f"{attr}priority", f"{prefix}Priority", int),
        F(f"{attr}uniqueid", f"{prefix}Uniqueid"),
        F(f"{attr}linkedid", f"{prefix}Linkedid"),
    )
    return rows if required else tuple(_opt_f(r) for r in rows)


_CHAN = (_TS, *_channel_block())

_DEST = (
    F("dest_channel", "DestChannel"),
    F("dest_channel_state", "DestChannelState", int),
    F("dest_caller_id_num", "DestCallerIDNum", _opt),
    F("dest_caller_id_name", "DestCallerIDName", _opt),
    F("dest_connected_line_num", "DestConnectedLineNum", _opt),
    F("dest_context", "DestContext"),
    F("dest_exten", "DestExten"),
    F("dest_uniqueid", "DestUniqueid"),
    F("dest_linkedid", "DestLinkedid"),
)

_DIAL_CALLER = (
    _TS,
    F("channel", "Channel", None, False),
    F("channel_state", "ChannelState", int, False),
    F("caller_id_num", "CallerIDNum", _opt, False),
    F("context", "Context", None, False),
    F("exten", "Exten", None, False),
    F("uniqueid", "Uniqueid", None, False),
    F("linkedid", "Linkedid", None, False),
    *_DEST,
)

_AGENT = (
    *_CHAN,
    F("dest_channel", "DestChannel"),
    F("dest_channel_state", "DestChannelState", int),
    F("dest_uniqueid", "DestUniqueid"),
    F("dest_linkedid", "DestLinkedid"),
    F("queue", "Queue"),
    F("interface", "Interface"),
    F("member_name", "MemberName"),
)

_BRIDGE = (
    F("bridge_uniqueid", "BridgeUniqueid"),
    F("bridge_type", "BridgeType"),
    F("bridge_technology", "BridgeTechnology"),
    F("bridge_creator", "BridgeCreator", _opt),
    F("bridge_name", "BridgeName", _opt),
    F("bridge_num_channels", "BridgeNumChannels", int),
)

_QMEMBER = (
    _TS,
    F("queue", "Queue"),
    F("member_name", "MemberName"),
    F("interface", "Interface"),
    F("state_interface", "StateInterface"),
    F("membership", "Membership"),
    F("penalty", "Penalty", int),
    F("calls_taken", "CallsTaken", int),
    F("in_call", "InCall", _int_or_none, False),
    F("status", "Status", int),
    F("paused", "Paused", _bool),
    F("paused_reason", "PausedReason", _opt, False),
    F("ringinuse", "Ringinuse", _bool, False),
    F("wrapup_time_s", "Wrapuptime", _int_or_none, False),
)

_LIST_COMPLETE = (
    _TS,
    F("action_id", "ActionID", None, False),
    F("event_list", "EventList"),
    F("list_items", "ListItems", int),
)

_LOCAL = (
    _TS,
    F("local_one_channel", "LocalOneChannel"),
    F("local_one_uniqueid", "LocalOneUniqueid"),
    F("local_one_linkedid", "LocalOneLinkedid"),
    F("local_two_channel", "LocalTwoChannel"),
    F("local_two_uniqueid", "LocalTwoUniqueid"),
    F("local_two_linkedid", "LocalTwoLinkedid"),
)

#: The table itself (public so that tests can check it against the event catalogue of the captures).
EVENT_SPECS: Final[dict[str, tuple[type[AmiEvent], tuple[F, ...]]]] = {
    "Newchannel": (Newchannel, _CHAN),
    "Newstate": (Newstate, _CHAN),
    "Newexten": (
        Newexten,
        (*_CHAN, F("extension", "Extension"), F("application", "Application"), F("app_data", "AppData")),
    ),
    "VarSet": (VarSet, (*_CHAN, F("variable", "Variable"), F("value", "Value"))),
    # Not an event name on the wire: what a VarSet without a channel becomes (see _varset).
    "GlobalVarSet": (GlobalVarSet, (_TS, F("variable", "Variable"), F("value", "Value"))),
    "NewConnectedLine": (NewConnectedLine, _CHAN),
    "NewCallerid": (NewCallerid, (*_CHAN, F("cid_calling_pres", "CID-CallingPres", None, False))),
    "Hangup": (
        Hangup,
        (*_CHAN, F("cause", "Cause", int), F("cause_txt", "Cause-txt"), F("tech_cause", "TechCause", int, False)),
    ),
    "HangupRequest": (
        HangupRequest,
        (*_CHAN, F("cause", "Cause", int, False), F("tech_cause", "TechCause", int, False)),
    ),
    "SoftHangupRequest": (
        SoftHangupRequest,
        (*_CHAN, F("cause", "Cause", int, False), F("tech_cause", "TechCause", int, False)),
    ),
    "MixMonitorStart": (MixMonitorStart, _CHAN),
    "MixMonitorStop": (MixMonitorStop, _CHAN),
    "AGIExecStart": (AGIExecStart, (*_CHAN, F("command_id", "CommandId"), F("command", "Command"))),
    "AGIExecEnd": (
        AGIExecEnd,
        (
            *_CHAN,
            F("command_id", "CommandId"),
            F("command", "Command"),
            F("result_code", "ResultCode", int),
            F("result", "Result"),
        ),
    ),
    "QueueCallerJoin": (
        QueueCallerJoin,
        (*_CHAN, F("queue", "Queue"), F("position", "Position", int), F("count", "Count", int)),
    ),
    "QueueCallerLeave": (
        QueueCallerLeave,
        (*_CHAN, F("queue", "Queue"), F("position", "Position", int), F("count", "Count", int)),
    ),
    "QueueCallerAbandon": (
        QueueCallerAbandon,
        (
            *_CHAN,
            F("queue", "Queue"),
            F("position", "Position", int),
            F("original_position", "OriginalPosition", int),
            F("hold_time_s", "HoldTime", int),
        ),
    ),
    "BridgeEnter": (
        BridgeEnter,
        (
            *_CHAN,
            F("bridge_uniqueid", "BridgeUniqueid"),
            F("bridge_type", "BridgeType"),
            F("bridge_num_channels", "BridgeNumChannels", int),
            F("swap_uniqueid", "SwapUniqueid", _opt, False),
        ),
    ),
    "BridgeLeave": (
        BridgeLeave,
        (
            *_CHAN,
            F("bridge_uniqueid", "BridgeUniqueid"),
            F("bridge_type", "BridgeType"),
            F("bridge_num_channels", "BridgeNumChannels", int),
        ),
    ),
    "BridgeCreate": (BridgeCreate, (_TS, *_BRIDGE)),
    "BridgeDestroy": (BridgeDestroy, (_TS, *_BRIDGE)),
    "DialBegin": (DialBegin, (*_DIAL_CALLER, F("dial_string", "DialString"))),
    "DialState": (DialState, (*_DIAL_CALLER, F("dial_status", "DialStatus"))),
    "DialEnd": (DialEnd, (*_DIAL_CALLER, F("dial_status", "DialStatus"), F("forward", "Forward", _opt, False))),
    "AgentCalled": (AgentCalled, _AGENT),
    "AgentConnect": (
        AgentConnect,
        (*_AGENT, F("hold_time_s", "HoldTime", int), F("ring_time_s", "RingTime", int)),
    ),
    "AgentComplete": (
        AgentComplete,
        (*_AGENT, F("hold_time_s", "HoldTime", int), F("talk_time_s", "TalkTime", int), F("reason", "Reason")),
    ),
    "AgentRingNoAnswer": (AgentRingNoAnswer, (*_AGENT, F("ring_time_ms", "RingTime", int))),
    "AgentDump": (AgentDump, _AGENT),
    "QueueMemberAdded": (QueueMemberAdded, _QMEMBER),
    "QueueMemberRemoved": (QueueMemberRemoved, _QMEMBER),
    "QueueMemberStatus": (QueueMemberStatus, _QMEMBER),
    "QueueMemberPause": (QueueMemberPause, _QMEMBER),
    "QueueMember": (
        QueueMember,
        (
            _TS,
            F("queue", "Queue"),
            F("name", "Name"),
            F("location", "Location"),
            F("state_interface", "StateInterface", None, False),
            F("membership", "Membership"),
            F("penalty", "Penalty", int),
            F("calls_taken", "CallsTaken", int),
            F("in_call", "InCall", _int_or_none, False),
            F("status", "Status", int),
            F("paused", "Paused", _bool),
            F("paused_reason", "PausedReason", _opt, False),
            F("wrapup_time_s", "Wrapuptime", _int_or_none, False),
            F("action_id", "ActionID", None, False),
        ),
    ),
    "QueueParams": (
        QueueParams,
        (
            _TS,
            F("queue", "Queue"),
            F("max", "Max", int),
            F("strategy", "Strategy"),
            F("calls", "Calls", int),
            F("hold_time_s", "Holdtime", int),
            F("talk_time_s", "TalkTime", int),
            F("completed", "Completed", int),
            F("abandoned", "Abandoned", int),
            F("service_level_s", "ServiceLevel", _int_or_none, False),
            F("action_id", "ActionID", None, False),
        ),
    ),
    "QueueEntry": (
        QueueEntry,
        (
            _TS,
            F("queue", "Queue"),
            F("position", "Position", int),
            F("channel", "Channel"),
            F("uniqueid", "Uniqueid"),
            F("caller_id_num", "CallerIDNum", _opt),
            F("caller_id_name", "CallerIDName", _opt),
            F("wait_s", "Wait", int),
            F("action_id", "ActionID", None, False),
        ),
    ),
    "QueueStatusComplete": (QueueStatusComplete, _LIST_COMPLETE),
    "CoreShowChannel": (
        CoreShowChannel,
        (
            *_CHAN,
            F("bridge_id", "BridgeId", _opt, False),
            F("application", "Application", _opt, False),
            F("application_data", "ApplicationData", _opt, False),
            F("duration_s", "Duration", _hms_to_s),
            F("action_id", "ActionID", None, False),
        ),
    ),
    "CoreShowChannelsComplete": (CoreShowChannelsComplete, _LIST_COMPLETE),
    "DeviceStateChange": (DeviceStateChange, (_TS, F("device", "Device"), F("state", "State"))),
    "ContactStatus": (
        ContactStatus,
        (
            _TS,
            F("uri", "URI"),
            F("contact_status", "ContactStatus"),
            F("aor", "AOR"),
            F("endpoint_name", "EndpointName"),
            F("roundtrip_usec", "RoundtripUsec", _int_or_none, False),
        ),
    ),
    "ContactList": (
        ContactList,
        (
            _TS,
            F("uri", "Uri", _opt, False),
            F("endpoint", "Endpoint", _opt, False),
            F("status", "Status", _opt, False),
            F("action_id", "ActionID", None, False),
        ),
    ),
    "PeerStatus": (
        PeerStatus,
        (_TS, F("channel_type", "ChannelType"), F("peer", "Peer"), F("peer_status", "PeerStatus")),
    ),
    "OriginateResponse": (
        OriginateResponse,
        (
            _TS,
            F("action_id", "ActionID", None, False),
            F("response", "Response"),
            F("channel", "Channel"),
            F("context", "Context", _opt, False),
            F("exten", "Exten", _opt, False),
            F("reason", "Reason", int),
            F("uniqueid", "Uniqueid", _opt),
            F("caller_id_num", "CallerIDNum", _opt, False),
            F("caller_id_name", "CallerIDName", _opt, False),
        ),
    ),
    "Cdr": (
        Cdr,
        (
            _TS,
            F("account_code", "AccountCode", _opt, False),
            F("source", "Source", _opt),
            F("destination", "Destination", _opt),
            F("destination_context", "DestinationContext", _opt, False),
            F("caller_id", "CallerID", _opt, False),
            F("channel", "Channel"),
            F("destination_channel", "DestinationChannel", _opt),
            F("last_application", "LastApplication", _opt, False),
            F("last_data", "LastData", _opt, False),
            F("start_time", "StartTime", _opt, False),
            F("answer_time", "AnswerTime", _opt, False),
            F("end_time", "EndTime", _opt, False),
            F("duration_s", "Duration", int),
            F("billable_s", "BillableSeconds", int),
            F("disposition", "Disposition"),
            F("unique_id", "UniqueID"),
            F("user_field", "UserField", _opt, False),
        ),
    ),
    "FullyBooted": (
        FullyBooted,
        (
            _TS,
            F("status", "Status"),
            F("uptime_s", "Uptime", _int_or_none, False),
            F("last_reload_s", "LastReload", _int_or_none, False),
        ),
    ),
    "Shutdown": (Shutdown, (_TS, F("shutdown", "Shutdown"), F("restart", "Restart", _bool))),
    "Reload": (Reload, (_TS, F("module", "Module"), F("status", "Status"))),
    "ChanSpyStart": (
        ChanSpyStart,
        (
            _TS,
            F("spyer_channel", "SpyerChannel"),
            F("spyer_uniqueid", "SpyerUniqueid"),
            F("spyer_linkedid", "SpyerLinkedid"),
            F("spyee_channel", "SpyeeChannel"),
            F("spyee_uniqueid", "SpyeeUniqueid"),
            F("spyee_linkedid", "SpyeeLinkedid"),
        ),
    ),
    "ChanSpyStop": (
        ChanSpyStop,
        (
            _TS,
            F("spyer_channel", "SpyerChannel"),
            F("spyer_uniqueid", "SpyerUniqueid"),
            F("spyer_linkedid", "SpyerLinkedid"),
            F("spyee_channel", "SpyeeChannel", None, False),
            F("spyee_uniqueid", "SpyeeUniqueid", None, False),
            F("spyee_linkedid", "SpyeeLinkedid", None, False),
        ),
    ),
    "LocalBridge": (
        LocalBridge,
        (*_LOCAL, F("context", "Context"), F("exten", "Exten"), F("local_optimization", "LocalOptimization", _bool)),
    ),
    "LocalOptimizationBegin": (
        LocalOptimizationBegin,
        (
            *_LOCAL,
            F("source_channel", "SourceChannel", None, False),
            F("source_uniqueid", "SourceUniqueid", None, False),
            F("dest_uniqueid", "DestUniqueId", None, False),
            F("id", "Id"),
        ),
    ),
    "LocalOptimizationEnd": (LocalOptimizationEnd, (*_LOCAL, F("success", "Success", _bool), F("id", "Id"))),
    "BlindTransfer": (
        BlindTransfer,
        (
            _TS,
            F("result", "Result"),
            F("transferer_channel", "TransfererChannel"),
            F("transferer_uniqueid", "TransfererUniqueid"),
            F("transferer_linkedid", "TransfererLinkedid"),
            F("transferee_channel", "TransfereeChannel", None, False),
            F("transferee_uniqueid", "TransfereeUniqueid", None, False),
            F("extension", "Extension", None, False),
            F("context", "Context", None, False),
            F("is_external", "IsExternal", _bool, False),
        ),
    ),
    "AttendedTransfer": (
        AttendedTransfer,
        (
            _TS,
            F("result", "Result"),
            F("orig_transferer_channel", "OrigTransfererChannel"),
            F("orig_transferer_uniqueid", "OrigTransfererUniqueid"),
            F("orig_transferer_linkedid", "OrigTransfererLinkedid"),
            F("second_transferer_channel", "SecondTransfererChannel", None, False),
            F("second_transferer_uniqueid", "SecondTransfererUniqueid", None, False),
            F("second_transferer_linkedid", "SecondTransfererLinkedid", None, False),
            F("transferee_channel", "TransfereeChannel", None, False),
            F("transferee_uniqueid", "TransfereeUniqueid", None, False),
            F("transfer_target_channel", "TransferTargetChannel", None, False),
            F("transfer_target_uniqueid", "TransferTargetUniqueid", None, False),
            F("dest_type", "DestType", None, False),
            F("is_external", "IsExternal", _bool, False),
        ),
    ),
    "UserEvent": (
        DialerUserEvent,
        (
            *_CHAN,
            F("user_event", "UserEvent"),
            F("attempt", "Attempt"),
            F("status", "Status", _opt, False),
            F("cause", "Cause", _opt, False),
            F("outcome", "Outcome", _opt, False),
            F("agent", "Agent", _opt, False),
        ),
    ),
}

# Events we know and deliberately do not type: they say nothing about calls or agents that the events above do not
# already say. They are not "unknown" (unknown = a name we have never heard of, worth a log line).
KNOWN_IGNORED_EVENTS: Final = frozenset(
    {
        "RTCPSent",
        "RTCPReceived",
        "SuccessfulAuth",
        "ChallengeSent",
        "ChallengeResponseFailed",
        "InvalidAccountID",
        "InvalidPassword",
        "FailedACL",
        "UnexpectedAddress",
        "RequestBadFormat",
        "RequestNotAllowed",
        "AuthMethodNotAllowed",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "DTMFBegin",
        "DTMFEnd",
        "Hold",
        "Unhold",
        "CEL",
        "NewAccountCode",
        "BridgeMerge",
        "BridgeVideoSourceUpdate",
        "BridgeInfoChannel",
        "BridgeInfoComplete",
        "Registry",
        "DeviceStateListComplete",
        "ContactListComplete",
        "ExtensionStatus",
        "ExtensionStateListComplete",
        "AGIExec",
        "AsyncAGIStart",
        "AsyncAGIExec",
        "AsyncAGIEnd",
        "LoadAverageLimit",
        "MessageWaiting",
    }
)

# VarSet is ~60 % of all AMI traffic; only these variables matter downstream, the rest are dropped before typing.
# DIALSTATUS: the only trace of a CHANUNAVAIL attempt; QUEUESTATUS: tells a queue timeout from a caller abandon;
# MIXMONITOR_FILENAME: the recording path (MixMonitorStart has none); BRIDGEPEER/MEMBERINTERFACE: who is bridged /
# which queue member took the call; PLAYBACKSTATUS: whether the dialer's information message was heard (FAILED: the
# file is missing); CC_*: our own routing variables (names defined once in the dialplan module).
KEEP_VARIABLES: Final = frozenset({"DIALSTATUS", "QUEUESTATUS", "MIXMONITOR_FILENAME", "BRIDGEPEER", "MEMBERINTERFACE",
                                   "PLAYBACKSTATUS"})
KEEP_VARIABLE_PREFIX: Final = "CC_"
# Newexten is the second largest stream; the tracker only needs dial targets (CHANUNAVAIL attempts create no
# channel), the queue name and the MixMonitor r()/t() leg files.
KEEP_APPLICATIONS: Final = frozenset({"Dial", "Queue", "MixMonitor"})


# --------------------------------------------------------------------------------------------------------------------
# Compilation of the table into straight-line parse functions
# --------------------------------------------------------------------------------------------------------------------


def _diagnose(event: str, rows: tuple[F, ...], headers: Mapping[str, str]) -> AmiParseError:
    """Slow path after a failure: find the offending header for a precise message."""
    for row in rows:
        raw = headers.get(row.header)
        if raw is None:
            if row.required:
                return AmiParseError(event, row.header, "missing required")
            continue
        if row.conv is None:
            continue
        try:
            row.conv(raw)
        except (ValueError, TypeError):
            shown = raw if len(raw) <= 40 else raw[:40] + "..."
            return AmiParseError(event, row.header, f"bad value {shown!r} in")
    return AmiParseError(event, "?", "could not build event from")


def _compile(event: str, cls: type[AmiEvent], rows: tuple[F, ...]) -> Callable[[Mapping[str, str]], AmiEvent]:
    init_fields = {f.name for f in fields(cls) if f.init}
    row_fields = [r.field for r in rows]
    if set(row_fields) != init_fields or len(row_fields) != len(init_fields):
        raise TypeError(f"spec for {event} does not match {cls.__name__} fields: {sorted(init_fields ^ set(row_fields))}")
    env: dict[str, Any] = {"_cls": cls, "_diagnose": _diagnose, "_rows": rows, "_event": event}
    lines = ["def parse(h):", "    g = h.get", "    try:"]
    args = []
    for i, row in enumerate(rows):
        conv = f"_c{i}"
        if row.conv is not None:
            env[conv] = row.conv
        if row.required:
            # h[...] raises KeyError when missing; the except clause turns it into a precise AmiParseError.
            expr = f"h[{row.header!r}]"
            if row.conv is not None:
                expr = f"{conv}({expr})"
        else:
            lines.append(f"        v{i} = g({row.header!r})")
            expr = f"v{i}" if row.conv is None else f"(None if v{i} is None else {conv}(v{i}))"
        args.append(f"{row.field}={expr}")
    lines.append(f"        return _cls({', '.join(args)})")
    lines.append("    except (KeyError, ValueError, TypeError):")
    lines.append("        raise _diagnose(_event, _rows, h) from None")
    exec("\n".join(lines), env)  # noqa: S102 - source is built from the static table above, never from input
    parse = env["parse"]
    parse.__name__ = f"parse_{event}"
    return parse


_PARSERS_FULL: Final[dict[str, Callable[[Mapping[str, str]], AmiEvent]]] = {
    name: _compile(name, cls, rows) for name, (cls, rows) in EVENT_SPECS.items()
}

#: Event classes by AMI event name (for documentation and tests).
EVENT_CLASSES: Final[dict[str, type[AmiEvent]]] = {name: cls for name, (cls, _) in EVENT_SPECS.items()}


def _varset(
    h: Mapping[str, str],
    _channel: Callable[[Mapping[str, str]], AmiEvent] = _PARSERS_FULL["VarSet"],
    _global: Callable[[Mapping[str, str]], AmiEvent] = _PARSERS_FULL["GlobalVarSet"],
) -> AmiEvent:
    if h.get("Channel") == "none" and h.get("Uniqueid") == "none":
        return _global(h)
    return _channel(h)


def _filtered_varset(h: Mapping[str, str]) -> AmiEvent | None:
    var = h.get("Variable")
    if var is not None and var not in KEEP_VARIABLES and not var.startswith(KEEP_VARIABLE_PREFIX):
        return None
    return _varset(h)


def _filtered_newexten(
    h: Mapping[str, str], _full: Callable[[Mapping[str, str]], AmiEvent] = _PARSERS_FULL["Newexten"]
) -> AmiEvent | None:
    app = h.get("Application")
    if app is not None and app not in KEEP_APPLICATIONS:
        return None
    return _full(h)


def _ignored(h: Mapping[str, str]) -> None:
    return None


def _filtered_userevent(
    h: Mapping[str, str], _full: Callable[[Mapping[str, str]], AmiEvent] = _PARSERS_FULL["UserEvent"]
) -> AmiEvent | None:
    # only our own UserEvents are typed; any other (a site's dialplan may raise its own) is not ours
    name = h.get("UserEvent")
    if name == USER_EVENT_AGENT_CONTROL:
        return _agent_control(h)
    if name not in DIALER_USER_EVENTS:
        return None
    return _full(h)


_agent_control: Final = _compile("UserEvent", AgentControlEvent, (
    _TS,
    F("user_event", "UserEvent"),
    F("agent", "Agent"),
    F("control", "Control", AgentControl),
    F("at_s", "AtS", float),
    F("call_id", "CallId", _opt, False),
    F("reason", "Reason", None, False),
    F("action_id", "ActionID", _opt, False),
))


_PARSERS: Final[dict[str, Callable[[Mapping[str, str]], AmiEvent | None]]] = {
    **{name: parse for name, parse in _PARSERS_FULL.items() if name != "GlobalVarSet"},
    "VarSet": _filtered_varset,
    "Newexten": _filtered_newexten,
    "UserEvent": _filtered_userevent,
    **{name: _ignored for name in KNOWN_IGNORED_EVENTS},
}


def parse_event(headers: Mapping[str, str]) -> AmiEvent | None:
    """Typed event for ``headers``; ``None`` for responses, unknown names and events dropped early.

    Raises ``AmiParseError`` when a known, kept event lacks a required header or has a bad value.
    """
    name = headers.get("Event")
    if name is None:
        return None
    parse = _PARSERS.get(name)
    return None if parse is None else parse(headers)


def parse_event_full(headers: Mapping[str, str]) -> AmiEvent | None:
    """Like ``parse_event`` but types every VarSet/Newexten too (diagnostics, tests)."""
    name = headers.get("Event")
    if name is None or name == "GlobalVarSet":
        return None
    if name == "UserEvent":
        return _filtered_userevent(headers)
    parse = _varset if name == "VarSet" else _PARSERS_FULL.get(name)
    return None if parse is None else parse(headers)


def is_known_event(name: str) -> bool:
    """True for every event name we type or deliberately ignore; the caller counts the others as unknown."""
    return name in _PARSERS
