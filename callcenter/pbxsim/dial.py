"""app_dial: outgoing legs, ringing, answer, the two-party bridge, and how it ends.

Every sequence below is the one the captures show for chan_pjsip (see tests/data/ami-traces/*.md):

* leg setup: Newchannel (Down) -> VarSet DIALEDPEERNUMBER -> Newexten AppDial "(Outgoing Line)" -> NewConnectedLine
  -> DialBegin -> NewConnectedLine on the caller;
* CHANUNAVAIL (no contact): no channel at all, only VarSet DIALSTATUS=CHANUNAVAIL;
* ring: Newstate Ringing (leg) -> RINGTIME/RINGTIME_MS -> DialState RINGING, and the caller's device is refreshed
  because Asterisk indicates ringing to it;
* answer: Newstate Up (leg) -> DIALSTATUS/DIALEDPEERNAME/DIALEDPEERNUMBER -> DialEnd ANSWER -> Newstate Up (caller)
  -> BridgeCreate -> Newexten AppDial (leg) -> BridgeEnter x2 -> BRIDGEPEER/BRIDGEPVTCALLID;
* no answer: DialEnd NOANSWER -> DIALSTATUS -> Hangup of the leg with cause 0;
* busy: HangupRequest 17/486 (leg) -> DialEnd BUSY -> DIALSTATUS -> Hangup 17/486;
* caller CANCEL: HangupRequest 127/487 -> DialEnd CANCEL -> DIALSTATUS -> SoftHangupRequest -> Hangup 127 both legs.
Without the ``g`` option the caller never continues its dialplan after an answered call, whoever hung up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from callcenter.pbxsim.flow import Flow, wait_signal
from callcenter.pbxsim.channels import DOWN, UP, Bridge, Channel
from callcenter.pbxsim.dialplan import split_args

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["app_dial", "bridge_wait", "clear_bridge_vars", "create_leg", "open_bridge", "set_bridge_vars"]

DIAL_RESET: Final = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
# The caller's hangup cause after a failed Dial() (a later Hangup() reports it: cause 3 / SIP 404 after CHANUNAVAIL,
# 17 / SIP 486 after BUSY: api_blind_transfer_busy).
_FAILURE_CAUSE: Final = {"CHANUNAVAIL": (3, 404), "BUSY": (17, 486), "CONGESTION": (34, None)}


def parse_target(target: str) -> tuple[str, str, str] | None:
    """``PJSIP/1002`` -> (PJSIP, 1002, 1002); ``PJSIP/5550001@trunk`` -> (PJSIP, trunk, 5550001)."""
    tech, slash, resource = target.strip().partition("/")
    if not slash or not resource:
        return None
    number, _, via = resource.partition("@")
    return tech, (via or number), number


def create_leg(pbx: Pbx, *, caller: Channel | None, endpoint: str, dialed: str, queue_leg: bool = False) -> Channel:
    """A new outgoing channel towards ``endpoint`` (Newchannel Down + DIALEDPEERNUMBER)."""
    phone = pbx.phones.get(endpoint)
    if phone is not None:
        cid_num, cid_name, context = phone.config.extension, phone.config.caller_name, phone.config.context
    else:
        cid_num = caller.caller_num if caller else None
        cid_name = caller.caller_name if caller else None
        context = "from-trunk"
    leg = pbx.new_channel(
        endpoint=endpoint,
        state=DOWN,
        caller_num=cid_num,
        caller_name=cid_name,
        context=context,
        exten="s",
        linkedid=caller.linkedid if caller else None,
    )
    leg.dialed = dialed
    leg.queue_leg = queue_leg
    pbx.set_var(leg, "DIALEDPEERNUMBER", dialed)
    if caller is not None:
        leg.connected_num, leg.connected_name = caller.caller_num, caller.caller_name
        leg.exten = caller.exten
    return leg


def set_or_delete(pbx: Pbx, ch: Channel, name: str, value: str) -> None:
    """pbx_builtin_setvar_helper: a value is set and announced; an empty one deletes the variable, announced (as an
    empty VarSet) only when it had a value. A Local channel has no SIP Call-ID, so BRIDGEPVTCALLID towards it is
    deleted, not set (api_attended_transfer*.ami)."""
    if value:
        pbx.set_var(ch, name, value)
    elif ch.variables.pop(name, ""):
        pbx.emit.varset(ch, name, "")


def set_peer_vars(pbx: Pbx, ch: Channel, peer: Channel) -> None:
    pbx.set_var(ch, "BRIDGEPEER", peer.name)
    set_or_delete(pbx, ch, "BRIDGEPVTCALLID", peer.sip_call_id)


def clear_peer_vars(pbx: Pbx, ch: Channel) -> None:
    set_or_delete(pbx, ch, "BRIDGEPEER", "")
    set_or_delete(pbx, ch, "BRIDGEPVTCALLID", "")


def set_bridge_vars(pbx: Pbx, x: Channel, y: Channel) -> None:
    """BRIDGEPEER / BRIDGEPVTCALLID, the leg first (it entered first), then the caller."""
    for ch, peer in ((y, x), (x, y)):
        set_peer_vars(pbx, ch, peer)


def clear_bridge_vars(pbx: Pbx, first: Channel, second: Channel) -> None:
    for ch in (first, second):
        clear_peer_vars(pbx, ch)


def open_bridge(pbx: Pbx, x: Channel, y: Channel, *, leg_newexten: str | None) -> Bridge:
    bridge = Bridge(uniqueid=pbx.ids.uuid())
    pbx.emit.bridge_create(bridge)
    if leg_newexten is not None:
        y.exten = ""
        pbx.emit.newexten(y, leg_newexten, "(Outgoing Line)")
    for ch in (y, x):
        join(pbx, bridge, ch)
    set_bridge_vars(pbx, x, y)
    return bridge


_TRANSFER_VARS: Final = ("BLINDTRANSFER", "ATTENDEDTRANSFER", "FORWARDERNAME")


def join(pbx: Pbx, bridge: Bridge, ch: Channel, *, swap: Channel | None = None) -> None:
    """bridge_channel.c bridge_channel_internal_push: BridgeEnter, then the transfer is over for this channel: its
    BLINDTRANSFER/ATTENDEDTRANSFER/FORWARDERNAME are deleted (a VarSet with an empty value when one was set)."""
    bridge.channels.append(ch)
    ch.bridge = bridge
    pbx.emit.bridge_enter(bridge, ch, swap)
    for var in _TRANSFER_VARS:
        if ch.variables.pop(var, ""):
            pbx.emit.varset(ch, var, "")


def leave(pbx: Pbx, bridge: Bridge, ch: Channel) -> None:
    if ch in bridge.channels:
        bridge.channels.remove(ch)
        ch.bridge = None
        pbx.emit.bridge_leave(bridge, ch)


def _sides(pbx: Pbx, x: Channel, y: Channel) -> tuple[Channel, Channel, str | None]:
    """(customer side, agent side, agent id) of a two-party call."""
    trunk = pbx.config.trunk_endpoint
    if y.endpoint == trunk and x.endpoint != trunk:
        return y, x, x.endpoint
    return x, y, (y.endpoint if y.endpoint != trunk else None)


async def app_dial(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    targets = [t for t in args[0].split("&") if t.strip()]
    timeout_s = float(args[1]) if len(args) > 1 and args[1].strip() else None
    for name in DIAL_RESET:
        pbx.set_var(ch, name, "")
    started = pbx.clock.now_s()
    options = args[2] if len(args) > 2 else ""
    if "T" in options:
        ch.transfer_rights = True  # the caller may transfer the called party
    legs: list[Channel] = []
    for target in targets:
        parsed = parse_target(target)
        if parsed is None or parsed[0].upper() != "PJSIP" or not pbx.endpoint_reachable(parsed[1]):
            continue  # CHANUNAVAIL: chan_pjsip refuses before any channel exists
        _, endpoint, number = parsed
        leg = create_leg(pbx, caller=ch, endpoint=endpoint, dialed=number)
        leg.transfer_rights = "t" in options  # the called party may transfer the caller
        pbx.emit.newexten(leg, "AppDial", "(Outgoing Line)")
        pbx.emit.new_connected_line(leg)
        pbx.emit.dial_begin(ch, leg, target.strip().partition("/")[2])
        ch.connected_num, ch.connected_name = leg.caller_num, leg.caller_name
        pbx.emit.new_connected_line(ch)
        if ch.tech == "Local":
            from callcenter.pbxsim import local  # (local builds on this module)

            local.dial_begun(pbx, ch, leg)
        legs.append(leg)
        pbx.offer(leg, caller=ch)
    if not legs:
        pbx.set_var(ch, "DIALSTATUS", "CHANUNAVAIL")
        ch.hangup_cause, ch.tech_cause = _FAILURE_CAUSE["CHANUNAVAIL"]
        return Flow.NEXT
    return await _dial_wait(pbx, ch, legs, started=started, timeout_s=timeout_s)


async def _dial_wait(pbx: Pbx, ch: Channel, legs: list[Channel], *, started: float, timeout_s: float | None) -> Flow:
    deadline = None if timeout_s is None else started + timeout_s
    rang = False
    failures: list[str] = []
    while True:
        left = None if deadline is None else deadline - pbx.clock.now_s()
        got = None if left is not None and left <= 0 else await wait_signal(pbx, [ch, *legs], left)
        if got is None:
            for leg in legs:
                pbx.emit.dial_end(ch, leg, "NOANSWER")
            pbx.set_var(ch, "DIALSTATUS", "NOANSWER")
            for leg in legs:
                pbx.destroy(leg, cause=0)  # a rung-out leg ends with cause 0, not 19 (captures)
            return Flow.NEXT
        src, kind, payload = got
        if src is ch:
            if kind == "restart":
                return Flow.STOP
            if kind in ("bye", "ami_hangup"):
                return _caller_gone(pbx, ch, legs)
            if kind == "redirect" and isinstance(payload, tuple):
                for leg in legs:
                    pbx.emit.dial_end(ch, leg, "CANCEL")
                    pbx.destroy(leg, cause=16)
                _relocate(pbx, ch, payload)
                return Flow.JUMP
            continue
        leg = src
        if leg not in legs or not leg.alive:
            continue
        if kind == "ringing":
            if not rang:
                rang = True
                elapsed = pbx.clock.now_s() - started
                pbx.set_var(ch, "RINGTIME", str(int(elapsed)))
                pbx.set_var(ch, "RINGTIME_MS", str(int(elapsed * 1000)))
            pbx.emit.dial_state(ch, leg, "RINGING")
            pbx.note_ring(ch, leg.endpoint)
            if ch.tech == "Local":
                from callcenter.pbxsim import local

                local.ringing(pbx, ch)  # the ringing shows on the other half of the pair
            else:
                # Asterisk indicates ringing to the caller: chan_pjsip refreshes the caller's device state then
                pbx.refresh_device(f"PJSIP/{ch.endpoint}")
        elif kind in ("busy", "congestion", "bye", "ami_hangup"):
            status = {"busy": "BUSY", "congestion": "CONGESTION"}.get(kind, "CANCEL")
            pbx.emit.dial_end(ch, leg, status)
            legs.remove(leg)
            failures.append(status)
            if not legs:
                final = next((f for f in ("BUSY", "CONGESTION") if f in failures), "NOANSWER")
                pbx.set_var(ch, "DIALSTATUS", final)
                if final in _FAILURE_CAUSE:
                    ch.hangup_cause, ch.tech_cause = _FAILURE_CAUSE[final]
            pbx.destroy(leg, cause=leg.hangup_cause, tech_cause=leg.tech_cause)
            if not legs:
                return Flow.NEXT
        elif kind == "answer":
            for other in legs:
                if other is not leg:
                    pbx.emit.dial_end(ch, other, "CANCEL")
                    pbx.destroy(other, cause=26)
            return await _answered(pbx, ch, leg, started=started)


def _caller_gone(pbx: Pbx, ch: Channel, legs: list[Channel]) -> Flow:
    """The caller hung up (CANCEL) while the legs were ringing."""
    for leg in legs:
        pbx.emit.dial_end(ch, leg, "CANCEL")
    pbx.set_var(ch, "DIALSTATUS", "CANCEL")
    ch.soft_hangup_done = True
    pbx.emit.soft_hangup_request(ch, cause=16, tech_cause=ch.tech_cause)
    cancelled = ch.hangup_cause == 127
    for leg in legs:
        pbx.destroy(leg, cause=127 if cancelled else 16, tech_cause=500 if cancelled else None)
    return Flow.STOP


def _relocate(pbx: Pbx, ch: Channel, target: tuple[str, str, int]) -> None:
    """AMI Redirect: the first Newexten at the new place carries the old Application/AppData (captures)."""
    ch.context, ch.exten, ch.priority = target
    pbx.emit.newexten(ch, ch.application, ch.application_data)
    ch.skip_newexten = True


async def _answered(pbx: Pbx, ch: Channel, leg: Channel, *, started: float) -> Flow:
    pbx.set_var(ch, "DIALSTATUS", "ANSWER")
    pbx.set_var(ch, "DIALEDPEERNAME", leg.name)
    pbx.set_var(ch, "DIALEDPEERNUMBER", leg.dialed)
    if ch.pending_caller is not None:
        # a Local ;2 whose ;1 went on to the transferee meanwhile: it takes the transferee's caller id now
        (ch.caller_num, ch.caller_name), ch.pending_caller = ch.pending_caller, None
        pbx.emit.newcallerid(ch)
    pbx.emit.dial_end(ch, leg, "ANSWER")
    if ch.state != UP:
        pbx.set_state(ch, UP)
    ch.hangup_cause = leg.hangup_cause = 16
    ch.tech_cause = None  # an earlier failed attempt's SIP status no longer describes the call
    answered_s = pbx.clock.now_s()
    if ch.tech == "Local":
        from callcenter.pbxsim import local

        local.answered(pbx, ch)  # the other half of the pair is answered too
    bridge = open_bridge(pbx, ch, leg, leg_newexten="AppDial")
    if ch.tech != "Local":  # a consultation is no conversation of the customer's
        customer, agent_side, agent = _sides(pbx, ch, leg)
        pbx.on_connected(customer, agent_side, agent=agent)

    def end_vars() -> None:
        now = pbx.clock.now_s()
        pbx.set_var(ch, "ANSWEREDTIME", str(int(now - answered_s)))
        pbx.set_var(ch, "ANSWEREDTIME_MS", str(int((now - answered_s) * 1000)))
        pbx.set_var(ch, "DIALEDTIME", str(int(now - started)))
        pbx.set_var(ch, "DIALEDTIME_MS", str(int((now - started) * 1000)))
        pbx.set_var(ch, "DIALSTATUS", "ANSWER")

    return await bridge_wait(pbx, ch, leg, bridge, end_vars=end_vars, on_first_signal=None)


async def bridge_wait(pbx: Pbx, x: Channel, y: Channel, bridge: Bridge, *, end_vars, on_first_signal) -> Flow:  # type: ignore[no-untyped-def]
    """Two channels talk until one hangs up or the dialplan owner ``x`` is redirected; then tear the bridge down.

    ``on_first_signal(who)`` runs before the bridge variables are cleared (app_queue's AgentComplete).
    """
    while True:
        got = await wait_signal(pbx, [x, y], None)
        if got is None:
            continue
        src, kind, payload = got
        if kind == "restart":
            return Flow.STOP
        # "ami_hangup": the Hangup action already sent SoftHangupRequest and the RTP statistics (Pbx.ami_hangup)
        if src is x and kind in ("bye", "ami_hangup"):
            if on_first_signal is not None:
                on_first_signal("caller")
            clear_bridge_vars(pbx, x, y)
            leave(pbx, bridge, x)
            end_vars()
            if not x.soft_hangup_done:
                x.soft_hangup_done = True
                pbx.emit.soft_hangup_request(x, cause=16)
            leave(pbx, bridge, y)
            pbx.emit.bridge_destroy(bridge)
            pbx.qos(y)
            pbx.destroy(y, cause=16)
            return Flow.STOP
        if src is y and kind in ("bye", "ami_hangup"):
            if on_first_signal is not None:
                on_first_signal("agent")
            clear_bridge_vars(pbx, y, x)
            leave(pbx, bridge, y)
            pbx.destroy(y, cause=16)
            leave(pbx, bridge, x)
            pbx.emit.bridge_destroy(bridge)
            end_vars()
            x.soft_hangup_done = True
            pbx.emit.soft_hangup_request(x, cause=16)
            return Flow.STOP
        if src is y and kind == "redirect" and isinstance(payload, tuple):
            # the bridged leg is sent elsewhere: it leaves with its own dialplan, the caller's Dial() is over
            clear_bridge_vars(pbx, y, x)
            leave(pbx, bridge, y)
            leave(pbx, bridge, x)
            pbx.emit.bridge_destroy(bridge)
            end_vars()
            x.soft_hangup_done = True
            pbx.emit.soft_hangup_request(x, cause=16)
            _relocate(pbx, y, payload)
            pbx.start_dialplan(y, *payload)
            return Flow.STOP
        if kind == "blind_transfer" and isinstance(payload, tuple):
            return _blind_transfer(pbx, x, y, bridge, transferer=src, target=payload, on_transfer=on_first_signal)
        if kind == "atxfer" and isinstance(payload, tuple):
            from callcenter.pbxsim import atxfer

            exten, context = payload
            if not (src is y and y.transfer_rights and pbx.config.atxfer_code):
                # no feature takes the digits: they are read and passed on (the caller-side transferer of a T
                # Dial is not modelled either)
                await atxfer.read_digits(pbx, src, x if src is y else y, pbx.config.atxfer_code + exten)
                continue
            result = await atxfer.attended_transfer(pbx, y, x, bridge, exten=exten, context=context)
            if result is None:
                end_vars()
                if not x.soft_hangup_done:
                    x.soft_hangup_done = True
                    pbx.emit.soft_hangup_request(x, cause=16)
                return Flow.STOP
            if result[0] is not y and on_first_signal is not None:
                # app_queue's handle_attended_transfer: the member's call is complete (Reason transfer), and no
                # later hangup completes it again (its stasis subscriptions are gone); not captured
                on_first_signal("transfer")
                on_first_signal = None
            y, bridge = result
            continue
        if kind == "optimized" and src is x:
            # a Local ;2 optimised away: its Dial is over, the callee now talks with someone else
            alone = x in bridge.channels  # the callee left ;2 for ;1's place (api_attended_transfer_blond)
            if alone:
                leave(pbx, bridge, x)
            end_vars()
            x.soft_hangup_done = True
            pbx.emit.soft_hangup_request(x, cause=16)
            if alone:
                pbx.emit.hangup_request(x, cause=16)  # ;1 is gone first: it hangs ;2 up
                pbx.emit.bridge_destroy(bridge)
            return Flow.STOP
        if src is x and kind == "redirect" and isinstance(payload, tuple):
            for var in ("BRIDGEPEER", "BRIDGEPVTCALLID"):
                pbx.set_var(x, var, "")
            _relocate(pbx, x, payload)
            for var in ("BRIDGEPEER", "BRIDGEPVTCALLID"):
                pbx.set_var(y, var, "")
            leave(pbx, bridge, x)
            pbx.set_var(x, "DIALSTATUS", "ANSWER")
            leave(pbx, bridge, y)
            pbx.emit.bridge_destroy(bridge)
            pbx.qos(y)
            pbx.destroy(y, cause=16)
            return Flow.JUMP


def _blind_transfer(pbx: Pbx, x: Channel, y: Channel, bridge: Bridge, *, transferer: Channel,
                    target: tuple[str, str, int], on_transfer) -> Flow:  # type: ignore[no-untyped-def]
    """AMI BlindTransfer in a two-party bridge (Operations.blind_transfer did the Unhold and the BLINDTRANSFER
    variables): the transferer leaves the bridge and hangs up; the transferee runs exten@context where its own
    dialplan was, its first Newexten there still naming the application it ran (api_blind_transfer.ami)."""
    transferee = y if transferer is x else x
    clear_peer_vars(pbx, transferer)
    pbx.emit.blind_transfer(result="Success", transferer=transferer, transferee=transferee, bridge=bridge,
                            num_channels=len(bridge.channels), context=target[0], exten=target[1])
    if on_transfer is not None:
        on_transfer("transfer")  # app_queue's handle_blind_transfer: AgentComplete Reason transfer (not captured)
    leave(pbx, bridge, transferer)
    clear_peer_vars(pbx, transferee)
    _relocate(pbx, transferee, target)
    leave(pbx, bridge, transferee)
    pbx.emit.bridge_destroy(bridge)
    pbx.qos(transferer)
    if transferee is x:
        pbx.set_var(x, "DIALSTATUS", "ANSWER")  # Dial() returns into the dialplan at the new place
        pbx.destroy(transferer, cause=16)
        return Flow.JUMP
    # the transferer owns the dialplan (its Dial called the transferee): the transferee gets a thread of its own
    pbx.start_dialplan(y, *target)
    x.soft_hangup_done = True
    pbx.emit.soft_hangup_request(x, cause=16)
    return Flow.STOP
