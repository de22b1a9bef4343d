"""Simulated channels and bridges, and the header blocks Asterisk prints for them.

Names and ids follow Asterisk 20: ``PJSIP/<endpoint>-%08x`` from chan_pjsip's own counter, Uniqueid
``<epoch at creation>.<n>`` from the core's counter (both restart at 0 when Asterisk restarts), bridge ids are
UUIDs. A CHANUNAVAIL dial attempt creates no channel and uses no number.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Final

from callcenter.pbxsim.clock import Waiter
from callcenter.pbxsim.wire import Headers

__all__ = ["Bridge", "Channel", "IdAllocator", "STATE_DESC", "bridge_block", "channel_block"]

DOWN: Final = 0
RING: Final = 4
RINGING: Final = 5
UP: Final = 6
BUSY: Final = 7
STATE_DESC: Final = {DOWN: "Down", RING: "Ring", RINGING: "Ringing", UP: "Up", BUSY: "Busy"}
UNKNOWN: Final = "<unknown>"


@dataclass(slots=True, kw_only=True, eq=False)  # identity: a channel is a thing, not a value
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    endpoint: str
    tech: str = "PJSIP"
    state: int = DOWN
    caller_num: str | None = None
    caller_name: str | None = None
    connected_num: str | None = None
    connected_name: str | None = None
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    language: str = "en"
    account_code: str = ""
    created_s: float = 0.0
    up_s: float | None = None
    sip_call_id: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    bridge: Bridge | None = None
    application: str = ""
    application_data: str = ""
    alive: bool = True
    had_media: bool = False  # was Up with RTP: Asterisk sets the RTPAUDIOQOS* variables when it hangs up
    qos_done: bool = False
    ssrc: int = 1
    hangup_cause: int = 0  # ast_channel_hangupcause: set by Dial outcomes and SIP responses, printed by Hangup
    tech_cause: int | None = None  # the SIP status behind it (TechCause), when there was one
    soft_hangup_done: bool = False
    dnid: str = "unknown"
    dialed: str = ""  # number dialled on this outgoing leg (PJSIP/5550001@trunk -> 5550001)
    connected: bool = False  # talked with the other party (patience no longer applies)
    queue_leg: bool = False
    talk_token: int = 0
    agi_threadid: str = ""
    gosub_stack: list[tuple[str, str, int]] = field(default_factory=list)
    gosub_argv: list[list[str]] = field(default_factory=list)  # each Gosub frame's arguments (its LOCAL variables)
    skip_newexten: bool = False  # the stale Newexten after a Redirect stood in for this priority's own
    # Signals for the process that owns this channel (its dialplan, or the Dial that created it).
    inbox: list[tuple[str, object]] = field(default_factory=list)
    waiter: Waiter | None = None
    in_dialplan: bool = False  # a dialplan process owns it (Redirect targets it); outgoing legs belong to a Dial
    # may start a transfer with the features.conf DTMF codes (Dial/Queue option t for the called leg, T the caller)
    transfer_rights: bool = False
    local_partner: Channel | None = None  # the other half of a Local channel pair (tech "Local")
    on_hold: bool = False  # put on hold by a transfer: its device is ONHOLD while Up
    local_callee: Channel | None = None  # a Local ;2: the channel its Dial rings
    pending_caller: tuple[str | None, str | None] | None = None  # a Local ;2: caller id it takes when answered

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def signal(self, kind: str, payload: object = None) -> None:
        """Tell the owning process something happened (hangup from the far end, redirect, ...)."""
        self.inbox.append((kind, payload))
        if self.waiter is not None:
            self.waiter.wake(kind)

    def take(self, kind: str) -> object | None:
        for i, (k, payload) in enumerate(self.inbox):
            if k == kind:
                del self.inbox[i]
                return payload if payload is not None else True
        return None

    def has(self, kind: str) -> bool:
        return any(k == kind for k, _ in self.inbox)


def _cid(value: str | None) -> str:
    return UNKNOWN if value is None else value


def channel_block(ch: Channel, prefix: str = "") -> Headers:
    """The standard channel snapshot block (prefixed ``Dest``/``Transferee``... when it describes another channel)."""
    p = prefix
    return [
        (f"{p}Channel", ch.name),
        (f"{p}ChannelState", str(ch.state)),
        (f"{p}ChannelStateDesc", ch.state_desc),
        (f"{p}CallerIDNum", _cid(ch.caller_num)),
        (f"{p}CallerIDName", _cid(ch.caller_name)),
        (f"{p}ConnectedLineNum", _cid(ch.connected_num)),
        (f"{p}ConnectedLineName", _cid(ch.connected_name)),
        (f"{p}Language", ch.language),
        (f"{p}AccountCode", ch.account_code),
        (f"{p}Context", ch.context),
        (f"{p}Exten", ch.exten),
        (f"{p}Priority", str(ch.priority)),
        (f"{p}Uniqueid", ch.uniqueid),
        (f"{p}Linkedid", ch.linkedid),
    ]


@dataclass(slots=True, kw_only=True, eq=False)
class Bridge:
    uniqueid: str
    channels: list[Channel] = field(default_factory=list)
    bridge_type: str = "basic"
    technology: str = "simple_bridge"


def bridge_block(bridge: Bridge, num_channels: int) -> Headers:
    return [
        ("BridgeUniqueid", bridge.uniqueid),
        ("BridgeType", bridge.bridge_type),
        ("BridgeTechnology", bridge.technology),
        ("BridgeCreator", UNKNOWN),
        ("BridgeName", UNKNOWN),
        ("BridgeNumChannels", str(num_channels)),
        ("BridgeVideoSourceMode", "none"),
    ]


class IdAllocator:
    """Counters that Asterisk keeps per process lifetime (reset by a restart), and seeded random ids."""

    def __init__(self, *, rng: random.Random) -> None:
        self._rng = rng
        self.reset()

    def reset(self) -> None:
        self._unique = 0
        self._pjsip = 0
        self._local = 0

    def uniqueid(self, now_s: float) -> str:
        n = self._unique
        self._unique += 1
        return f"{int(now_s)}.{n}"

    def pjsip_name(self, endpoint: str) -> str:
        n = self._pjsip
        self._pjsip += 1
        return f"PJSIP/{endpoint}-{n:08x}"

    def local_names(self, resource: str) -> tuple[str, str]:
        """core_local.c: both halves of one Local channel pair, ``Local/1003@cc-agents-00000000;1`` and ``;2``."""
        n = self._local
        self._local += 1
        return f"Local/{resource}-{n:08x};1", f"Local/{resource}-{n:08x};2"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def command_id(self) -> str:
        return str(self._rng.randrange(100_000_000, 2_147_483_647))

    def sip_call_id(self, *, inbound: bool) -> str:
        # sipp-style Call-ID for calls that come from outside, Asterisk's UUIDs for the legs it creates
        if inbound:
            return f"{self._rng.randrange(1, 50)}-{self._rng.randrange(10_000, 40_000)}@127.0.0.1"
        return self.uuid()

    def randbits(self, bits: int) -> int:
        return self._rng.getrandbits(bits)
