"""The simulated Asterisk core: channels, device states, endpoints and registrations, queues, the far ends of calls,
and the AMI-driven operations (Originate, Redirect, Hangup, QueueAdd/Remove/Pause, Setvar, restart).

Dialplan applications live in ``apps`` (executor and small apps), ``dial`` and ``queue_app``; this module owns the
shared state they act on and the event sequences that are not tied to one application (channel state changes,
hangups, device states, registrations).
"""

from __future__ import annotations

import collections
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from callcenter.pbxsim import local
from callcenter.pbxsim.apps import run_dialplan
from callcenter.pbxsim.callmodel import AgentPhone, Caller, HangupSide, PhoneAnswer, PhoneState
from callcenter.pbxsim.channels import RING, RINGING, UP, Channel, IdAllocator
from callcenter.pbxsim.chanspy import SpyRecord
from callcenter.pbxsim.clock import SimClock
from callcenter.pbxsim.hints import Hints
from callcenter.pbxsim.dialplan import Dialplan
from callcenter.pbxsim.emit import Emitter
from callcenter.pbxsim.queues import DEVICE_NUMBER, Member, Queue, QueueBook
from callcenter.pbxsim.recordings import RecordingWriter
from callcenter.pbxsim.wire import PRIV_SECURITY, EventBus, event_tv

__all__ = ["CallRecord", "Pbx", "PbxConfig", "PbxStats"]

log = logging.getLogger("callcenter.pbxsim")

# SIP signalling inside the PBX takes about a millisecond (INVITE -> 180, 486 ...); keeps bursts realistic.
SIP_RTT_S: Final = 0.001


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxConfig:
    trunk_endpoint: str = "trunk"
    sip_domain: str = "127.0.0.1"
    monitor_dir: Path = Path("/var/spool/asterisk/monitor")
    agi_connect_timeout_s: float = 2.0  # what Asterisk waits for a FastAGI server before AGISTATUS=FAILURE
    agi_command_timeout_s: float = 10.0
    answer_delay_s: float = 0.01  # Answer(): the channel is Up at once, the next priority runs a little later
    default_customer: Caller = field(default_factory=lambda: Caller(number="5550000"))
    record_audio: bool = True
    restart_s: float = 2.0  # how long `core restart now` takes until the new process is up (virtual clocks jump it)
    # features.conf [featuremap] atxfer: the DTMF code AMI Atxfer queues (Asterisk's default is none: Atxfer then
    # answers "No attended transfer feature code found")
    atxfer_code: str = ""
    # res_musiconhold has the queues' class (musiconhold.conf): without it MOH does not start (no MusicOnHold events)
    music_on_hold: bool = True
    # the sound files Playback finds (names as Playback takes them); None: every one. A name missing here fails as on
    # Asterisk 20 ("File ... does not exist in any format"): PLAYBACKSTATUS FAILED at once, the dialplan goes on
    sounds: frozenset[str] | None = None


@dataclass(slots=True)
class PbxStats:
    calls_offered: int = 0
    calls_answered: int = 0
    calls_abandoned: int = 0  # the caller hung up before an agent answered
    calls_unanswered: int = 0  # ended by the system without an agent (all attempts failed, queue timeout)
    originates: int = 0
    recordings_written: int = 0
    channels_created: int = 0
    # Wall time of each FastAGI session (connect to close): the route latency Asterisk sees, for load tests.
    agi_round_trips_s: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=100_000))


@dataclass(slots=True)
class CallRecord:
    """What the simulator itself knows about one inbound call (tests compare the service's view with it)."""

    linkedid: str
    caller: str | None
    did: str | None
    started_s: float
    answered_by: str | None = None
    agents_rung: list[str] = field(default_factory=list)
    ended_s: float | None = None
    outcome: str | None = None  # answered | abandoned | unanswered


