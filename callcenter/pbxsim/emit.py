"""One method per AMI event the simulator sends, with the header names, order and value formats of the captures.

Header order and spelling come from tests/data/ami-traces (EVENTS_CATALOG.md); the fidelity test checks them
against every covered capture, so change them only together with that test.
"""

from __future__ import annotations

from typing import Final

from callcenter.pbxsim.channels import Bridge, Channel, bridge_block, channel_block
from callcenter.pbxsim.wire import (
    PRIV_AGENT,
    PRIV_AGI,
    PRIV_CALL,
    PRIV_DIALPLAN,
    PRIV_SYSTEM,
    EventBus,
    Headers,
)

__all__ = ["CAUSE_TEXT", "Emitter"]

CAUSE_TEXT: Final = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
    127: "Interworking, unspecified",
}

# RTP statistics Asterisk stores on a channel when its RTP session ends (values shaped like the captures').
_QOS_JITTER: Final = (
    "minrxjitter=000.000000;maxrxjitter=000.000500;avgrxjitter=000.000247;stdevrxjitter=000.000087;"
    "mintxjitter=000.000000;maxtxjitter=000.000000;avgtxjitter=000.000000;stdevtxjitter=000.000000;"
)
_QOS_LOSS: Final = (
    "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;"
    "  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;"
)
_QOS_RTT: Final = "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     stdevrtt=000.000000;"
_QOS_MES: Final = (
    "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   stdevrxmes=000.000000;"
    "   mintxmes=000.000000;   maxtxmes=000.000000;   avgtxmes=000.000000;   stdevtxmes=000.000000;"
)


_C_ESCAPES: Final = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                     "\v": "\\v", "\\": "\\\\", "'": "\\'", '"': '\\"', "?": "\\?"}


def _escape_c(value: str) -> str:
    """main/utils.c ast_escape_c: control characters, backslash, quotes and ? written as C escapes."""
    return "".join(_C_ESCAPES.get(ch, ch) for ch in value)


def _prefixed(headers: Headers, prefix: str) -> Headers:
    return [(prefix + key, value) for key, value in headers]


