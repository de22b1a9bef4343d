"""Pure call/agent state machine: typed AMI events in, domain events out. No I/O, no awaits, no clock.

Feed every typed event in stream order with ``feed(event)``; it returns the domain events that event caused
(``CallStarted``, ``CallRinging``, ``CallAnswered``, ``CallTransferred``, ``CallEnded``, ``RecordingReady``,
``AgentStateChanged``). Time comes only from event ``Timestamp`` headers (and ``tick(now_s)`` for wrap-up expiry).

How calls are recognised (see tests/data/ami-traces/INDEX.md for the observations behind each rule):

* A call is a Linkedid. It ends when its last channel hangs up - never on a Local channel hangup alone (Local
  optimisation hangs up both halves mid-call).
* Direction: the first channel (Uniqueid == Linkedid) is a trunk channel in state Ring -> inbound; it was created
  Down (AMI Originate: trunk, agent or Local) -> outbound; a desk phone in state Ring -> internal, upgraded to
  outbound when a trunk leg appears.
* An agent leg answers when it goes Up (Newstate, DialEnd ANSWER, AgentConnect or BridgeEnter snapshot, whichever
  shows it first). The call is *answered* when an answered agent leg and an up customer-side leg coexist: caller
  Up alone means nothing for queue calls (Answer() first), agent Up alone means nothing for agent-first originates.
  A later agent answering an already answered call is a transfer (AMI Redirect has no transfer event) - unless the
  agent on the call is still there: then it is an attended transfer's consultation (Atxfer / the atxfer feature
  consult through Local/<exten>@cc-agents in the same Linkedid). It becomes the transfer only when Asterisk completes
  it (AttendedTransfer Result: Success, or the transferring agent hanging up); a consultation the colleague ends is
  not an offer of the call, not "talked with the customer" and books no wrap-up on it. A desk phone's REFER attended
  transfer consults in a call of its own: on AttendedTransfer the consulted agent's channel moves into the customer's.
* CHANUNAVAIL targets create no channel: the Dial() target list (from Newexten) that got no DialBegin before
  ``DIALSTATUS=CHANUNAVAIL|CONGESTION`` is recorded as attempts. The first Newexten after a Redirect repeats the old
  Application/AppData at the new location; such a stale repeat is ignored.

Reconnects: ``begin_resync()``, feed the CoreShowChannel (+CoreShowChannelsComplete) and QueueMember
(+QueueStatusComplete) list items, then ``end_resync(at_s=...)``. Calls whose channels are all gone are closed with
what we know (``end_estimated=True``), live calls continue, calls that started while we were away are created
(``recovered=True``). ``CallEnded`` is emitted at most once per Linkedid: ended Linkedids are remembered and late
events for them are ignored. ``Shutdown`` closes every open call; a ``FullyBooted`` whose Uptime proves a restart
closes calls that began before the boot.

Wiring with ``callcenter.ami.connection`` (one consumer task, queue order):
  ``Connected``  -> ``tracker.begin_resync()``  (live events that follow are applied at once; channels they create
                    are never mistaken for "gone" by the snapshot)
  ``Received``   -> ``parse_event(message)`` -> ``tracker.feed(event)`` (skip None; count AmiParseError)
  ``Resync``     -> feed every CoreShowChannel / QueueMember / DeviceStateChange / ContactList item, then
                    ``tracker.end_resync(at_s=resync.at_s, channels_complete=True,
                    members_complete="QueueStatus" in resync.lists)``
  a timer        -> ``tracker.tick(now_s)`` only if wrap-up must expire without traffic (``agents.next_deadline_s``)
Everything returned is published on the bus in order.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from callcenter.ami import events as ami
from callcenter.ami.channel_vars import AgentControl, OriginateVar
from callcenter.ami.events import STATE_DOWN, STATE_RINGING, STATE_UP
from callcenter.calls.agents import OFFERED_LEG, RINGING_LEG, TALKING_LEG, AgentBook
from callcenter.calls.channels import (
    ChannelKind,
    Naming,
    dial_targets,
    mixmonitor_files,
    number_from_dial_string,
    split_channel_name,
)
from callcenter.calls.model import Attempt, Call, Channel, Consult, Listener, Recording
from callcenter.calls.outcome import classify, customer_side
from callcenter.events import (
    CallAnswered,
    CallDirection,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    Consultation,
    DialAttempt,
    RecordingReady,
)

__all__ = ["CallTracker", "TrackerStats"]

_EMPTY: Final[tuple[()]] = ()
_TRUNK, _AGENT, _LOCAL = ChannelKind.TRUNK, ChannelKind.AGENT, ChannelKind.LOCAL
_UNREACHABLE_STATUSES: Final = frozenset({"CHANUNAVAIL", "CONGESTION"})
# What Asterisk publishes on an originated channel before it dials it (pbx_outgoing_attempt: the AppDial2 snapshot,
# the Originate's variables, its caller id): none of it may announce the call yet (see _settle_pending).
_BEFORE_DIAL: Final = (ami.Newexten, ami.VarSet, ami.NewCallerid, ami.NewConnectedLine)
_SPY_APPLICATIONS: Final = frozenset({"ChanSpy", "ExtenSpy"})


@dataclass(slots=True)
class TrackerStats:
    events: int = 0
    late_events: int = 0  # events for a call that already ended (ignored)
    calls_started: int = 0
    calls_ended: int = 0
    recovered_calls: int = 0  # created from a resync snapshot
    closed_by_resync: int = 0
    closed_by_restart: int = 0
    listeners: int = 0  # supervisors' ChanSpy channels kept out of the calls


@dataclass(slots=True)
class _Resync:
    started_s: float  # last event time before the gap: the earliest moment anything we missed can have happened
    channels: dict[str, ami.CoreShowChannel] = field(default_factory=dict)
    channels_complete: bool = False
    members: dict[str, dict[str, tuple[bool, str | None, int | None]]] = field(default_factory=dict)
    members_complete: bool = False
    created_live: set[str] = field(default_factory=set)


def _uid_order(uid: str) -> tuple[int, int]:
    head, _, tail = uid.partition(".")
    try:
        return int(head), int(tail or 0)
    except ValueError:
        return 0, 0


class CallTracker:
    """Calls by Linkedid, channels by Uniqueid, agents by endpoint; see the module docstring."""

    def __init__(self, *, naming: Naming | None = None, wrapup_s: float = 0.0, ended_memory: int = 20_000) -> None:
        self.naming = naming if naming is not None else Naming()
        self._out: list[Any] = []
        self.agents = AgentBook(wrapup_s=wrapup_s, out=self._out)
        self._calls: dict[str, Call] = {}
        self._channels: dict[str, Channel] = {}
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._ended_memory = ended_memory
        self._now_s = 0.0
        self._resync: _Resync | None = None
        # CallStarted of desk phones rung by an Originate, held until Asterisk dials them (see _settle_pending).
        self._pending_starts: dict[str, CallStarted] = {}
        self._listeners: dict[str, Listener] = {}  # by the listener channel's Uniqueid
        self._listener_ids: collections.OrderedDict[str, None] = collections.OrderedDict()  # their Linkedids
        self.stats = TrackerStats()
        self._handlers: dict[type, Callable[[Any, float], None]] = {
            ami.Newchannel: self._on_newchannel,
            ami.Newstate: self._on_channel_event,
            ami.BridgeEnter: self._on_channel_event,
            ami.BridgeLeave: self._on_channel_event,
            ami.MixMonitorStart: self._on_channel_event,
            ami.Newexten: self._on_newexten,
            ami.VarSet: self._on_varset,
            ami.NewCallerid: self._on_newcallerid,
            ami.Hangup: self._on_hangup,
            ami.HangupRequest: self._on_hangup_request,
            ami.DialBegin: self._on_dial_begin,
            ami.DialState: self._on_dial_state,
            ami.DialEnd: self._on_dial_end,
            ami.QueueCallerJoin: self._on_queue_join,
            ami.QueueCallerAbandon: self._on_queue_abandon,
            ami.AgentCalled: self._on_agent_called,
            ami.AgentConnect: self._on_agent_connect,
            ami.AgentRingNoAnswer: self._on_agent_ring_no_answer,
            ami.AgentDump: self._on_agent_dump,
            ami.AgentComplete: self._on_agent_complete,
            ami.OriginateResponse: self._on_originate_response,
            ami.DeviceStateChange: self._on_device_state,
            ami.ContactStatus: self._on_contact_status,
            ami.PeerStatus: self._on_peer_status,
            ami.ContactList: self._on_contact_list,
            ami.QueueMemberAdded: self._on_queue_member,
            ami.QueueMemberStatus: self._on_queue_member,
            ami.QueueMemberPause: self._on_queue_member,
            ami.QueueMemberRemoved: self._on_queue_member_removed,
            ami.QueueMember: self._on_queue_member_item,
            ami.QueueStatusComplete: self._on_queue_status_complete,
            ami.CoreShowChannel: self._on_core_show_channel,
            ami.CoreShowChannelsComplete: self._on_core_show_channels_complete,
            ami.AttendedTransfer: self._on_attended_transfer,
            ami.ChanSpyStart: self._on_chanspy_start,
            ami.ChanSpyStop: self._on_chanspy_stop,
            ami.Shutdown: self._on_shutdown,
            ami.FullyBooted: self._on_fully_booted,
            ami.AgentControlEvent: self._on_agent_control,
        }

    # == public API ===================================================================================================

    def feed(self, event: ami.AmiEvent) -> Sequence[Any]:
        """Apply one typed AMI event; return the domain events it caused, in order."""
        t = event.timestamp_s
        if t is None:
            t = self._now_s
        elif t > self._now_s:
            self._now_s = t
        self.stats.events += 1
        # Wrap-ups due by now end first, at their deadline: an event that comes later (the next call ringing) must
        # not stretch the wrap-up to its own time.
        if self.agents._deadlines:
            self.agents.tick(t)
        if self._pending_starts:
            self._settle_pending(event)
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, t)
        return self._flush()

    def tick(self, now_s: float) -> Sequence[Any]:
        """Advance time without an event (wrap-up expiry). ``now_s`` is Asterisk-epoch seconds."""
        if now_s > self._now_s:
            self._now_s = now_s
        self.agents.tick(now_s)
        return self._flush()

    def end_wrapup(self, agent: str, now_s: float, *, call_id: str | None = None) -> tuple[bool, Sequence[Any]]:
        """(was in wrap-up, events): the agent ends wrap-up before its timer; with ``call_id`` only the wrap-up of
        that call."""
        ended = self.agents.end_wrapup(agent, max(now_s, self._now_s), call_id=call_id)
        return ended, self._flush()

    def set_own_pause(self, agent: str, reason: str | None, now_s: float) -> Sequence[Any]:
        """Pause (``reason``; '' without one) or unpause (None) an agent in no queue for the service's own routing."""
        self.agents.set_own_pause(agent, reason, max(now_s, self._now_s))
        return self._flush()

    def _on_agent_control(self, event: ami.AgentControlEvent, _t: float) -> None:
        # At the sender's instant, not this event's: every instance then books the same spell.
        if event.control is AgentControl.WRAPUP_END:
            self.agents.end_wrapup(event.agent, event.at_s, call_id=event.call_id)
        elif event.control is AgentControl.OWN_PAUSE:
            self.agents.set_own_pause(event.agent, event.reason or "", event.at_s)
        else:
            self.agents.set_own_pause(event.agent, None, event.at_s)

    def begin_resync(self) -> None:
        """Start collecting a snapshot (after a reconnect, before the list responses are fed)."""
        self._resync = _Resync(started_s=self._now_s)

    def end_resync(
        self, *, at_s: float, channels_complete: bool | None = None, members_complete: bool | None = None
    ) -> Sequence[Any]:
        """Apply the collected snapshot taken at ``at_s`` (epoch seconds, Asterisk's clock) and return the domain
        events.

        A list is only trusted as *the whole truth* when it is complete: by default when its ``...Complete`` event
        was fed; pass ``channels_complete=True`` / ``members_complete=True`` when the caller got the whole list some
        other way (panoramisk collects list responses). An incomplete channel list never closes calls; it can still
        add the channels it names.
        """
        rs = self._resync
        self._resync = None
        if rs is None:
            return _EMPTY
        if at_s > self._now_s:
            self._now_s = at_s
        self.agents.tick(at_s)  # wrap-ups that ran out during the gap end at their deadline, before the snapshot
        if channels_complete is not None:
            rs.channels_complete = channels_complete
        if members_complete is not None:
            rs.members_complete = members_complete
        self._apply_channel_snapshot(rs, at_s)
        for linkedid in list(self._pending_starts):
            self._release(linkedid)  # whatever was held across the gap is a call by now
        if rs.members_complete:
            self.agents.replace_memberships(rs.members, at_s)
        return self._flush()

    @property
    def resyncing(self) -> bool:
        return self._resync is not None

    @property
    def now_s(self) -> float:
        return self._now_s

    def open_calls(self) -> list[Call]:
        """Calls in progress (read-only use: wallboard, routing load)."""
        return list(self._calls.values())

    def listeners(self) -> list[Listener]:
        """Supervisors' ChanSpy channels in progress (read-only use)."""
        return list(self._listeners.values())

    def talking_leg(self, call_id: str) -> tuple[str, str] | None:
        """(agent, channel name) of the agent talking on ``call_id`` now - the leg a supervisor listens to; None when
        the call is unknown, not answered, or its agent's leg is gone."""
        call = self._calls.get(call_id)
        if call is None or call.connected_s is None or not call.agents_talked:
            return None
        agent = call.agents_talked[-1]
        legs = [
            c for c in call.channels.values()
            if c.alive and c.kind is _AGENT and c.endpoint == agent and (c.answered_s is not None or not c.agent_leg)
        ]
        if not legs:
            return None
        leg = max(legs, key=lambda c: c.answered_s or c.created_s)  # after a transfer back, the newest leg
        return agent, leg.name

    def agent_states(self) -> dict[str, tuple[str, str | None]]:
        return {a: (str(r.state), r.reason) for a, r in self.agents.agents.items() if r.state is not None}

    # == plumbing =====================================================================================================

    def _flush(self) -> Sequence[Any]:
        out = self._out
        if not out:
            return _EMPTY
        events = out.copy()
        out.clear()
        return events

    def _emit(self, event: Any) -> None:
        self._out.append(event)

    def _chan(self, ev: ami.ChannelEvent, t: float) -> Channel | None:
        """The channel of a channel-scoped event (created if we missed its Newchannel), with its state synced."""
        ch = self._channels.get(ev.uniqueid)
        if ch is None:
            if ev.linkedid in self._ended:
                self.stats.late_events += 1
                return None
            if ev.linkedid in self._listener_ids:
                if isinstance(ev, ami.Hangup):
                    self._listeners.pop(ev.uniqueid, None)
                return None
            return self._add_channel(
                uid=ev.uniqueid,
                linkedid=ev.linkedid,
                name=ev.channel,
                state=ev.channel_state,
                cid_num=ev.caller_id_num,
                cid_name=ev.caller_id_name,
                context=ev.context,
                exten=ev.exten,
                t=t,
                first_seen_live=False,
            )
        if ch.alive and ev.channel_state != ch.state:
            self._set_state(self._calls[ch.linkedid], ch, ev.channel_state, t)
        return ch

    def _dest(self, name: str, uid: str, linkedid: str, state: int, t: float) -> Channel | None:
        """Same as ``_chan`` for the Dest* block of Dial*/Agent* events."""
        ch = self._channels.get(uid)
        if ch is None:
            if linkedid in self._ended:
                self.stats.late_events += 1
                return None
            if linkedid in self._listener_ids:
                return None
            return self._add_channel(
                uid=uid,
                linkedid=linkedid,
                name=name,
                state=state,
                cid_num=None,
                cid_name=None,
                context=None,
                exten=None,
                t=t,
                first_seen_live=False,
            )
        if ch.alive and state != ch.state:
            self._set_state(self._calls[ch.linkedid], ch, state, t)
        return ch

    # == channels and calls ===========================================================================================

    def _add_channel(
        self,
        *,
        uid: str,
        linkedid: str,
        name: str,
        state: int,
        cid_num: str | None,
        cid_name: str | None,
        context: str | None,
        exten: str | None,
        t: float,
        first_seen_live: bool,
        recovered: bool = False,
        created_s: float | None = None,
    ) -> Channel:
        kind, endpoint = self.naming.classify(name)
        created = t if created_s is None else created_s
        call = self._calls.get(linkedid)
        if call is None:
            call = self._open_call(
                linkedid=linkedid,
                uid=uid,
                kind=kind,
                state=state,
                cid_num=cid_num,
                cid_name=cid_name,
                context=context,
                exten=exten,
                t=created,
                observed_first=first_seen_live,
                recovered=recovered,
            )
        ch = Channel(
            uniqueid=uid,
            linkedid=linkedid,
            name=name,
            kind=kind,
            endpoint=endpoint,
            created_s=created,
            caller_num=cid_num,
            context=context,
            exten=exten,
            recovered=recovered,
        )
        # A desk phone that starts a call is the caller, not an agent being offered the call.
        ch.agent_leg = kind is _AGENT and not (uid == call.first_uniqueid and not call.originated)
        call.channels[uid] = ch
        call.live += 1
        self._channels[uid] = ch
        if self._resync is not None and not recovered:
            self._resync.created_live.add(uid)
        if kind is _TRUNK and not call.has_trunk:
            call.has_trunk = True
            if call.direction is CallDirection.INTERNAL:
                call.direction = CallDirection.OUTBOUND
        if kind is _AGENT and not ch.agent_leg:
            self.agents.leg(endpoint, uid, call.call_id, TALKING_LEG, created)
        elif ch.agent_leg and call.connected_s is not None:
            asking = self._asking_agent(call)
            if asking is not None:
                # The agent on the call is still there: their colleague is being consulted (attended transfer).
                ch.consult = Consult(agent=endpoint, by_agent=asking, leg=uid)
                call.consults.append(ch.consult)
        if state != STATE_DOWN:
            self._set_state(call, ch, state, created if recovered else t)
        return ch

    def _open_call(
        self,
        *,
        linkedid: str,
        uid: str,
        kind: ChannelKind,
        state: int,
        cid_num: str | None,
        cid_name: str | None,
        context: str | None,
        exten: str | None,
        t: float,
        observed_first: bool,
        recovered: bool,
    ) -> Call:
        is_first = uid == linkedid
        naming = self.naming
        originated = False
        if is_first and observed_first:
            # Seen from its Newchannel: Down means created by Originate, Ring means it called in.
            originated = state == STATE_DOWN or kind is _LOCAL
            if kind is _TRUNK:
                direction = CallDirection.OUTBOUND if originated else CallDirection.INBOUND
            elif kind is _LOCAL or originated:
                direction = CallDirection.OUTBOUND
            else:
                direction = CallDirection.INTERNAL
        elif is_first:
            # Learnt mid-call (resync snapshot or a missed Newchannel): only the current context is left to go by.
            if kind is _TRUNK:
                inbound = context in naming.inbound_contexts and exten not in (None, "s")
                direction = CallDirection.INBOUND if inbound else CallDirection.OUTBOUND
                originated = not inbound
            elif kind is _LOCAL:
                direction, originated = CallDirection.OUTBOUND, True
            else:
                direction = CallDirection.INTERNAL
        else:
            # The first channel is already gone. With a trunk leg left, the first one was most likely the Local
            # half of an Originate (inbound calls end with their first channel).
            direction = CallDirection.OUTBOUND if (kind is _TRUNK and recovered) else (
                CallDirection.INBOUND if kind is _TRUNK else CallDirection.INTERNAL
            )
        call = Call(
            call_id=linkedid,
            started_s=t,
            direction=direction,
            first_uniqueid=linkedid,
            originated=originated,
            recovered=recovered,
            last_s=t,
        )
        if is_first:
            call.caller = cid_num
            call.caller_name = cid_name
            if direction is CallDirection.INBOUND:
                contexts = naming.trunk_contexts if observed_first else naming.inbound_contexts
                if context in contexts and exten not in (None, "", "s"):
                    call.did = exten
                call.customer = cid_num
        self._calls[linkedid] = call
        self.stats.calls_started += 1
        if recovered:
            self.stats.recovered_calls += 1
        started = CallStarted(
            call_id=linkedid,
            at_s=t,
            direction=direction,
            caller=call.caller,
            caller_name=call.caller_name,
            did=call.did,
            customer=call.customer,
            recovered=recovered,
        )
        if originated and kind is _AGENT:
            # A desk phone rung by an Originate may be a supervisor's listener rather than a call: the Originate's
            # CC_SPY variable arrives right after this Newchannel, before Asterisk dials the phone.
            self._pending_starts[linkedid] = started
        else:
            self._emit(started)
        return call

    def _set_state(self, call: Call, ch: Channel, state: int, t: float) -> None:
        ch.state = state
        if state == STATE_UP:
            if ch.up_s is None:
                ch.up_s = t
                self._on_up(call, ch, t)
        elif state == STATE_RINGING:
            self._on_ringing(call, ch, t)

    def _attempt(self, call: Call, ch: Channel, t: float) -> Attempt:
        """The offer of the call this agent leg stands for (a consultation leg has a detached one: not an offer)."""
        if ch.consult is not None:
            if ch.attempt is None:
                ch.attempt = Attempt(agent=ch.endpoint, queue=ch.queue, at_s=t, leg=ch.uniqueid)
            return ch.attempt
        att = ch.attempt
        if att is None:
            att = ch.attempt = Attempt(agent=ch.endpoint, queue=ch.queue, at_s=t, leg=ch.uniqueid)
            call.attempts.append(att)
        return att

    def _on_ringing(self, call: Call, ch: Channel, t: float) -> None:
        if not ch.agent_leg or ch.ringing_s is not None or ch.answered_s is not None or not ch.alive:
            return
        ch.ringing_s = t
        att = self._attempt(call, ch, t)
        att.rang = True
        if ch.consult is not None:
            self.agents.leg(ch.endpoint, ch.uniqueid, call.call_id, RINGING_LEG, t)
            return
        if ch.endpoint not in call.agents_rung:
            call.agents_rung.append(ch.endpoint)
        self.agents.leg(ch.endpoint, ch.uniqueid, call.call_id, RINGING_LEG, t)
        self._emit(CallRinging(call_id=call.call_id, at_s=t, agent=ch.endpoint, queue=ch.queue or call.queue))

    def _on_up(self, call: Call, ch: Channel, t: float) -> None:
        if ch.agent_leg:
            self._agent_answered(call, ch, t)
        elif ch.kind is _TRUNK or ch.uniqueid == call.first_uniqueid:
            self._try_connect(call, t)

    def _agent_answered(self, call: Call, ch: Channel, t: float) -> None:
        if ch.answered_s is not None or not ch.alive:
            return
        ch.answered_s = t
        att = self._attempt(call, ch, t)
        if att.result != "ANSWER":
            att.result, att.ended_s = "ANSWER", t  # answering wins over an earlier guess
        if ch.consult is not None:
            ch.consult.at_s = t
            self.agents.leg(ch.endpoint, ch.uniqueid, call.call_id, TALKING_LEG, t)
            return
        if ch.endpoint not in call.agents_rung:
            call.agents_rung.append(ch.endpoint)  # auto-answer: it never showed Ringing
        att.rang = True
        self.agents.leg(ch.endpoint, ch.uniqueid, call.call_id, TALKING_LEG, t)
        if call.connected_s is None:
            self._try_connect(call, t)
            return
        previous = call.agents_talked[-1] if call.agents_talked else None
        if ch.endpoint != previous:
            call.agents_talked.append(ch.endpoint)
            self._emit(CallTransferred(call_id=call.call_id, at_s=t, from_agent=previous, to_agent=ch.endpoint))

    def _try_connect(self, call: Call, t: float) -> None:
        """Answered = an answered agent leg and an up customer side at the same time."""
        if call.connected_s is not None:
            return
        first = call.channels.get(call.first_uniqueid) if call.first_uniqueid else None
        if not call.has_trunk and first is not None and first.kind is _LOCAL:
            # Originate Local/<agent> to another agent: both ends are agent legs; the second to answer is the callee.
            legs = sorted(
                (c for c in call.channels.values() if c.agent_leg and c.alive and c.answered_s is not None),
                key=lambda c: c.answered_s,  # type: ignore[arg-type, return-value]
            )
            if len(legs) >= 2:
                self._connect(call, t, legs[1].endpoint)
            return
        if call.has_trunk:
            customer_up = any(c.kind is _TRUNK and c.alive and c.up_s is not None for c in call.channels.values())
        else:
            customer_up = (
                first is not None and first.alive and first.up_s is not None and first.kind is not _LOCAL
            )
        if not customer_up:
            return
        agent = None
        best_s = 0.0
        for c in call.channels.values():
            answered = c.answered_s
            if answered is not None and c.agent_leg and c.alive and (call.has_trunk or c is not first):
                if agent is None or answered < best_s:
                    agent, best_s = c.endpoint, answered
        if (
            agent is None
            and call.has_trunk
            and first is not None
            and first.kind is _AGENT
            and not first.agent_leg
            and first.alive
        ):
            agent = first.endpoint  # a desk phone dialled out: its owner is the agent on the call
        if agent is None:
            return
        self._connect(call, t, agent)

    def _connect(self, call: Call, t: float, agent: str) -> None:
        call.connected_s = t
        call.answered_by = agent
        call.agents_talked.append(agent)
        self._emit(
            CallAnswered(call_id=call.call_id, at_s=t, agent=agent, queue=call.queue, wait_s=t - call.started_s)
        )

    def _channel_gone(self, call: Call, ch: Channel, t: float, *, observed: bool) -> None:
        ch.alive = False
        ch.hangup_s = t
        call.live -= 1
        if ch.kind is not _AGENT:
            return
        consult = ch.consult
        if consult is not None:
            consult.ended_s = t  # an aborted consultation: no wrap-up of the consulted agent on this call
        talked = (ch.answered_s is not None and consult is None) if ch.agent_leg else call.connected_s is not None
        self.agents.leg_ended(ch.endpoint, ch.uniqueid, t, talked=talked, wrapup=observed)
        if observed and call.consults and consult is None and call.agents_talked and ch.endpoint == call.agents_talked[-1]:
            self._asker_left(call, ch, t)

    def _asking_agent(self, call: Call) -> str | None:
        """The agent talking with the customer now if their leg is still up, else None."""
        if not call.agents_talked:
            return None
        agent = call.agents_talked[-1]
        for c in call.channels.values():
            if (c.alive and c.kind is _AGENT and c.endpoint == agent and c.consult is None
                    and (c.answered_s is not None or not c.agent_leg)):
                return agent
        return None

    def _asker_left(self, call: Call, left: Channel, t: float) -> None:
        """The transferring agent hung up during a consultation: Asterisk completes the transfer (bridge_basic: the
        transferer's hangup is "complete"), so an answered consultation becomes the transfer and one still ringing
        becomes an ordinary offer of the call. Only while the customer is still there."""
        if self._asking_agent(call) is not None:
            return  # another leg of the same agent is still on the call
        if not any(c.alive and customer_side(call, c) for c in call.channels.values()):
            return
        for c in list(call.channels.values()):
            consult = c.consult
            if consult is None or not c.alive or consult.by_agent != left.endpoint:
                continue
            if c.answered_s is not None:
                self._complete_transfer(call, c, t)
            else:
                self._unconsult(call, c)

    def _complete_transfer(self, call: Call, ch: Channel, t: float) -> None:
        consult = ch.consult
        assert consult is not None
        consult.transferred, consult.ended_s = True, t
        ch.consult = None
        att = ch.attempt
        if att is not None:
            call.attempts.append(att)  # from now on it is the call's offer to that agent
        if ch.endpoint not in call.agents_rung:
            call.agents_rung.append(ch.endpoint)
        previous = call.agents_talked[-1] if call.agents_talked else None
        if ch.endpoint != previous:
            call.agents_talked.append(ch.endpoint)
            self._emit(CallTransferred(call_id=call.call_id, at_s=t, from_agent=previous, to_agent=ch.endpoint))

    def _unconsult(self, call: Call, ch: Channel) -> None:
        """A leg taken for a consultation is an ordinary offer of the call after all (blind transfer)."""
        consult = ch.consult
        assert consult is not None
        ch.consult = None
        call.consults.remove(consult)
        att = ch.attempt
        if att is not None:
            call.attempts.append(att)
            if att.rang and ch.endpoint not in call.agents_rung:
                call.agents_rung.append(ch.endpoint)

    def _end_call(self, call: Call, t: float, *, observed: bool) -> None:
        self._release(call.call_id)
        del self._calls[call.call_id]
        channels = self._channels
        for uid, ch in call.channels.items():
            channels.pop(uid, None)
            if ch.alive:
                self._channel_gone(call, ch, t, observed=False)
        ended = self._ended
        ended[call.call_id] = None
        if len(ended) > self._ended_memory:
            ended.popitem(last=False)
        outcome, who, primary = classify(call, end_observed=observed)
        connected = call.connected_s
        wait_s = (connected if connected is not None else t) - call.started_s
        talk_s = t - connected if connected is not None else 0.0
        files: list[str] = []
        for rec in call.recordings:
            files.append(rec.path)
            files.extend(rec.leg_paths)
        self.stats.calls_ended += 1
        self._emit(
            CallEnded(
                call_id=call.call_id,
                started_s=call.started_s,
                ended_s=t,
                direction=call.direction,
                outcome=outcome,
                caller=call.caller,
                caller_name=call.caller_name,
                did=call.did,
                customer=call.customer,
                answered_by=call.answered_by,
                agents_rung=tuple(call.agents_rung),
                agents_talked=tuple(call.agents_talked),
                attempts=tuple(
                    DialAttempt(
                        agent=a.agent, queue=a.queue, result=a.result, at_s=a.at_s, ended_s=a.ended_s,
                        ring_s=round(max(a.ended_s - a.at_s, 0.0), 3) if a.ended_s is not None else None, rang=a.rang,
                    )
                    for a in call.attempts
                ),
                wait_s=max(wait_s, 0.0),
                talk_s=max(talk_s, 0.0),
                hangup_cause=primary.hangup_cause if primary is not None else None,
                hangup_cause_txt=primary.hangup_cause_txt if primary is not None else None,
                hung_up_by=who,
                recordings=tuple(files),
                queue=call.queue,
                originate_action_id=call.originate_action_id,
                campaign=call.variables.get("CC_CAMPAIGN"),
                end_estimated=not observed,
                consultations=tuple(
                    Consultation(agent=c.agent, by_agent=c.by_agent, at_s=c.at_s, ended_s=c.ended_s,
                                 transferred=c.transferred)
                    for c in call.consults
                    if c.at_s is not None
                ),
            )
        )
        for rec in call.recordings:
            self._emit(RecordingReady(call_id=call.call_id, at_s=t, path=rec.path, leg_paths=rec.leg_paths))

    def _close_all(self, t: float, *, started_before_s: float | None = None) -> None:
        for call in list(self._calls.values()):
            if started_before_s is not None and call.started_s >= started_before_s:
                continue
            call.shutdown = True
            self.stats.closed_by_restart += 1
            self._end_call(call, t, observed=started_before_s is None)

    # == channel events ===============================================================================================

    def _on_newchannel(self, ev: ami.Newchannel, t: float) -> None:
        if ev.uniqueid in self._channels:
            return
        if ev.linkedid in self._ended:
            self.stats.late_events += 1
            return
        if ev.linkedid in self._listener_ids:
            return
        self._add_channel(
            uid=ev.uniqueid,
            linkedid=ev.linkedid,
            name=ev.channel,
            state=ev.channel_state,
            cid_num=ev.caller_id_num,
            cid_name=ev.caller_id_name,
            context=ev.context,
            exten=ev.exten,
            t=t,
            first_seen_live=True,
        )

    def _on_channel_event(self, ev: ami.ChannelEvent, t: float) -> None:
        self._chan(ev, t)

    def _on_newcallerid(self, ev: ami.NewCallerid, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is None:
            return
        call = self._calls[ch.linkedid]
        # Originated channels start as <unknown>: the first caller ID set on them is the one we presented.
        if ch.uniqueid == call.first_uniqueid and call.caller is None and ev.caller_id_num is not None:
            call.caller = ev.caller_id_num
            call.caller_name = ev.caller_id_name

    def _on_newexten(self, ev: ami.Newexten, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is None or not ch.alive:
            return
        app, data = ev.application, ev.app_data
        previous = ch.last_app
        ch.last_app = (app, data, ev.context, ev.exten, ev.priority)
        if previous is not None and previous[0] == app and previous[1] == data and previous[2:] != ch.last_app[2:]:
            return  # stale Application/AppData repeated by the first Newexten after an AMI Redirect
        if app == "Dial":
            ch.pending_dial = dial_targets(data)
        elif app == "Queue":
            call = self._calls[ch.linkedid]
            if call.queue is None:
                call.queue = data.partition(",")[0] or None
        elif app == "MixMonitor":
            ch.pending_rec_legs = mixmonitor_files(data)[1]

    def _on_varset(self, ev: ami.VarSet, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is None:
            return
        call = self._calls[ch.linkedid]
        var, value = ev.variable, ev.value
        if var == OriginateVar.SPY and ch.uniqueid == call.first_uniqueid and call.call_id in self._pending_starts:
            self._become_listener(call, ch, value, recovered=False)
            return
        if var == "DIALSTATUS":
            if not value:
                return
            if value in _UNREACHABLE_STATUSES and ch.pending_dial:
                self._unreachable_targets(call, ch.pending_dial, value, t)
            ch.pending_dial = None
        elif var == "QUEUESTATUS":
            if value:
                call.queue_status = value
        elif var == "MIXMONITOR_FILENAME":
            if value and all(r.path != value for r in call.recordings):
                directory = value.rpartition("/")[0]
                legs = tuple(leg if leg.startswith("/") or not directory else f"{directory}/{leg}"
                             for leg in ch.pending_rec_legs)
                call.recordings.append(Recording(path=value, leg_paths=legs))
                ch.pending_rec_legs = ()
        elif var.startswith("CC_"):
            call.variables[var] = value

    def _unreachable_targets(self, call: Call, targets: list[str], status: str, t: float) -> None:
        """Dial() targets that never produced a channel: the only trace of them is DIALSTATUS."""
        for target in targets:
            tech, resource = split_channel_name(target)
            number, _, via = resource.partition("@")
            if via and via in self.naming.trunk_endpoints or resource in self.naming.trunk_endpoints:
                call.customer_results.append(status)
                if call.customer is None and call.direction is not CallDirection.INBOUND:
                    call.customer = number_from_dial_string(target)
                continue
            agent = self.naming.agent_of_interface(f"{tech}/{resource}") if tech else None
            if agent is not None:
                call.attempts.append(Attempt(agent=agent, queue=None, at_s=t, leg=None, result=status, ended_s=t))

    def _on_hangup_request(self, ev: ami.HangupRequest, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is not None and ch.alive:
            self._calls[ch.linkedid].hangup_requests.append(ch.uniqueid)

    def _on_hangup(self, ev: ami.Hangup, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is None or not ch.alive:
            return
        call = self._calls[ch.linkedid]
        ch.hangup_cause = ev.cause
        ch.hangup_cause_txt = ev.cause_txt
        if ch.agent_leg and ch.attempt is not None:
            ch.attempt.settle(_result_from_cause(ev.cause), t)
        self._channel_gone(call, ch, t, observed=True)
        call.last_s = t
        if call.live <= 0:
            self._end_call(call, t, observed=True)

    # == dial / queue events ==========================================================================================

    def _on_dial_begin(self, ev: ami.DialBegin, t: float) -> None:
        dest = self._dest(ev.dest_channel, ev.dest_uniqueid, ev.dest_linkedid, ev.dest_channel_state, t)
        if dest is None:
            return
        call = self._calls[dest.linkedid]
        dest.dial_string = ev.dial_string
        if ev.uniqueid is None:
            dest.originated = True
        else:
            dest.parent = ev.uniqueid
            parent = self._channels.get(ev.uniqueid)
            if parent is not None and parent.pending_dial:
                parent.pending_dial = [
                    target
                    for target in parent.pending_dial
                    if split_channel_name(target)[1] not in (dest.endpoint, ev.dial_string)
                ]
        if dest.kind is _TRUNK:
            if call.customer is None and call.direction is not CallDirection.INBOUND:
                call.customer = number_from_dial_string(ev.dial_string)
        elif dest.agent_leg:
            parent = self._channels.get(ev.uniqueid) if ev.uniqueid is not None else None
            if dest.consult is not None and dest.answered_s is None and parent is not None and customer_side(call, parent):
                self._unconsult(call, dest)  # the customer's channel dials it: a blind transfer, not a consultation
            self._attempt(call, dest, t)

    def _on_dial_state(self, ev: ami.DialState, t: float) -> None:
        dest = self._dest(ev.dest_channel, ev.dest_uniqueid, ev.dest_linkedid, ev.dest_channel_state, t)
        if dest is not None and ev.dial_status == "RINGING":
            self._on_ringing(self._calls[dest.linkedid], dest, t)

    def _on_dial_end(self, ev: ami.DialEnd, t: float) -> None:
        dest = self._dest(ev.dest_channel, ev.dest_uniqueid, ev.dest_linkedid, ev.dest_channel_state, t)
        if dest is None:
            return
        call = self._calls[dest.linkedid]
        status = ev.dial_status
        if dest.kind is _TRUNK:
            call.customer_results.append(status)
            if status == "ANSWER" and dest.up_s is None and dest.alive:
                dest.up_s = t
                self._on_up(call, dest, t)
        elif dest.agent_leg:
            if status == "ANSWER":
                self._agent_answered(call, dest, t)
            else:
                self._attempt(call, dest, t).settle(status, t)
                if dest.alive and dest.answered_s is None:
                    self.agents.leg(dest.endpoint, dest.uniqueid, call.call_id, OFFERED_LEG, t)

    def _on_queue_join(self, ev: ami.QueueCallerJoin, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is not None:
            call = self._calls[ch.linkedid]
            if call.queue is None:
                call.queue = ev.queue

    def _on_queue_abandon(self, ev: ami.QueueCallerAbandon, t: float) -> None:
        ch = self._chan(ev, t)
        if ch is not None:
            self._calls[ch.linkedid].queue_abandoned = True

    def _agent_dest(self, ev: ami.AgentEvent, t: float) -> Channel | None:
        self._chan(ev, t)
        dest = self._dest(ev.dest_channel, ev.dest_uniqueid, ev.dest_linkedid, ev.dest_channel_state, t)
        if dest is not None:
            call = self._calls[dest.linkedid]
            if dest.queue is None:
                dest.queue = ev.queue
                if dest.attempt is not None and dest.attempt.queue is None:
                    dest.attempt.queue = ev.queue
            if call.queue is None:
                call.queue = ev.queue
        return dest

    def _on_agent_called(self, ev: ami.AgentCalled, t: float) -> None:
        dest = self._agent_dest(ev, t)
        if dest is not None and dest.agent_leg:
            self._attempt(self._calls[dest.linkedid], dest, t)

    def _on_agent_connect(self, ev: ami.AgentConnect, t: float) -> None:
        dest = self._agent_dest(ev, t)
        if dest is not None and dest.agent_leg:
            self._agent_answered(self._calls[dest.linkedid], dest, t)

    def _on_agent_ring_no_answer(self, ev: ami.AgentRingNoAnswer, t: float) -> None:
        self._agent_leg_result(self._agent_dest(ev, t), "NOANSWER", t)

    def _on_agent_dump(self, ev: ami.AgentDump, t: float) -> None:
        self._agent_leg_result(self._agent_dest(ev, t), "DUMP", t)

    def _agent_leg_result(self, dest: Channel | None, result: str, t: float) -> None:
        if dest is not None and dest.agent_leg:
            self._attempt(self._calls[dest.linkedid], dest, t).settle(result, t)

    def _on_agent_complete(self, ev: ami.AgentComplete, t: float) -> None:
        dest = self._agent_dest(ev, t)
        if dest is not None:
            self._calls[dest.linkedid].agent_complete_reason = ev.reason

    def _on_originate_response(self, ev: ami.OriginateResponse, t: float) -> None:
        call = None
        if ev.uniqueid is not None:
            ch = self._channels.get(ev.uniqueid)
            call = self._calls.get(ch.linkedid) if ch is not None else None
        else:
            # A failed Originate names the dial string, not the channel: match it to an originated leg.
            wanted = number_from_dial_string(ev.channel)
            for candidate in self._calls.values():
                if candidate.originated and candidate.originate_action_id is None and any(
                    c.originated and c.dial_string and number_from_dial_string(c.dial_string) == wanted
                    for c in candidate.channels.values()
                ):
                    call = candidate
                    break
        if call is not None:
            call.originate_action_id = ev.action_id
            call.originate_reason = ev.reason

    def _on_attended_transfer(self, ev: ami.AttendedTransfer, t: float) -> None:
        """Only a completed attended transfer moves the customer to the consulted agent (a failed one, or the
        consulted agent hanging up, leaves them with the first). Threeway keeps the transferer on the call."""
        if ev.result != "Success" or ev.dest_type == "Threeway":
            return
        call = self._calls.get(ev.orig_transferer_linkedid)
        if call is None:
            ch = self._channels.get(ev.orig_transferer_uniqueid)
            call = self._calls.get(ch.linkedid) if ch is not None else None
        if call is None:
            return
        target = self.naming.classify(ev.transfer_target_channel)[1] if ev.transfer_target_channel else None
        legs = [c for c in call.channels.values() if c.consult is not None and c.alive and c.answered_s is not None]
        legs.sort(key=lambda c: (c.endpoint == target, c.answered_s))  # the named target first, else the newest
        if legs:
            self._complete_transfer(call, legs[-1], t)
            return
        transferer = self._channels.get(ev.orig_transferer_uniqueid)
        ringing = [c for c in call.channels.values() if c.consult is not None and c.alive
                   and transferer is not None and c.consult.by_agent == transferer.endpoint]
        if ringing:
            # A blond transfer: the transferer hung up while the colleague still rings. bridge_basic holds the
            # transferer's channel until the colleague answers (its Hangup, and the device's NOT_INUSE, come only
            # then), so the transferer's own hangup cannot tell us in time: the ringing leg is an ordinary offer of the
            # call from now on, and its answer is the transfer (no consultation took place).
            for c in ringing:
                self._unconsult(call, c)
            return
        self._transfer_across_calls(ev, t)

    def _transfer_across_calls(self, ev: ami.AttendedTransfer, t: float) -> None:
        """A desk phone's own attended transfer (SIP REFER with Replaces): the consultation was a call of its own
        (another Linkedid). The consulted agent's channel now belongs to the customer's call: it moves there."""
        one = self._channels.get(ev.transferee_uniqueid or "")
        two = self._channels.get(ev.transfer_target_uniqueid or "")
        if one is None or two is None or one.linkedid == two.linkedid:
            return
        for agent_leg, customer in ((two, one), (one, two)):
            call = self._calls.get(customer.linkedid)
            if (agent_leg.kind is _AGENT and agent_leg.alive and customer.alive and call is not None
                    and customer_side(call, customer)):
                self._adopt(call, agent_leg, t)
                # The transferring agent's line of the consultation call goes with it; Asterisk hangs it up after the
                # customer's (seen on Asterisk 20), and the leg that ends last names the call the wrap-up is for: it
                # is the customer's call.
                for uid in (ev.orig_transferer_uniqueid, ev.second_transferer_uniqueid):
                    line = self._channels.get(uid or "")
                    if line is not None and line.alive and line.kind is _AGENT and line.linkedid != call.call_id:
                        self.agents.leg(line.endpoint, line.uniqueid, call.call_id, TALKING_LEG, t)
                return

    def _adopt(self, call: Call, ch: Channel, t: float) -> None:
        old = self._calls[ch.linkedid]
        del old.channels[ch.uniqueid]
        old.live -= 1
        ch.linkedid = call.call_id
        call.channels[ch.uniqueid] = ch
        call.live += 1
        ch.agent_leg, ch.consult, ch.attempt = True, None, None
        if ch.answered_s is None:
            ch.answered_s = t
        previous = call.agents_talked[-1] if call.agents_talked else None
        consult = Consult(agent=ch.endpoint, by_agent=previous, leg=ch.uniqueid, at_s=ch.answered_s, ended_s=t,
                          transferred=True)
        call.consults.append(consult)
        self.agents.leg(ch.endpoint, ch.uniqueid, call.call_id, TALKING_LEG, t)
        if ch.endpoint != previous:
            call.agents_talked.append(ch.endpoint)
            self._emit(CallTransferred(call_id=call.call_id, at_s=t, from_agent=previous, to_agent=ch.endpoint))
        if old.live <= 0:
            self._end_call(old, t, observed=True)

    # == supervisors listening (ChanSpy) ==============================================================================

    def _settle_pending(self, event: ami.AmiEvent) -> None:
        """Announce a held originated call at the first event that is not part of Asterisk's set-up of the channel
        (its DialBegin, normally): by then the Originate's variables have been seen."""
        linkedid = getattr(event, "linkedid", None)
        if linkedid not in self._pending_starts:
            linkedid = getattr(event, "dest_linkedid", None)
            if linkedid not in self._pending_starts:
                return
        if not isinstance(event, _BEFORE_DIAL):
            self._release(linkedid)

    def _release(self, linkedid: str) -> None:
        started = self._pending_starts.pop(linkedid, None)
        if started is not None:
            self._emit(started)

    def _become_listener(self, call: Call, ch: Channel, mode: str | None, *, recovered: bool) -> None:
        """``call`` was never announced and is a supervisor's ChanSpy channel: forget it as a call, keep it as a
        listener, and ignore whatever Asterisk says about its Linkedid from now on (its Hangup ends the listener)."""
        self._pending_starts.pop(call.call_id, None)
        del self._calls[call.call_id]
        for uid in call.channels:
            self._channels.pop(uid, None)
        self.stats.calls_started -= 1
        self._add_listener(
            Listener(uniqueid=ch.uniqueid, linkedid=ch.linkedid, channel=ch.name, supervisor=ch.endpoint,
                     mode=mode or None, started_s=ch.created_s, recovered=recovered)
        )

    def _add_listener(self, listener: Listener) -> None:
        self._listeners[listener.uniqueid] = listener
        self.stats.listeners += 1
        ids = self._listener_ids
        ids[listener.linkedid] = None
        if len(ids) > self._ended_memory:
            ids.popitem(last=False)

    def _on_chanspy_start(self, ev: ami.ChanSpyStart, t: float) -> None:
        listener = self._listeners.get(ev.spyer_uniqueid)
        if listener is not None:
            listener.call_id, listener.spied_channel = ev.spyee_linkedid, ev.spyee_channel

    def _on_chanspy_stop(self, ev: ami.ChanSpyStop, t: float) -> None:
        listener = self._listeners.get(ev.spyer_uniqueid)
        if listener is not None:
            listener.call_id = listener.spied_channel = None

    # == agents =======================================================================================================

    def _on_device_state(self, ev: ami.DeviceStateChange, t: float) -> None:
        agent = self.naming.agent_of_interface(ev.device)
        if agent is not None and not ev.device.startswith("Local/"):
            self.agents.device(agent, ev.state, t)

    def _on_contact_status(self, ev: ami.ContactStatus, t: float) -> None:
        if ev.endpoint_name and ev.endpoint_name not in self.naming.trunk_endpoints:
            self.agents.registration(ev.endpoint_name, ev.contact_status, t)

    def _on_contact_list(self, ev: ami.ContactList, t: float) -> None:
        if ev.endpoint and ev.status and ev.endpoint not in self.naming.trunk_endpoints:
            self.agents.registration(ev.endpoint, ev.status, t)

    def _on_peer_status(self, ev: ami.PeerStatus, t: float) -> None:
        agent = self.naming.agent_of_interface(ev.peer)
        if agent is not None:
            self.agents.registration(agent, ev.peer_status, t)

    def _member_agent(self, state_interface: str | None, interface: str) -> str | None:
        naming = self.naming
        return naming.agent_of_interface(state_interface) or naming.agent_of_interface(interface)

    def _on_queue_member(self, ev: ami.QueueMemberEvent, t: float) -> None:
        agent = self._member_agent(ev.state_interface, ev.interface)
        if agent is not None:
            self.agents.member(agent, ev.queue, paused=ev.paused, reason=ev.paused_reason, status=ev.status, at_s=t)

    def _on_queue_member_removed(self, ev: ami.QueueMemberRemoved, t: float) -> None:
        agent = self._member_agent(ev.state_interface, ev.interface)
        if agent is not None:
            self.agents.member_removed(agent, ev.queue, t)

    def _on_queue_member_item(self, ev: ami.QueueMember, t: float) -> None:
        agent = self._member_agent(ev.state_interface, ev.location)
        if agent is None:
            return
        if self._resync is not None:
            self._resync.members.setdefault(agent, {})[ev.queue] = (ev.paused, ev.paused_reason, ev.status)
        else:
            self.agents.member(agent, ev.queue, paused=ev.paused, reason=ev.paused_reason, status=ev.status, at_s=t)

    def _on_queue_status_complete(self, ev: ami.QueueStatusComplete, t: float) -> None:
        if self._resync is not None:
            self._resync.members_complete = True

    # == resync / restart =============================================================================================

    def _on_core_show_channel(self, ev: ami.CoreShowChannel, t: float) -> None:
        if self._resync is not None:
            self._resync.channels[ev.uniqueid] = ev

    def _on_core_show_channels_complete(self, ev: ami.CoreShowChannelsComplete, t: float) -> None:
        if self._resync is not None:
            self._resync.channels_complete = True

    def _apply_channel_snapshot(self, rs: _Resync, at_s: float) -> None:
        snapshot = rs.channels
        # Oldest first, so that a call is opened from its first channel when that one is still alive.
        for item in sorted(snapshot.values(), key=lambda c: (-c.duration_s, _uid_order(c.uniqueid))):
            ch = self._channels.get(item.uniqueid)
            if ch is None:
                if item.linkedid in self._ended or item.uniqueid in self._listeners:
                    continue
                if item.application in _SPY_APPLICATIONS and item.linkedid not in self._calls:
                    # A supervisor's listener that began while we were away: a phone in use, not a call.
                    _, endpoint = self.naming.classify(item.channel)
                    self._add_listener(
                        Listener(uniqueid=item.uniqueid, linkedid=item.linkedid, channel=item.channel,
                                 supervisor=endpoint, mode=None, started_s=min(at_s - item.duration_s, at_s),
                                 recovered=True)
                    )
                    continue
                ch = self._add_channel(
                    uid=item.uniqueid,
                    linkedid=item.linkedid,
                    name=item.channel,
                    state=item.channel_state,
                    cid_num=item.caller_id_num,
                    cid_name=item.caller_id_name,
                    context=item.context,
                    exten=item.exten,
                    t=at_s,
                    first_seen_live=False,
                    recovered=True,
                    created_s=min(at_s - item.duration_s, at_s),
                )
            elif ch.alive:
                call = self._calls[ch.linkedid]
                if ch.uniqueid == call.first_uniqueid and call.caller is None and item.caller_id_num is not None:
                    call.caller, call.caller_name = item.caller_id_num, item.caller_id_name  # set while we were away
                if item.channel_state != ch.state:
                    # It changed while we were away; the change happened after the last event we saw.
                    self._set_state(call, ch, item.channel_state, max(rs.started_s, ch.created_s))
        if rs.channels_complete:
            for call in self._calls.values():
                if call.connected_s is None:
                    self._infer_answer(call, snapshot)
        if not rs.channels_complete:
            return
        for uid in [uid for uid in self._listeners if uid not in snapshot]:
            del self._listeners[uid]  # hung up while we were away
        for call in list(self._calls.values()):
            for ch in list(call.channels.values()):
                if ch.alive and ch.uniqueid not in snapshot and ch.uniqueid not in rs.created_live:
                    self._channel_gone(call, ch, at_s, observed=False)
            if call.live <= 0:
                self.stats.closed_by_resync += 1
                self._end_call(call, at_s, observed=False)

    def _infer_answer(self, call: Call, snapshot: dict[str, ami.CoreShowChannel]) -> None:
        """Resync: decide 'answered' from an answered agent leg when the customer side can no longer tell us.

        A dialled agent leg is only answered while the other party is there: Dial() answers an inbound caller at
        that moment, a queue caller is answered before joining, and an Originate's Local pair is only optimised
        away once both ends are up. So when the caller's channel (inbound) or the call's first channel vanished
        while we were away, an answered agent leg proves the call was answered. A customer channel that is still
        there and not up yet says so itself: its Newstate Up follows in the live stream.
        """
        answered = [c for c in call.channels.values() if c.agent_leg and c.answered_s is not None]
        if not answered:
            return
        if any(c.kind is _TRUNK and c.alive and c.uniqueid in snapshot for c in call.channels.values()):
            return
        first_gone = call.first_uniqueid not in snapshot
        if call.direction is not CallDirection.INBOUND and not first_gone:
            return
        first = min(answered, key=lambda c: c.answered_s)  # type: ignore[arg-type, return-value]
        self._connect(call, first.answered_s, first.endpoint)  # type: ignore[arg-type]

    def _on_shutdown(self, ev: ami.Shutdown, t: float) -> None:
        self._close_all(t)

    def _on_fully_booted(self, ev: ami.FullyBooted, t: float) -> None:
        # FullyBooted is also sent at every login. Only an Uptime shorter than the age of a call proves that
        # Asterisk restarted under it (1 s margin: Uptime is whole seconds).
        if ev.uptime_s is None or not self._calls:
            return
        boot_s = self._now_s - ev.uptime_s - 1.0
        self._close_all(self._now_s, started_before_s=boot_s)


def _result_from_cause(cause: int) -> str:
    """Attempt result for a leg that hung up without a DialEnd (e.g. an originated agent leg)."""
    if cause == 17:
        return "BUSY"
    if cause in (18, 19, 0):
        return "NOANSWER"
    if cause == 16:
        return "CANCEL"
    return "CHANUNAVAIL"