class Pbx:
    def __init__(
        self,
        *,
        clock: SimClock,
        dialplan: Dialplan,
        phones: list[AgentPhone],
        queues: list[Queue],
        seed: int = 0,
        config: PbxConfig | None = None,
        customers: Callable[[str], Caller] | None = None,
        persistent_members: bool = False,
    ) -> None:
        """``persistent_members``: queues.conf [general] persistentmembers (app_queue's default is no)."""
        self.clock = clock
        self.persistent_members = persistent_members
        self.dialplan = dialplan
        self.config = config or PbxConfig()
        self.rng = random.Random(seed)
        self.ids = IdAllocator(rng=random.Random(seed ^ 0x5EED))
        self.bus = EventBus(stamp=clock.stamp_s)
        self.emit = Emitter(bus=self.bus)
        self.queues = QueueBook(queues, rng=self.rng)
        self.phones: dict[str, PhoneState] = {}
        for i, phone in enumerate(phones):
            # the captures' phones listen on 5070 + (extension - 1000): 1002 on 5072 ...
            port = 5070 + int(phone.extension) - 1000 if phone.extension.isdigit() else 6000 + i
            self.phones[phone.extension] = PhoneState(
                config=phone, registered=phone.registered, busy=phone.busy, contact_port=port
            )
        self.channels: dict[str, Channel] = {}  # by uniqueid
        self.devices: dict[str, str] = {}
        self.calls: dict[str, CallRecord] = {}
        self.stats = PbxStats()
        self.recorder = RecordingWriter(monitor_dir=self.config.monitor_dir, enabled=self.config.record_audio)
        self._customers = customers or (lambda number: Caller(number=number))
        self._agi_override: tuple[str, int] | None = None
        self.boot_s = clock.now_s()
        self.reload_s = self.boot_s
        self.call_listeners: list[Callable[[CallRecord], None]] = []
        self.customers_by_channel: dict[str, Caller] = {}
        # (dialled number, display name, number) of every INVITE sent out the trunk: what the customer's phone shows
        self.trunk_offered: list[tuple[str, str | None, str | None]] = []
        self.queue_ringing: dict[str, str] = {}  # member interface -> uniqueid of the queue caller ringing it
        # ChanSpy: channels spying now (nobody may spy on them), who spies on whom, and every session (tests).
        self.spying: set[str] = set()
        self.spied_by: dict[str, list[Channel]] = {}
        self.spy_log: list[SpyRecord] = []
        self.hints = Hints(self)  # custom device states and the dialplan's hints
        self._reset_devices()

    # == configuration at run time ====================================================================================

    def set_agi_address(self, host: str, port: int) -> None:
        """Send every FastAGI session there, whatever host:port the dialplan names (the service's real port)."""
        self._agi_override = (host, port)

    def agi_address(self, host: str, port: int) -> tuple[str, int]:
        return self._agi_override or (host, port)

    def _reset_devices(self) -> None:
        self.devices.clear()
        # endpoint states Asterisk knows from boot (not announced: DeviceStateList lists them)
        for ext in self.phones:
            self.devices[f"PJSIP/{ext}"] = self.device_state(f"PJSIP/{ext}")
        self.devices[f"PJSIP/{self.config.trunk_endpoint}"] = "NOT_INUSE"
        for name, queue in self.queues.queues.items():
            # no member is available in an empty queue; the first available member flips it (QueueMemberAdded)
            self.devices[f"Queue:{name}_avail"] = "INUSE"
            self.devices[f"Queue:{name}"] = "NOT_INUSE"

    # == variables ====================================================================================================

    def set_global(self, name: str, value: str) -> None:
        """pbx_builtin_setvar_helper(NULL, name, value): a global variable, announced with VarSet Channel: none."""
        self.dialplan.globals[name] = value
        self.emit.varset_global(name, value)

    def set_var(self, ch: Channel, name: str, value: str) -> None:
        if name.upper() in ("CALLERID(NAME)", "CALLERID(NUM)", "CALLERID(NUMBER)"):
            # pbx_builtin_setvar_helper hands a name ending in ')' to the function (func_callerid.c callerid_write):
            # no VarSet; ast_channel_set_caller_event publishes the snapshot, which AMI shows as NewCallerid
            if name.upper() == "CALLERID(NAME)":
                ch.caller_name = value or None
            else:
                ch.caller_num = value or None
            self.emit.newcallerid(ch)
            return
        ch.variables[name] = value
        self.emit.varset(ch, name, value)

    def get_var(self, ch: Channel, name: str) -> str | None:
        builtin = self.builtin_var(ch, name)
        if builtin is not None:
            return builtin
        if name in ch.variables:
            return ch.variables[name]
        return self.dialplan.globals.get(name)

    def builtin_var(self, ch: Channel, name: str) -> str | None:
        if name.startswith("ARG") and ch.gosub_argv and (name[3:].isdigit() or name == "ARGC"):
            # a Gosub frame's LOCAL(ARGn) / LOCAL(ARGC) (app_stack frame_set_var); past the last: empty
            argv = ch.gosub_argv[-1]
            if name == "ARGC":
                return str(len(argv))
            index = int(name[3:])
            return argv[index - 1] if 1 <= index <= len(argv) else ""
        return {
            "EXTEN": ch.exten,
            "CONTEXT": ch.context,
            "PRIORITY": str(ch.priority),
            "UNIQUEID": ch.uniqueid,
            "CHANNEL": ch.name,
            "CALLERIDNUM": ch.caller_num or "",
        }.get(name)

    # == channels =====================================================================================================

    def new_channel(
        self,
        *,
        endpoint: str,
        state: int,
        caller_num: str | None,
        caller_name: str | None,
        context: str,
        exten: str,
        linkedid: str | None = None,
        inbound: bool = False,
        name: str | None = None,
        tech: str = "PJSIP",
    ) -> Channel:
        now = self.clock.now_s()
        uid = self.ids.uniqueid(now)
        ch = Channel(
            name=name or self.ids.pjsip_name(endpoint),
            tech=tech,
            uniqueid=uid,
            linkedid=linkedid or uid,
            endpoint=endpoint,
            state=state,
            caller_num=caller_num,
            caller_name=caller_name,
            context=context,
            exten=exten,
            created_s=now,
            sip_call_id=self.ids.sip_call_id(inbound=inbound) if tech == "PJSIP" else "",
            ssrc=self.ids.randbits(31) or 1,
        )
        self.channels[uid] = ch
        self.stats.channels_created += 1
        self.emit.newchannel(ch)
        return ch

    def find_channel(self, name: str) -> Channel | None:
        for ch in self.channels.values():
            if ch.name == name and ch.alive:
                return ch
        return None

    def set_state(self, ch: Channel, state: int, *, refresh: bool = True) -> None:
        if ch.state == state or not ch.alive:
            return
        ch.state = state
        if state == UP:
            ch.up_s = self.clock.now_s()
            ch.had_media = True
        self.emit.newstate(ch)
        if refresh and ch.tech == "PJSIP":
            self.refresh_device(f"PJSIP/{ch.endpoint}")

    def qos(self, ch: Channel, peer: Channel | None = None) -> None:
        """RTP statistics at the end of a channel's media (only channels that were Up have any)."""
        if not ch.had_media or ch.qos_done or not ch.alive or ch.tech != "PJSIP":
            return
        ch.qos_done = True
        seconds = self.clock.now_s() - (ch.up_s or self.clock.now_s())
        # the far end's SSRC as the captures show it (sipp streams with one fixed SSRC)
        self.emit.rtp_qos(ch, peer, seconds=seconds, ssrc=ch.ssrc, peer_ssrc=3_390_111_744)

    def destroy(self, ch: Channel, *, cause: int, tech_cause: int | None = None) -> None:
        """The channel is gone: Hangup, then the endpoint's device state."""
        if not ch.alive:
            return
        self.emit.hangup(ch, cause=cause, tech_cause=tech_cause)
        ch.alive = False
        self.channels.pop(ch.uniqueid, None)
        for spy in self.spied_by.pop(ch.uniqueid, ()):
            spy.signal("spyee_gone")  # ChanSpy's audiohook stops running when the spied channel goes
        if ch.tech == "PJSIP":
            self.refresh_device(f"PJSIP/{ch.endpoint}")
        else:
            local.gone(self, ch)
        self.recorder.channel_gone(ch, self)
        self.customers_by_channel.pop(ch.uniqueid, None)
        call = self.calls.get(ch.linkedid)
        if call is not None and not any(c.linkedid == ch.linkedid for c in self.channels.values()):
            call.ended_s = self.clock.now_s()
            if call.outcome is None:
                call.outcome = "answered" if call.answered_by else "unanswered"
            if call.outcome == "answered":
                self.stats.calls_answered += 1
            elif call.outcome == "abandoned":
                self.stats.calls_abandoned += 1
            else:
                self.stats.calls_unanswered += 1
            for listener in self.call_listeners:
                listener(call)

    def remote_bye(self, ch: Channel, *, cause: int | None = None, tech_cause: int | None = None) -> None:
        """The far end of ``ch`` hung up (BYE, or CANCEL while ringing): HangupRequest now, the owner does the rest."""
        if not ch.alive or ch.has("bye"):
            return
        if cause is not None:
            ch.hangup_cause = cause
        if tech_cause is not None:
            ch.tech_cause = tech_cause
        peer = next((c for c in ch.bridge.channels if c is not ch), None) if ch.bridge else None
        self.qos(ch, peer)
        # a channel whose hangup cause was never set (a queue caller answered by Answer()) gets no Cause header
        self.emit.hangup_request(ch, cause=ch.hangup_cause or None, tech_cause=ch.tech_cause)
        ch.signal("bye")

    # == endpoints and device states ==================================================================================

    def endpoint_reachable(self, endpoint: str) -> bool:
        if endpoint == self.config.trunk_endpoint:
            return True
        phone = self.phones.get(endpoint)
        return phone is not None and phone.registered

    def device_state(self, device: str) -> str:
        tech, _, endpoint = device.partition("/")
        if tech != "PJSIP":
            return self.devices.get(device, "UNKNOWN")
        if endpoint != self.config.trunk_endpoint and not self.endpoint_reachable(endpoint):
            return "UNAVAILABLE" if endpoint in self.phones else "INVALID"
        ringing = inuse = False
        for ch in self.channels.values():
            if ch.endpoint == endpoint and ch.alive:
                if ch.state == RINGING:
                    ringing = True
                elif ch.state == UP and ch.on_hold:
                    return "ONHOLD"  # devicestate.c: a held channel's device is ONHOLD (api_attended_transfer)
                elif ch.state in (UP, RING):
                    inuse = True
        if ringing and inuse:
            return "RINGINUSE"
        return "RINGING" if ringing else "INUSE" if inuse else "NOT_INUSE"

    def refresh_device(self, device: str) -> None:
        state = self.device_state(device)
        if self.devices.get(device) == state:
            return
        self.devices[device] = state
        self.emit.device_state_change(device, state)
        for queue, member in self.queues.queues_of(device):
            self.queue_member_event("QueueMemberStatus", queue, member)
            self.refresh_queue_devices(queue)
            self.wake_queue(queue)

    def _set_pseudo_device(self, device: str, state: str) -> None:
        if self.devices.get(device) != state:
            self.devices[device] = state
            self.emit.device_state_change(device, state)

    def member_available(self, queue: Queue, member: Member) -> bool:
        if member.paused or (member.in_call and not queue.ringinuse):
            return False
        state = self.devices.get(member.state_interface) or self.device_state(member.state_interface)
        return state == "NOT_INUSE" or (queue.ringinuse and state in ("INUSE",))

    def refresh_queue_devices(self, queue: Queue) -> None:
        available = any(self.member_available(queue, m) for m in queue.members.values())
        self._set_pseudo_device(f"Queue:{queue.name}_avail", "NOT_INUSE" if available else "INUSE")

    def wake_queue(self, queue: Queue) -> None:
        for entry in queue.entries:
            entry.channel.signal("member_change")

    def member_status(self, member: Member) -> int:
        state = self.devices.get(member.state_interface) or self.device_state(member.state_interface)
        return DEVICE_NUMBER.get(state, 0)

    def queue_member_event(self, name: str, queue: Queue, member: Member) -> None:
        self.emit.queue_member_event(
            name, member.fields(queue=queue.name, status=self.member_status(member), ringinuse=queue.ringinuse)
        )

    # == registrations ================================================================================================

    def register(self, extension: str) -> None:
        """A desk phone REGISTERs (digest auth): the security events, PeerStatus, ContactStatus, device state."""
        phone = self.phones[extension]
        if phone.registered:
            return
        self._sip_auth(extension)
        phone.registered = True
        self.emit.peer_status(extension, "Reachable")
        self.emit.contact_status(self.contact_uri(extension), "NonQualified", extension)
        self.refresh_device(f"PJSIP/{extension}")

    def unregister(self, extension: str) -> None:
        phone = self.phones[extension]
        if not phone.registered:
            return
        self._sip_auth(extension)
        phone.registered = False
        self.emit.peer_status(extension, "Unreachable")
        self.emit.contact_status(self.contact_uri(extension), "Removed", extension)
        self.refresh_device(f"PJSIP/{extension}")

    def contact_uri(self, extension: str) -> str:
        return f"sip:{extension}@127.0.0.1:{self.phones[extension].contact_port}"

    def _sip_auth(self, extension: str) -> None:
        port = self.phones[extension].contact_port
        now = self.clock.now_s()
        common = [
            ("EventTV", event_tv(now)),
            ("Severity", "Informational"),
            ("Service", "PJSIP"),
            ("EventVersion", "1"),
            ("AccountID", extension),
            ("SessionID", f"1-{30000 + port}@127.0.0.1"),
            ("LocalAddress", "IPV4/UDP/127.0.0.1/5060"),
            ("RemoteAddress", f"IPV4/UDP/127.0.0.1/{port}"),
        ]
        self.bus.emit("ChallengeSent", PRIV_SECURITY, [*common, ("Challenge", "")])
        self.bus.emit("SuccessfulAuth", PRIV_SECURITY, [*common, ("UsingPassword", "1")])

    def set_dnd(self, extension: str, busy: bool) -> None:
        self.phones[extension].busy = busy

    # == calls from outside ===========================================================================================

    def incoming_call(self, caller: Caller) -> None:
        """A customer dials a DID on the trunk: a new channel runs from-trunk,<did>,1."""
        self.clock.spawn(self._incoming(caller), name=f"call-{caller.number}")

    def start_dialplan(self, ch: Channel, context: str, exten: str, priority: int) -> None:
        """Run ``ch`` in the dialplan from context,exten,priority in its own process (Originate, Redirect of a leg)."""
        self.clock.spawn(run_dialplan(self, ch, context, exten, priority), name=f"dp-{ch.name}")

    def dial_from_phone(self, extension: str, number: str) -> Channel:
        """The agent's desk phone dials ``number``: a PJSIP/<extension> channel runs the endpoint's context (pjsip.conf
        context = from-internal) at number,1, with the phone's caller id; the phone stays off-hook until the dialplan
        ends (Hangup, or the far end of its Dial hangs up)."""
        phone = self.phones[extension]
        ch = self.new_channel(endpoint=extension, state=RING, caller_num=extension,
                              caller_name=phone.config.caller_name, context=phone.config.context, exten=number,
                              inbound=True)
        ch.dnid = number
        self.set_var(ch, "SIPDOMAIN", self.config.sip_domain)
        self.refresh_device(f"PJSIP/{extension}")
        self.start_dialplan(ch, phone.config.context, number, 1)
        return ch

    async def _incoming(self, caller: Caller) -> None:
        ch = self.new_channel(
            endpoint=self.config.trunk_endpoint,
            state=RING,
            caller_num=caller.number,
            caller_name=caller.name,
            context="from-trunk",
            exten=caller.did,
            inbound=True,
        )
        ch.dnid = caller.did
        self.customers_by_channel[ch.uniqueid] = caller
        record = CallRecord(linkedid=ch.linkedid, caller=caller.number, did=caller.did, started_s=ch.created_s)
        self.calls[ch.linkedid] = record
        self.stats.calls_offered += 1
        self.set_var(ch, "SIPDOMAIN", self.config.sip_domain)
        self.clock.spawn(self._patience(ch, caller), name=f"patience-{ch.uniqueid}")
        await run_dialplan(self, ch, "from-trunk", caller.did, 1)

    async def _patience(self, ch: Channel, caller: Caller) -> None:
        """The customer gives up when no agent has answered after ``patience_s``."""
        await self.clock.sleep(caller.patience_s)
        if not ch.alive or ch.connected:
            return
        record = self.calls.get(ch.linkedid)
        if record is not None and record.outcome is None:
            record.outcome = "abandoned"
        if ch.state == UP:
            self.remote_bye(ch)  # BYE: it was answered (Answer() before a queue, voicemail ...)
        else:
            self.remote_bye(ch, cause=127, tech_cause=487)  # CANCEL

    def customer_of(self, ch: Channel) -> Caller | None:
        return self.customers_by_channel.get(ch.uniqueid)

    # == the far ends of outgoing legs ================================================================================

    def offer(self, leg: Channel, *, caller: Channel | None) -> None:
        """An outgoing leg was sent (INVITE): its far end decides to ring, answer or reject."""
        if leg.endpoint == self.config.trunk_endpoint:
            self.trunk_offered.append((leg.dialed, leg.connected_name, leg.connected_num))
            customer = self._customers(leg.dialed)
            self.customers_by_channel[leg.uniqueid] = customer
            behaviour = PhoneAnswer(action=customer.originate_answer, delay_s=customer.answers_after_s)
        else:
            phone = self.phones[leg.endpoint]
            phone.offered.append((leg.connected_name, leg.connected_num))
            on_a_call = any(c is not leg and c.endpoint == leg.endpoint and c.alive for c in self.channels.values())
            if phone.busy or (on_a_call and not phone.config.call_waiting):
                behaviour = PhoneAnswer(action="busy")
            else:
                behaviour = phone.scripted.pop(0) if phone.scripted else PhoneAnswer.draw(phone.config, self.rng)
        self.clock.spawn(self._far_end(leg, behaviour), name=f"far-{leg.name}")

    async def _far_end(self, leg: Channel, behaviour: PhoneAnswer) -> None:
        await self.clock.sleep(SIP_RTT_S)
        if not leg.alive or leg.has("cancel"):
            return
        if behaviour.action == "busy":
            leg.hangup_cause, leg.tech_cause = 17, 486
            self.emit.hangup_request(leg, cause=17, tech_cause=486)
            leg.signal("busy")
            return
        if behaviour.action == "congestion":
            # 503 Service Unavailable: chan_pjsip hangs the channel up with cause 34 (congestion), as a 486 with 17
            leg.hangup_cause, leg.tech_cause = 34, 503
            self.emit.hangup_request(leg, cause=34, tech_cause=503)
            leg.signal("congestion")
            return
        self.set_state(leg, RINGING)
        leg.signal("ringing")
        if behaviour.action != "answer":
            return
        await self.clock.sleep(max(0.0, behaviour.delay_s))
        if not leg.alive or leg.has("cancel"):
            return
        # a queue leg's device change waits until app_queue marked the member in call (QueueMemberStatus InCall 1)
        self.set_state(leg, UP, refresh=not leg.queue_leg)
        leg.signal("answer")

    def on_connected(self, customer_side: Channel, agent_side: Channel, *, agent: str | None) -> None:
        """Two parties talk. The conversation lasts the customer's talk time from the first answer (a transfer
        does not restart it), then the customer or the agent then on the line hangs up."""
        first = not customer_side.connected
        customer_side.connected = agent_side.connected = True
        record = self.calls.get(customer_side.linkedid)
        if record is not None and agent and record.answered_by is None:
            record.answered_by = agent
            record.outcome = "answered"
        self.recorder.connected(customer_side, agent_side, self)
        if first:
            caller = self.customer_of(customer_side) or self.customer_of(agent_side) or self.config.default_customer
            self.clock.spawn(self._conversation(customer_side, caller), name=f"talk-{customer_side.uniqueid}")

    async def _conversation(self, customer_side: Channel, caller: Caller) -> None:
        await self.clock.sleep(caller.talk_s)
        if not customer_side.alive:
            return
        bridge = customer_side.bridge
        peer = next((c for c in bridge.channels if c is not customer_side), None) if bridge else None
        if caller.hangup_side is HangupSide.AGENT and peer is not None:
            self.remote_bye(peer)
        else:
            self.remote_bye(customer_side)

    def note_ring(self, ch: Channel, agent: str) -> None:
        record = self.calls.get(ch.linkedid)
        if record is not None and agent not in record.agents_rung:
            record.agents_rung.append(agent)

    # == snapshots for the AMI list actions ===========================================================================

    def live_channels(self) -> list[Channel]:
        return [ch for ch in self.channels.values() if ch.alive]

    def uptime_s(self) -> int:
        return int(self.clock.now_s() - self.boot_s)

    def since_reload_s(self) -> int:
        return int(self.clock.now_s() - self.reload_s)

    def _reload_queue_members(self, saved: dict[str, list[Member]]) -> None:
        """apps/app_queue.c reload_queue_members: add_to_queue(queue, interface, membername, penalty, paused, 0,
        state_interface, reason_paused, wrapuptime) for each saved member. What astdb kept comes back (penalty,
        paused and its reason, member name, state interface); create_queue_member starts the rest afresh:
        LoginTime now, LastPause now when paused (else 0), no calls taken. Nobody is connected to AMI while modules
        load, so the QueueMemberAdded events reach no one; the device states are simply known."""
        now = int(self.clock.now_s())
        for name, members in saved.items():
            queue = self.queues.queues.get(name)
            if queue is None:
                continue  # "Error loading persistent queue: it does not exist": dropped from astdb
            for old in members:
                member = Member(interface=old.interface, name=old.name, state_interface=old.state_interface,
                                penalty=old.penalty, paused=old.paused, reason=old.reason if old.paused else "",
                                login_s=now, last_pause_s=now if old.paused else 0, added_seq=self.queues.next_seq())
                queue.members[member.interface] = member
                # member_add_to_queue: the member's pause pseudo-device, INUSE when paused
                self.devices[f"Queue:{name}_pause_{member.interface}"] = "INUSE" if member.paused else "NOT_INUSE"
            if any(self.member_available(queue, m) for m in queue.members.values()):
                self.devices[f"Queue:{name}_avail"] = "NOT_INUSE"

    # == restart ======================================================================================================

    def restart(self) -> None:
        """`core restart now`: every channel is gone with the process, counters and dynamic members reset."""
        for ch in list(self.channels.values()):
            ch.alive = False
            ch.signal("restart")
        self.channels.clear()
        jump = getattr(self.clock, "jump", None)
        if jump is not None:
            jump(self.config.restart_s)  # Uniqueids restart at .0 but with a later epoch, as on Asterisk
        # app_queue keeps dynamic members in astdb (Queue/PersistentMembers, dump_queue_members after every
        # add/remove/pause) only with persistentmembers=yes, and reads them back at load (reload_queue_members)
        saved = {name: list(q.members.values()) for name, q in self.queues.queues.items()} \
            if self.persistent_members else {}
        for queue in self.queues.queues.values():
            queue.members.clear()
            queue.entries.clear()
            # a new process: the statistics start again
            queue.completed = queue.abandoned = queue.holdtime_s = queue.talktime_s = queue.rr_position = 0
        self.ids.reset()
        self.boot_s = self.reload_s = self.clock.now_s()
        self.dialplan.boot()  # globals set at run time (Setvar) are gone; the file's are set again
        self._reset_devices()
        self.hints.restart()
        self._reload_queue_members(saved)
        for record in self.calls.values():
            if record.ended_s is None:
                record.ended_s = self.clock.now_s()
                record.outcome = record.outcome or "restart"