class Emitter:
    def __init__(self, *, bus: EventBus) -> None:
        self.bus = bus

    def _chan(self, name: str, ch: Channel, extra: Headers = (), privilege: str = PRIV_CALL) -> None:  # type: ignore[assignment]
        self.bus.emit(name, privilege, [*channel_block(ch), *extra])

    # -- channel lifecycle --------------------------------------------------------------------------------------

    def newchannel(self, ch: Channel) -> None:
        self._chan("Newchannel", ch)

    def newstate(self, ch: Channel) -> None:
        self._chan("Newstate", ch)

    def newcallerid(self, ch: Channel) -> None:
        self._chan("NewCallerid", ch, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])

    def new_connected_line(self, ch: Channel) -> None:
        self._chan("NewConnectedLine", ch)

    def varset(self, ch: Channel, variable: str, value: str) -> None:
        # stasis_channels.c varset_to_ami: the value C-escaped (ast_escape_c_alloc)
        self._chan("VarSet", ch, [("Variable", variable), ("Value", _escape_c(value))], PRIV_DIALPLAN)

    def varset_global(self, variable: str, value: str) -> None:
        """A global variable set (pbx_builtin_setvar_helper with no channel: [globals] at a dialplan load, Setvar
        without Channel): main/stasis_channels.c varset_to_ami writes ``Channel: none`` / ``Uniqueid: none`` in place
        of the channel block, and the value C-escaped (ast_escape_c_alloc)."""
        self.bus.emit("VarSet", PRIV_DIALPLAN, [("Channel", "none"), ("Uniqueid", "none"), ("Variable", variable),
                                                 ("Value", _escape_c(value))])

    def newexten(self, ch: Channel, app: str, data: str) -> None:
        self._chan("Newexten", ch, [("Extension", ch.exten), ("Application", app), ("AppData", data)], PRIV_DIALPLAN)

    def hangup_request(self, ch: Channel, *, cause: int | None, tech_cause: int | None = None) -> None:
        extra: Headers = []
        if cause is not None:
            extra.append(("Cause", str(cause)))
        if tech_cause is not None:
            extra.append(("TechCause", str(tech_cause)))
        self._chan("HangupRequest", ch, extra)

    def soft_hangup_request(self, ch: Channel, *, cause: int, tech_cause: int | None = None) -> None:
        extra: Headers = [("Cause", str(cause))]
        if tech_cause is not None:
            extra.append(("TechCause", str(tech_cause)))
        self._chan("SoftHangupRequest", ch, extra)

    def hangup(self, ch: Channel, *, cause: int, tech_cause: int | None = None) -> None:
        extra: Headers = [("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))]
        if tech_cause is not None:
            extra.append(("TechCause", str(tech_cause)))
        self._chan("Hangup", ch, extra)

    def rtp_qos(self, ch: Channel, peer: Channel | None, *, seconds: float, ssrc: int, peer_ssrc: int) -> None:
        """The RTPAUDIOQOS* variables set when a channel's RTP ends; a bridged peer gets the *BRIDGED copies."""
        count = max(0, int(seconds * 50))
        summary = (
            f"ssrc={ssrc};themssrc={peer_ssrc};lp=0;rxjitter=0.000000;rxcount={count};txjitter=0.000125;"
            f"txcount={count};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=88.087887"
        )
        for name, value in (
            ("RTPAUDIOQOS", summary),
            ("RTPAUDIOQOSJITTER", _QOS_JITTER),
            ("RTPAUDIOQOSLOSS", _QOS_LOSS),
            ("RTPAUDIOQOSRTT", _QOS_RTT),
            ("RTPAUDIOQOSMES", _QOS_MES),
        ):
            self.varset(ch, name, value)
            if peer is not None:
                self.varset(peer, name + "BRIDGED", value)

    # -- apps ---------------------------------------------------------------------------------------------------

    def mixmonitor_start(self, ch: Channel) -> None:
        self._chan("MixMonitorStart", ch)

    def agi_exec_start(self, ch: Channel, command_id: str, command: str) -> None:
        self._chan("AGIExecStart", ch, [("CommandId", command_id), ("Command", command)], PRIV_AGI)

    def agi_exec_end(self, ch: Channel, command_id: str, command: str, result_code: int, result: str) -> None:
        self._chan(
            "AGIExecEnd",
            ch,
            [("CommandId", command_id), ("Command", command), ("ResultCode", str(result_code)), ("Result", result)],
            PRIV_AGI,
        )

    def music_on_hold_start(self, ch: Channel, klass: str) -> None:
        self._chan("MusicOnHoldStart", ch, [("Class", klass)])

    def music_on_hold_stop(self, ch: Channel) -> None:
        self._chan("MusicOnHoldStop", ch)

    def user_event(self, ch: Channel, name: str, fields: Headers) -> None:
        self.bus.emit("UserEvent", "user,all", [*channel_block(ch), ("UserEvent", name), *fields])

    # -- dial ---------------------------------------------------------------------------------------------------

    def _dial(self, name: str, caller: Channel | None, dest: Channel, extra: Headers) -> None:
        head = channel_block(caller) if caller is not None else []
        self.bus.emit(name, PRIV_CALL, [*head, *channel_block(dest, "Dest"), *extra])

    def dial_begin(self, caller: Channel | None, dest: Channel, dial_string: str) -> None:
        self._dial("DialBegin", caller, dest, [("DialString", dial_string)])

    def dial_state(self, caller: Channel | None, dest: Channel, status: str) -> None:
        self._dial("DialState", caller, dest, [("DialStatus", status)])

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        self._dial("DialEnd", caller, dest, [("DialStatus", status)])

    # -- bridges ------------------------------------------------------------------------------------------------

    def bridge_create(self, bridge: Bridge) -> None:
        self.bus.emit("BridgeCreate", PRIV_CALL, bridge_block(bridge, 0))

    def bridge_destroy(self, bridge: Bridge) -> None:
        self.bus.emit("BridgeDestroy", PRIV_CALL, bridge_block(bridge, 0))

    def bridge_enter(self, bridge: Bridge, ch: Channel, swap: Channel | None = None) -> None:
        """``swap``: the channel ``ch`` took the place of (a Local optimisation): SwapUniqueid names it."""
        extra: Headers = [("SwapUniqueid", swap.uniqueid)] if swap is not None else []
        self.bus.emit("BridgeEnter", PRIV_CALL, [*bridge_block(bridge, len(bridge.channels)), *channel_block(ch),
                                                 *extra])

    def bridge_leave(self, bridge: Bridge, ch: Channel) -> None:
        self.bus.emit("BridgeLeave", PRIV_CALL, [*bridge_block(bridge, len(bridge.channels)), *channel_block(ch)])

    # -- transfers (main/stasis_bridges.c blind_transfer_to_ami; stasis_channels.c hold/unhold) ---------------------

    def unhold(self, ch: Channel) -> None:
        self._chan("Unhold", ch)

    def hold(self, ch: Channel) -> None:
        """stasis_channels.c: Hold without MusicClass (bridge_basic puts the transferee on hold, no class)."""
        self._chan("Hold", ch)

    def dtmf_end(self, ch: Channel, digit: str, *, direction: str = "Received", duration_ms: int = 0) -> None:
        """A DTMF END frame read on ``ch`` (AMI Atxfer queues END frames only: no DTMFBegin, DurationMs 0), or
        written to it (Sent: the bridge plays the digit to the other party, 100 ms long)."""
        self._chan("DTMFEnd", ch, [("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", direction)],
                   "dtmf,all")

    def dtmf_begin(self, ch: Channel, digit: str) -> None:
        self._chan("DTMFBegin", ch, [("Digit", digit), ("Direction", "Sent")], "dtmf,all")

    def local_bridge(self, one: Channel, two: Channel, *, context: str, exten: str) -> None:
        self.bus.emit("LocalBridge", PRIV_CALL, [*channel_block(one, "LocalOne"), *channel_block(two, "LocalTwo"),
                                                 ("Context", context), ("Exten", exten), ("LocalOptimization", "Yes")])

    def local_optimization_begin(self, one: Channel, two: Channel, *, source: Channel, dest_uniqueid: str) -> None:
        self.bus.emit("LocalOptimizationBegin", PRIV_CALL, [
            *channel_block(one, "LocalOne"), *channel_block(two, "LocalTwo"), *channel_block(source, "Source"),
            ("DestUniqueId", dest_uniqueid), ("Id", "0")])

    def local_optimization_end(self, one: Channel, two: Channel) -> None:
        # core_local.c publishes Success: No when the swap was done by the bridge, as in api_attended_transfer.ami
        self.bus.emit("LocalOptimizationEnd", PRIV_CALL, [*channel_block(one, "LocalOne"),
                                                          *channel_block(two, "LocalTwo"), ("Success", "No"),
                                                          ("Id", "0")])

    def bridge_merge(self, to: Bridge, to_count: int, source: Bridge, source_count: int) -> None:
        self.bus.emit("BridgeMerge", PRIV_CALL, [*_prefixed(bridge_block(to, to_count), "To"),
                                                 *_prefixed(bridge_block(source, source_count), "From")])

    def attended_transfer(self, *, transferer: Channel, orig_bridge: Bridge, orig_count: int, second: Channel,
                          second_bridge: Bridge, second_count: int, transferee: Channel, dest_bridge: Bridge) -> None:
        """stasis_bridges.c attended_transfer_to_ami, a transfer completed by merging the consultation bridge into
        the transferee's (DestType Bridge; IsExternal No: the bridge's own DTMF feature)."""
        self.bus.emit("AttendedTransfer", PRIV_CALL, [
            ("Result", "Success"), *channel_block(transferer, "OrigTransferer"),
            *_prefixed(bridge_block(orig_bridge, orig_count), "Orig"), *channel_block(second, "SecondTransferer"),
            *_prefixed(bridge_block(second_bridge, second_count), "Second"), *channel_block(transferee, "Transferee"),
            ("IsExternal", "No"), ("DestType", "Bridge"), ("DestBridgeUniqueid", dest_bridge.uniqueid)])

    def blind_transfer(self, *, result: str, transferer: Channel, transferee: Channel | None,
                       bridge: Bridge | None, num_channels: int, context: str, exten: str) -> None:
        """BlindTransfer: the Transferer block, the Transferee's and the bridge's when there were any, then the
        target. IsExternal is Yes: AMI BlindTransfer calls ast_bridge_transfer_blind(1, ...)."""
        headers: Headers = [("Result", result), *channel_block(transferer, "Transferer")]
        if transferee is not None:
            headers += channel_block(transferee, "Transferee")
        if bridge is not None:
            headers += bridge_block(bridge, num_channels)
        headers += [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
        self.bus.emit("BlindTransfer", PRIV_CALL, headers)

    # -- devices, queues, system --------------------------------------------------------------------------------

    def device_state_change(self, device: str, state: str) -> None:
        self.bus.emit("DeviceStateChange", PRIV_CALL, [("Device", device), ("State", state)])

    def extension_status(self, *, exten: str, context: str, hint: str, status: int, text: str) -> None:
        # manager.c manager_state_cb, EVENT_FLAG_CALL
        self.bus.emit("ExtensionStatus", PRIV_CALL, [("Exten", exten), ("Context", context), ("Hint", hint),
                                                     ("Status", str(status)), ("StatusText", text)])

    def queue_caller(self, name: str, ch: Channel, extra: Headers) -> None:
        self.bus.emit(name, PRIV_AGENT, [*channel_block(ch), *extra])

    def agent_event(self, name: str, caller: Channel, dest: Channel, extra: Headers) -> None:
        self.bus.emit(name, PRIV_AGENT, [*channel_block(caller), *channel_block(dest, "Dest"), *extra])

    def queue_member_event(self, name: str, fields: Headers) -> None:
        self.bus.emit(name, PRIV_AGENT, fields)

    def chanspy_start(self, spyer: Channel, spyee: Channel) -> None:
        # Not in the captures: the Asterisk 20 AMI event docs (Spyer*/Spyee* snapshot blocks, class call).
        self.bus.emit("ChanSpyStart", PRIV_CALL, [*channel_block(spyer, "Spyer"), *channel_block(spyee, "Spyee")])

    def chanspy_stop(self, spyer: Channel) -> None:
        # app_chanspy publishes the stop with the spyer only (the spyee may be gone), whatever the docs list.
        self.bus.emit("ChanSpyStop", PRIV_CALL, channel_block(spyer, "Spyer"))

    def originate_response(self, fields: Headers) -> None:
        self.bus.emit("OriginateResponse", PRIV_CALL, fields)

    def peer_status(self, endpoint: str, status: str) -> None:
        self.bus.emit("PeerStatus", PRIV_SYSTEM, [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{endpoint}"),
                                                   ("PeerStatus", status)])

    def contact_status(self, uri: str, status: str, endpoint: str) -> None:
        self.bus.emit("ContactStatus", PRIV_SYSTEM, [("URI", uri), ("ContactStatus", status), ("AOR", endpoint),
                                                      ("EndpointName", endpoint), ("RoundtripUsec", "0")])

    def shutdown(self, *, restart: bool) -> None:
        self.bus.emit("Shutdown", PRIV_SYSTEM, [("Shutdown", "Cleanly"), ("Restart", "True" if restart else "False")])

    def reload(self, module: str, *, status: int = 0) -> None:
        self.bus.emit("Reload", PRIV_SYSTEM, [("Module", module), ("Status", str(status))])
