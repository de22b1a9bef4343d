"""app_queue's Queue(): join, ring members by strategy, connect, and the three ways out (answered, abandoned,
timeout), with the variable blocks and Agent*/QueueCaller* events in the order of the captures
(queue_answered, queue_abandoned, queue_ringnoanswer_then_answer, queue_timeout).

The caller is already Up (Answer() before Queue()), so its channel state says nothing about agents; AgentConnect does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.pbxsim.flow import Flow, wait_signal
from callcenter.pbxsim.channels import Bridge, Channel
from callcenter.pbxsim.dial import _relocate, bridge_wait, create_leg, set_bridge_vars
from callcenter.pbxsim.dialplan import split_args
from callcenter.pbxsim.queues import Member, Queue, QueueEntry

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["app_queue"]


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def _set_queue_vars(pbx: Pbx, queue: Queue, *channels: Channel) -> None:
    for ch in channels:
        for name, value in queue.stats_vars():
            pbx.set_var(ch, name, value)


def _endpoint(interface: str) -> str:
    return interface.partition("/")[2]


class _Caller:
    """One caller's stay in one queue."""

    def __init__(self, pbx: Pbx, ch: Channel, queue: Queue, *, timeout_s: float | None, options: str = "") -> None:
        self.pbx = pbx
        self.options = options  # Queue() option t: the member may transfer the caller (features.conf codes)
        self.ch = ch
        self.queue = queue
        self.joined_s = pbx.clock.now_s()
        self.deadline_s = None if timeout_s is None else self.joined_s + timeout_s
        self.tried: list[str] = []
        self.entry = QueueEntry(channel=ch, joined_s=self.joined_s, original_position=len(queue.entries) + 1)

    # -- in and out ---------------------------------------------------------------------------------------------

    def join(self) -> None:
        pbx, ch, queue = self.pbx, self.ch, self.queue
        for name in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT", "QUEUEWAIT_MS"):
            pbx.set_var(ch, name, "")
        queue.entries.append(self.entry)
        pbx._set_pseudo_device(f"Queue:{queue.name}", "RINGING")
        pbx.emit.queue_caller("QueueCallerJoin", ch, [("Queue", queue.name), ("Position", str(queue.position(ch))),
                                                      ("Count", str(len(queue.entries)))])
        if pbx.config.music_on_hold:
            pbx.emit.music_on_hold_start(ch, queue.musicclass)

    def leave(self) -> None:
        pbx, ch, queue = self.pbx, self.ch, self.queue
        position = queue.position(ch)
        if self.entry in queue.entries:
            queue.entries.remove(self.entry)
        if not queue.entries:
            pbx._set_pseudo_device(f"Queue:{queue.name}", "NOT_INUSE")
        pbx.emit.queue_caller("QueueCallerLeave", ch, [("Queue", queue.name), ("Position", str(position)),
                                                       ("Count", str(len(queue.entries)))])
        pbx.set_var(ch, "QUEUEPOSITION", str(position))

    def _wait_vars(self) -> None:
        waited = self.pbx.clock.now_s() - self.joined_s
        for name, value in (("QUEUEWAIT", str(int(waited))), ("QUEUEWAIT_MS", _ms(waited)),
                            ("DIALEDTIME", str(int(waited))), ("DIALEDTIME_MS", _ms(waited)),
                            ("ANSWEREDTIME", "0"), ("ANSWEREDTIME_MS", "0")):
            self.pbx.set_var(self.ch, name, value)

    def _abandon_event(self) -> None:
        queue, ch = self.queue, self.ch
        self.pbx.emit.queue_caller(
            "QueueCallerAbandon",
            ch,
            [("Queue", queue.name), ("Position", str(queue.position(ch))),
             ("OriginalPosition", str(self.entry.original_position)),
             ("HoldTime", str(int(self.pbx.clock.now_s() - self.joined_s)))],
        )

    def abandoned(self) -> Flow:
        """The caller hung up while waiting (QueueCallerAbandon, then QueueCallerLeave)."""
        pbx, ch, queue = self.pbx, self.ch, self.queue
        if pbx.config.music_on_hold:
            pbx.emit.music_on_hold_stop(ch)
        self._wait_vars()
        pbx.set_var(ch, "ABANDONED", "TRUE")
        _set_queue_vars(pbx, queue, ch)
        self._abandon_event()
        queue.abandoned += 1
        _set_queue_vars(pbx, queue, ch)
        self.leave()
        return Flow.STOP

    def timed_out(self) -> Flow:
        """Queue()'s own timeout: also a QueueCallerAbandon (captures), then QUEUESTATUS=TIMEOUT."""
        pbx, ch, queue = self.pbx, self.ch, self.queue
        pbx.set_var(ch, "ABANDONED", "TRUE")
        _set_queue_vars(pbx, queue, ch)
        self._abandon_event()
        self._wait_vars()
        if pbx.config.music_on_hold:
            pbx.emit.music_on_hold_stop(ch)
        queue.abandoned += 1
        _set_queue_vars(pbx, queue, ch)
        self.leave()
        pbx.set_var(ch, "QUEUESTATUS", "TIMEOUT")
        record = pbx.calls.get(ch.linkedid)
        if record is not None and record.outcome is None:
            record.outcome = "unanswered"
        return Flow.NEXT

    # -- ringing members ----------------------------------------------------------------------------------------

    def candidates(self) -> list[Member]:
        pbx, queue = self.pbx, self.queue
        free = [m for m in queue.members.values()
                if pbx.member_available(queue, m) and m.interface not in pbx.queue_ringing]
        position = queue.position(self.ch)
        being_served = set(pbx.queue_ringing.values())
        waiting_ahead = sum(1 for e in queue.entries[: max(0, position - 1)]
                            if e.channel.uniqueid not in being_served)
        if waiting_ahead >= len(free):
            return []  # autofill: callers ahead of us take the free members first
        ordered = pbx.queues.order(queue, free, tried=self.tried)
        return ordered if queue.strategy == "ringall" else ordered[:1]

    def ring(self, members: list[Member]) -> dict[Channel, tuple[Member, float]]:
        pbx, ch, queue = self.pbx, self.ch, self.queue
        legs: dict[Channel, tuple[Member, float]] = {}
        for member in members:
            leg = create_leg(pbx, caller=ch, endpoint=_endpoint(member.interface), dialed=_endpoint(member.interface),
                             queue_leg=True)
            leg.transfer_rights = "t" in self.options
            pbx.queue_ringing[member.interface] = ch.uniqueid
            pbx.emit.agent_event("AgentCalled", ch, leg, [("Queue", queue.name), ("Interface", member.interface),
                                                           ("MemberName", member.name)])
            pbx.emit.dial_begin(ch, leg, member.interface)
            ch.connected_num, ch.connected_name = leg.caller_num, leg.caller_name
            pbx.emit.new_connected_line(ch)
            legs[leg] = (member, pbx.clock.now_s())
            self.tried.append(member.interface)
            if queue.strategy in ("rrmemory", "roundrobin", "rrordered"):
                order = list(queue.members)
                queue.rr_position = (order.index(member.interface) + 1) if member.interface in order else 0
            pbx.offer(leg, caller=ch)
        return legs

    def drop_leg(self, leg: Channel, legs: dict[Channel, tuple[Member, float]], *, cause: int,
                 statuses: tuple[str, ...]) -> None:
        member, _ = legs.pop(leg)
        for status in statuses:
            self.pbx.emit.dial_end(self.ch, leg, status)
        self.pbx.queue_ringing.pop(member.interface, None)
        self.pbx.destroy(leg, cause=cause, tech_cause=leg.tech_cause if cause == leg.hangup_cause else None)

    def cancel_all(self, legs: dict[Channel, tuple[Member, float]]) -> None:
        for leg in list(legs):
            self.drop_leg(leg, legs, cause=16, statuses=("CANCEL",))

    # -- the connected call -------------------------------------------------------------------------------------

    async def connect(self, leg: Channel, member: Member, ring_started_s: float) -> Flow:
        pbx, ch, queue = self.pbx, self.ch, self.queue
        now = pbx.clock.now_s()
        hold_s = now - self.joined_s
        pbx.emit.dial_end(ch, leg, "ANSWER")
        if pbx.config.music_on_hold:
            pbx.emit.music_on_hold_stop(ch)
        for target in (ch, leg):
            for name, value in (("MEMBERINTERFACE", member.interface), ("MEMBERNAME", member.name),
                                ("MEMBERCALLS", str(member.calls_taken)), ("MEMBERLASTCALL", str(member.last_call_s)),
                                ("MEMBERPENALTY", str(member.penalty)), ("MEMBERDYNAMIC", "1"),
                                ("MEMBERREALTIME", "0")):
                pbx.set_var(target, name, value)
        for target in (ch, leg):
            pbx.set_var(target, "QEHOLDTIME", str(int(hold_s)))
            pbx.set_var(target, "QEORIGINALPOS", str(self.entry.original_position))
        queue.holdtime_s = int(hold_s) if queue.completed == 0 else int((queue.holdtime_s * 3 + hold_s) / 4)
        _set_queue_vars(pbx, queue, ch, leg)
        self.leave()
        pbx.set_var(ch, "QUEUEWAIT", str(int(hold_s)))
        pbx.set_var(ch, "QUEUEWAIT_MS", _ms(hold_s))
        detail = [("Queue", queue.name), ("Interface", member.interface), ("MemberName", member.name)]
        pbx.emit.agent_event("AgentConnect", ch, leg,
                             [*detail, ("HoldTime", str(int(hold_s))), ("RingTime", str(int(now - ring_started_s)))])
        member.in_call = True
        pbx.queue_ringing.pop(member.interface, None)
        ch.hangup_cause = 0
        leg.hangup_cause = 16
        bridge = Bridge(uniqueid=pbx.ids.uuid())
        pbx.emit.bridge_create(bridge)
        for target in (leg, ch):
            bridge.channels.append(target)
            target.bridge = bridge
            pbx.emit.bridge_enter(bridge, target)
            if target is leg:
                pbx.refresh_device(f"PJSIP/{leg.endpoint}")  # INUSE now, with InCall 1 in QueueMemberStatus
        set_bridge_vars(pbx, ch, leg)
        answered_s = pbx.clock.now_s()
        pbx.on_connected(ch, leg, agent=leg.endpoint)

        def completed(reason: str) -> None:
            talk_s = pbx.clock.now_s() - answered_s
            pbx.emit.agent_event("AgentComplete", ch, leg,
                                 [*detail, ("HoldTime", str(int(hold_s))), ("TalkTime", str(int(talk_s))),
                                  ("Reason", reason)])
            queue.completed += 1
            queue.talktime_s = int(talk_s) if queue.completed == 1 else int((queue.talktime_s * 3 + talk_s) / 4)
            member.calls_taken += 1
            member.last_call_s = int(pbx.clock.now_s())
            member.in_call = False
            ch.hangup_cause = 16

        def end_vars() -> None:
            talk_s = pbx.clock.now_s() - answered_s
            _set_queue_vars(pbx, queue, ch)
            pbx.set_var(ch, "ANSWEREDTIME", str(int(talk_s)))
            pbx.set_var(ch, "ANSWEREDTIME_MS", _ms(talk_s))
            pbx.set_var(ch, "DIALEDTIME", str(int(pbx.clock.now_s() - self.joined_s)))
            pbx.set_var(ch, "DIALEDTIME_MS", _ms(pbx.clock.now_s() - self.joined_s))
            _set_queue_vars(pbx, queue, ch)

        flow = await bridge_wait(pbx, ch, leg, bridge, end_vars=end_vars, on_first_signal=completed)
        if member.in_call:  # redirected away: the member is free again
            member.in_call = False
        return flow

    # -- the main loop ------------------------------------------------------------------------------------------

    async def run(self) -> Flow:
        pbx, ch, queue = self.pbx, self.ch, self.queue
        self.join()
        legs: dict[Channel, tuple[Member, float]] = {}
        ring_deadline: float | None = None
        retry_until: float | None = None
        while True:
            now = pbx.clock.now_s()
            if not legs and retry_until is None:
                members = self.candidates()
                if members:
                    legs = self.ring(members)
                    ring_deadline = now + queue.timeout_s
            limits = [t for t in (self.deadline_s, ring_deadline if legs else None, retry_until) if t is not None]
            left = max(0.0, min(limits) - now) if limits else None
            got = await wait_signal(pbx, [ch, *legs], left)
            now = pbx.clock.now_s()
            if got is None:
                if self.deadline_s is not None and now >= self.deadline_s:
                    self.cancel_all(legs)
                    return self.timed_out()
                if legs and ring_deadline is not None and now >= ring_deadline:
                    for leg in list(legs):
                        member, started = legs[leg]
                        pbx.emit.agent_event(
                            "AgentRingNoAnswer", ch, leg,
                            [("Queue", queue.name), ("Interface", member.interface), ("MemberName", member.name),
                             ("RingTime", _ms(now - started))],  # milliseconds, unlike every other queue time
                        )
                        # app_queue reports the rung-out member twice: NOANSWER, then CANCEL (captures)
                        self.drop_leg(leg, legs, cause=0, statuses=("NOANSWER", "CANCEL"))
                    retry_until = now + queue.retry_s
                elif retry_until is not None and now >= retry_until:
                    retry_until = None
                continue
            src, kind, payload = got
            if src is ch:
                if kind == "restart":
                    return Flow.STOP
                if kind in ("bye", "ami_hangup"):
                    self.cancel_all(legs)
                    return self.abandoned()
                if kind == "redirect" and isinstance(payload, tuple):
                    self.cancel_all(legs)
                    if pbx.config.music_on_hold:
                        pbx.emit.music_on_hold_stop(ch)
                    self.leave()
                    _relocate(pbx, ch, payload)
                    return Flow.JUMP
                continue  # member_change: the loop looks for a free member again
            leg = src
            if leg not in legs:
                continue
            member, started = legs[leg]
            if kind == "ringing":
                pbx.emit.newexten(leg, "AppQueue", "(Outgoing Line)")
                pbx.emit.new_connected_line(leg)
                pbx.emit.dial_state(ch, leg, "RINGING")
                pbx.note_ring(ch, leg.endpoint)
            elif kind in ("busy", "bye", "ami_hangup"):
                self.drop_leg(leg, legs, cause=leg.hangup_cause or 16, statuses=("BUSY" if kind == "busy" else "CANCEL",))
                if not legs:
                    retry_until = now + queue.retry_s
            elif kind == "answer":
                for other in list(legs):
                    if other is not leg:
                        self.drop_leg(other, legs, cause=26, statuses=("CANCEL",))
                legs.pop(leg)
                return await self.connect(leg, member, started)


async def app_queue(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    queue = pbx.queues.queues.get(args[0].strip())
    if queue is None:
        pbx.set_var(ch, "QUEUESTATUS", "UNKNOWN")
        return Flow.NEXT
    timeout_s: float | None = None
    if len(args) > 4 and args[4].strip():
        try:
            timeout_s = float(args[4])
        except ValueError:
            timeout_s = None
    options = args[1] if len(args) > 1 else ""
    return await _Caller(pbx, ch, queue, timeout_s=timeout_s, options=options).run()

