"""Mutable bookkeeping of the tracker: one ``Channel`` per Uniqueid, one ``Call`` per Linkedid.

These objects never leave the tracker; consumers get frozen domain events (``callcenter.events``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.calls.channels import ChannelKind
from callcenter.events import CallDirection

__all__ = ["Attempt", "Call", "Channel", "Consult", "Listener", "Recording"]


@dataclass(slots=True, kw_only=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    kind: ChannelKind
    endpoint: str
    created_s: float
    agent_leg: bool = False  # an agent being offered the call (not a desk phone that started it)
    state: int = 0
    up_s: float | None = None
    caller_num: str | None = None
    context: str | None = None
    exten: str | None = None
    # Dial bookkeeping
    parent: str | None = None  # uniqueid of the channel whose Dial()/Queue() created this leg
    originated: bool = False  # leg of an AMI Originate (Dial* events without a caller block)
    dial_string: str | None = None
    queue: str | None = None
    ringing_s: float | None = None
    answered_s: float | None = None  # agent legs: when the agent picked up
    attempt: Attempt | None = None
    # An attended transfer's consultation leg: offered while the agent who asks was still on the call. Not an offer
    # of the call, and not "talked with the customer" unless the transfer completes (then it is cleared).
    consult: Consult | None = None
    # Dial() targets announced by Newexten that have not produced a DialBegin yet (CHANUNAVAIL detection).
    pending_dial: list[str] | None = None
    last_app: tuple[str, str, str, str, int] | None = None  # (app, data, context, exten, priority)
    pending_rec_legs: tuple[str, ...] = ()
    # End
    alive: bool = True
    hangup_cause: int | None = None
    hangup_cause_txt: str | None = None
    hangup_s: float | None = None
    recovered: bool = False  # learnt from a resync snapshot, not from its Newchannel


@dataclass(slots=True, kw_only=True)
class Attempt:
    agent: str
    queue: str | None
    at_s: float
    leg: str | None  # uniqueid of the agent leg; None for CHANUNAVAIL (no channel is ever created)
    result: str | None = None
    ended_s: float | None = None  # when the result came
    rang: bool = False

    def settle(self, result: str, at_s: float) -> None:
        """The first result counts (a queue sends NOANSWER then CANCEL for one leg)."""
        if self.result is None:
            self.result, self.ended_s = result, at_s


@dataclass(slots=True, kw_only=True)
class Consult:
    agent: str
    by_agent: str | None
    leg: str  # uniqueid of the consulted agent's leg
    at_s: float | None = None  # answered
    ended_s: float | None = None
    transferred: bool = False


@dataclass(slots=True, kw_only=True)
class Recording:
    path: str
    leg_paths: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class Call:
    call_id: str
    started_s: float
    direction: CallDirection
    first_uniqueid: str | None
    originated: bool = False
    caller: str | None = None
    caller_name: str | None = None
    did: str | None = None
    customer: str | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    live: int = 0
    has_trunk: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    consults: list[Consult] = field(default_factory=list)
    agents_rung: list[str] = field(default_factory=list)
    agents_talked: list[str] = field(default_factory=list)
    connected_s: float | None = None
    answered_by: str | None = None
    queue: str | None = None
    queue_abandoned: bool = False
    queue_status: str | None = None  # QUEUESTATUS when Queue() returned on its own (TIMEOUT, JOINEMPTY...)
    agent_complete_reason: str | None = None
    hangup_requests: list[str] = field(default_factory=list)  # uniqueids, in order
    customer_results: list[str] = field(default_factory=list)  # DialEnd statuses of trunk legs
    recordings: list[Recording] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # CC_* channel variables
    originate_action_id: str | None = None
    originate_reason: int | None = None
    recovered: bool = False
    shutdown: bool = False  # closed because Asterisk shut down / restarted
    last_s: float = 0.0


@dataclass(slots=True, kw_only=True)
class Listener:
    """A supervisor's ChanSpy channel (listen / whisper / barge): a phone in use, but neither a call nor an agent on
    the call it listens to. Its own Linkedid is kept out of the calls."""

    uniqueid: str
    linkedid: str
    channel: str
    supervisor: str  # endpoint of the supervisor's phone
    mode: str | None  # SpyMode value from CC_SPY; None when found by a resync (Application ChanSpy)
    started_s: float
    call_id: str | None = None  # Linkedid of the call being listened to (ChanSpyStart), while it lasts
    spied_channel: str | None = None
    recovered: bool = False
