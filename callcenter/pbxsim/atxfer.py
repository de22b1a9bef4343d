"""AMI Atxfer in a two-party bridge, as Asterisk 20 carries it out (manager.c action_atxfer, bridge_basic.c's
attended transfer, core_local.c; tests/data/ami-traces/api_attended_transfer*.ami).

The action only queues DTMF on the transferer's channel: the features.conf atxfer code, then the extension. A
transferer with transfer rights (Dial/Queue option t for the called party) starts the bridge's attended transfer:
the transferee is put on hold, the transferer moves into a consultation bridge with ``Local/exten@context;1``, whose
``;2`` runs the dialplan (cc-agents: Dial the colleague). Then:

* the transferer hangs up: the consultation bridge merges into the transferee's (BridgeMerge, AttendedTransfer
  Success), the transferer hangs up, and the Local pair optimises itself away once the colleague is on the line
  (LocalOptimizationBegin/End): the transferee and the colleague share the colleague's bridge; when the colleague
  still rang ('blond'), the transferer's channel is held until the answer and the colleague takes ;1's place in
  the transferee's bridge instead;
* the colleague's side hangs up (;2 then ;1): the transferer goes back to the transferee (Unhold), no event says
  "transfer".

Without transfer rights the digits are read (DTMFEnd Received) and played to the other party (DTMFBegin/DTMFEnd
Sent); nothing else happens (api_atxfer_no_rights).
Not modelled (no capture): the atxferabort/complete/threeway codes during a consultation, atxfernoanswertimeout
(the shipped 20 s equals cc-agents' Dial timeout, whose end hangs up ;2 and aborts the same way), the transferee
hanging up during the consultation (the consultation then ends with it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from callcenter.pbxsim import local
from callcenter.pbxsim.channels import UP, Bridge, Channel
from callcenter.pbxsim.dial import clear_peer_vars, join, leave, set_peer_vars
from callcenter.pbxsim.flow import wait_signal

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["attended_transfer", "load_atxfer_code", "read_digits"]

# Gaps between the DTMF frames as the capture shows them: the feature code's digits 145 ms apart, the hold 100 ms
# after the code, the extension's digits 45 ms apart; the Local channel is requested at the last digit.
_CODE_GAP_S: Final = 0.145
_HOLD_AFTER_S: Final = 0.1
_DIGIT_GAP_S: Final = 0.045
_OPTIMIZE_AFTER_S: Final = 0.013  # the Local pair notices it can go, after the merge
_RELAY_START_S: Final = 0.001  # a digit passed through starts on the other side this much later
_RELAY_LENGTH_S: Final = 0.099  # and lasts 100 ms (DurationMs 100)


def load_atxfer_code(features_conf: Path | None) -> str:
    """[featuremap] atxfer of features.conf ('' when there is none: Asterisk's default)."""
    if features_conf is None or not features_conf.exists():
        return ""
    section = ""
    for raw in features_conf.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if m := re.match(r"^\[([^\]]+)\]", line):
            section = m.group(1).strip()
        elif section == "featuremap" and (m := re.match(r"^atxfer\s*=>?\s*(.*)$", line)):
            return m.group(1).strip()
    return ""


async def read_digits(pbx: Pbx, ch: Channel, peer: Channel | None, digits: str) -> None:
    """The DTMF END frames Atxfer queued, where no feature takes them (no transfer rights): read on ``ch`` 145 ms
    apart, each played to the bridge peer as a 100 ms digit (DTMFBegin/DTMFEnd Sent; api_atxfer_no_rights)."""
    for i, digit in enumerate(digits):
        if i:
            await pbx.clock.sleep(_CODE_GAP_S - _RELAY_START_S - _RELAY_LENGTH_S)
        pbx.emit.dtmf_end(ch, digit)
        if peer is None or not peer.alive:
            await pbx.clock.sleep(_RELAY_START_S + _RELAY_LENGTH_S)
            continue
        await pbx.clock.sleep(_RELAY_START_S)
        pbx.emit.dtmf_begin(peer, digit)
        await pbx.clock.sleep(_RELAY_LENGTH_S)
        pbx.emit.dtmf_end(peer, digit, direction="Sent", duration_ms=100)


async def attended_transfer(pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, *, exten: str,
                            context: str) -> tuple[Channel, Bridge] | None:
    """Run the transfer from the DTMF on. Returns who the transferee talks with at the end and in which bridge (the
    colleague in theirs, or the transferer back in the original one); None when the transferee is gone."""
    for i, digit in enumerate(pbx.config.atxfer_code):
        if i:
            await pbx.clock.sleep(_CODE_GAP_S)
        pbx.emit.dtmf_end(transferer, digit)
    await pbx.clock.sleep(_HOLD_AFTER_S)
    pbx.emit.hold(transferer)
    transferee.on_hold = True
    pbx.refresh_device(f"PJSIP/{transferee.endpoint}")
    for digit in exten:
        await pbx.clock.sleep(_DIGIT_GAP_S)
        pbx.emit.dtmf_end(transferer, digit)
    one, two = local.create_pair(pbx, exten=exten, context=context, linkedid=transferer.linkedid)
    consult = _consultation(pbx, transferer, bridge, one, two, exten=exten, context=context)
    while True:
        got = await wait_signal(pbx, [transferer, one, transferee], None)
        if got is None:
            continue
        src, kind, _ = got
        if kind == "restart":
            return None
        if src is transferer and kind in ("bye", "ami_hangup"):
            return await _complete(pbx, transferer, transferee, bridge, consult, one, two)
        if src is one and kind == "bye":
            return _abort(pbx, transferer, transferee, bridge, consult, one)
        if src is transferee and kind in ("bye", "ami_hangup"):
            _transferee_gone(pbx, transferer, transferee, bridge, consult, one)
            return None


def _consultation(pbx: Pbx, transferer: Channel, bridge: Bridge, one: Channel, two: Channel, *, exten: str,
                  context: str) -> Bridge:
    for ch in (one, two):
        names = ("TRANSFERERNAME", "ATTENDEDTRANSFER") if ch is one else ("ATTENDEDTRANSFER", "TRANSFERERNAME")
        for name in names:
            pbx.set_var(ch, name, transferer.name)
        if ch is one:
            consult = Bridge(uniqueid=pbx.ids.uuid())
            pbx.emit.bridge_create(consult)
    two.caller_num, two.caller_name = transferer.caller_num, transferer.caller_name
    pbx.emit.newcallerid(two)
    pbx.emit.local_bridge(one, two, context=context, exten=exten)
    one.connected_num, one.connected_name = transferer.caller_num, transferer.caller_name
    pbx.emit.new_connected_line(one)
    join(pbx, consult, one)
    pbx.start_dialplan(two, context, exten, 1)
    leave(pbx, bridge, transferer)
    join(pbx, consult, transferer)
    set_peer_vars(pbx, one, transferer)
    set_peer_vars(pbx, transferer, one)
    transferer.connected_num, transferer.connected_name = one.caller_num, one.caller_name
    pbx.emit.new_connected_line(transferer)
    return consult


async def _complete(pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, consult: Bridge,
                    one: Channel, two: Channel) -> tuple[Channel, Bridge] | None:
    """The transferer hung up: bridge_basic merges the consultation into the transferee's bridge."""
    if one.state != UP:
        return await _complete_ringing(pbx, transferer, transferee, bridge, consult, one, two)
    _merge(pbx, transferer, transferee, bridge, consult, one)
    pbx.emit.bridge_destroy(consult)
    pbx.destroy(transferer, cause=16)
    one.connected_num, one.connected_name = transferee.caller_num, transferee.caller_name
    pbx.emit.new_connected_line(one)
    transferee.connected_num, transferee.connected_name = one.caller_num, one.caller_name
    pbx.emit.new_connected_line(transferee)
    far = _far_side(two)
    if far is not None:
        far.connected_num, far.connected_name = transferee.caller_num, transferee.caller_name
        pbx.emit.new_connected_line(far)
    await pbx.clock.sleep(_OPTIMIZE_AFTER_S)
    return await _optimize(pbx, transferee, bridge, one, two)


def _merge(pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, consult: Bridge,
           one: Channel) -> None:
    """The consultation bridge merges into the transferee's: ;1 takes the transferer's place there."""
    clear_peer_vars(pbx, transferer)
    transferee.on_hold = False
    pbx.refresh_device(f"PJSIP/{transferee.endpoint}")
    leave(pbx, consult, transferer)
    pbx.emit.bridge_merge(bridge, len(bridge.channels), consult, len(consult.channels))
    leave(pbx, consult, one)
    join(pbx, bridge, one)
    set_peer_vars(pbx, transferee, one)
    set_peer_vars(pbx, one, transferee)
    pbx.emit.attended_transfer(transferer=transferer, orig_bridge=bridge, orig_count=len(bridge.channels),
                               second=transferer, second_bridge=consult, second_count=len(consult.channels),
                               transferee=transferee, dest_bridge=bridge)


async def _complete_ringing(pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, consult: Bridge,
                            one: Channel, two: Channel) -> tuple[Channel, Bridge] | None:
    """The 'blond' transfer: the transferer hung up while the colleague still rings. The merge and AttendedTransfer
    happen at once, but Asterisk holds the transferer's channel (and the empty consultation bridge) until the
    colleague answers; then the colleague takes ;1's place beside the transferee (api_attended_transfer_blond)."""
    _merge(pbx, transferer, transferee, bridge, consult, one)
    transferee.connected_num, transferee.connected_name = one.caller_num, one.caller_name
    pbx.emit.new_connected_line(transferee)
    one.connected_num, one.connected_name = transferee.caller_num, transferee.caller_name
    pbx.emit.new_connected_line(one)
    callee = two.local_callee
    if callee is not None and callee.alive:
        callee.connected_num, callee.connected_name = transferee.caller_num, transferee.caller_name
        pbx.emit.new_connected_line(callee)
    two.pending_caller = (transferee.caller_num, transferee.caller_name)
    while one.state != UP or _far_side(two) is None:
        got = await wait_signal(pbx, [one, transferee], None)
        if got is None:
            continue
        src, kind, _ = got
        if kind == "restart":
            return None
        if (src is one and kind == "bye") or (src is transferee and kind in ("bye", "ami_hangup")):
            # nobody answered, or the transferee left: what is left ends (not captured)
            pbx.emit.bridge_destroy(consult)
            pbx.destroy(transferer, cause=16)
            _transferee_gone(pbx, None, transferee, bridge, None, one)
            return None
    pbx.emit.bridge_destroy(consult)
    pbx.destroy(transferer, cause=16)
    far, far_bridge = _far_side(two), two.bridge
    assert far is not None and far_bridge is not None
    pbx.emit.local_optimization_begin(one, two, source=far, dest_uniqueid=two.uniqueid)
    leave(pbx, far_bridge, far)
    clear_peer_vars(pbx, one)
    leave(pbx, bridge, one)
    join(pbx, bridge, far, swap=one)
    set_peer_vars(pbx, transferee, far)
    set_peer_vars(pbx, far, transferee)
    clear_peer_vars(pbx, two)
    pbx.emit.local_optimization_end(one, two)
    one.local_partner = two.local_partner = None  # each half hangs up on its own now
    two.signal("optimized")
    pbx.destroy(one, cause=16)
    return far, bridge


def _far_side(two: Channel) -> Channel | None:
    """Who ;2 talks with in its own bridge (the colleague), once answered."""
    if two.bridge is None:
        return None
    return next((c for c in two.bridge.channels if c is not two), None)


async def _optimize(pbx: Pbx, transferee: Channel, bridge: Bridge, one: Channel, two: Channel,
                    ) -> tuple[Channel, Bridge] | None:
    """core_local.c optimisation: the transferee takes ;2's place beside the colleague; both halves hang up."""
    far_bridge = two.bridge
    far = _far_side(two)
    if far_bridge is None or far is None:
        return None
    pbx.emit.local_optimization_begin(one, two, source=transferee, dest_uniqueid=two.uniqueid)
    leave(pbx, bridge, transferee)
    clear_peer_vars(pbx, two)
    two.caller_num, two.caller_name = transferee.caller_num, transferee.caller_name
    pbx.emit.newcallerid(two)
    leave(pbx, far_bridge, two)
    join(pbx, far_bridge, transferee, swap=two)
    set_peer_vars(pbx, far, transferee)
    set_peer_vars(pbx, transferee, far)
    clear_peer_vars(pbx, one)
    pbx.emit.local_optimization_end(one, two)
    two.signal("optimized")  # ;2's Dial is over (its dialplan hangs ;2 up, which hangs ;1 up)
    while one.alive:
        got = await wait_signal(pbx, [one], None)
        if got is not None and got[1] in ("bye", "restart"):
            break
    leave(pbx, bridge, one)
    pbx.emit.bridge_destroy(bridge)
    pbx.destroy(one, cause=16)
    return far, far_bridge


def _abort(pbx: Pbx, transferer: Channel, transferee: Channel, bridge: Bridge, consult: Bridge,
           one: Channel) -> tuple[Channel, Bridge]:
    """The colleague's side hung up: the transferer is back with the transferee, off hold."""
    clear_peer_vars(pbx, one)
    leave(pbx, consult, one)
    leave(pbx, consult, transferer)
    join(pbx, bridge, transferer)
    set_peer_vars(pbx, transferee, transferer)
    set_peer_vars(pbx, transferer, transferee)
    pbx.emit.unhold(transferer)
    transferee.on_hold = False
    pbx.refresh_device(f"PJSIP/{transferee.endpoint}")
    pbx.emit.bridge_destroy(consult)
    pbx.destroy(one, cause=16)
    transferer.connected_num, transferer.connected_name = transferee.caller_num, transferee.caller_name
    pbx.emit.new_connected_line(transferer)
    return transferer, bridge


def _transferee_gone(pbx: Pbx, transferer: Channel | None, transferee: Channel, bridge: Bridge,
                     consult: Bridge | None, one: Channel) -> None:
    """The transferee hung up mid-transfer: it leaves its bridge (the caller's dialplan ends it); whatever is left
    of the consultation is hung up with it (not captured: a simplification)."""
    leave(pbx, bridge, transferee)
    if not bridge.channels or bridge.channels == [one]:
        leave(pbx, bridge, one)
        pbx.emit.bridge_destroy(bridge)
    if transferer is not None and transferer.alive:
        if consult is not None:
            leave(pbx, consult, transferer)
        pbx.qos(transferer)
        pbx.destroy(transferer, cause=16)
    if consult is not None:
        leave(pbx, consult, one)
        pbx.emit.bridge_destroy(consult)
    if one.alive:
        partner = one.local_partner
        pbx.destroy(one, cause=16)
        if partner is not None and partner.alive:
            partner.signal("bye")
