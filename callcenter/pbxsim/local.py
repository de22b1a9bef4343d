"""core_local.c: the Local channel pair bridge_basic dials for an attended transfer (``Local/1003@cc-agents-...;1``
and ``;2``), as far as the captures show it (tests/data/ami-traces/api_attended_transfer*.ami).

``;2`` runs exten@context in the dialplan (its Dial rings the colleague); ``;1`` stands for it in the transferer's
consultation bridge. What happens to ``;2`` shows on ``;1``: the colleague's ringing (Newstate Ringing, NewCallerid,
a DialState without a caller), the answer (Newstate Up, DialEnd ANSWER, the bridge variables again), the hangup
(CHANLOCALSTATUS, HangupRequest). Local channels have no RTP (no RTPAUDIOQOS) and no SIP Call-ID (no
BRIDGEPVTCALLID towards them); their device ``Local/exten@context`` changes with every state change of either half.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from callcenter.pbxsim.channels import DOWN, RING, RINGING, UP, Channel
from callcenter.pbxsim.dial import set_peer_vars

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["LOCAL", "answered", "create_pair", "dial_begun", "gone", "is_local", "ringing"]

LOCAL: Final = "Local"


def is_local(ch: Channel) -> bool:
    return ch.tech == LOCAL


def create_pair(pbx: Pbx, *, exten: str, context: str, linkedid: str) -> tuple[Channel, Channel]:
    """Newchannel ;1 (Down) and ;2 (Ring), both at exten@context, in the call of ``linkedid``."""
    resource = f"{exten}@{context}"
    names = pbx.ids.local_names(resource)
    one, two = (pbx.new_channel(endpoint=resource, state=state, caller_num=None, caller_name=None, context=context,
                                exten=exten, linkedid=linkedid, name=name, tech=LOCAL)
                for name, state in zip(names, (DOWN, RING)))
    one.local_partner, two.local_partner = two, one
    return one, two


def _device(ch: Channel) -> str:
    return f"{LOCAL}/{ch.endpoint}"


def dial_begun(pbx: Pbx, two: Channel, callee: Channel) -> None:
    """;2's Dial named its callee: the connected line crosses to whoever talks with ;1 (the transferer)."""
    two.local_callee = callee
    one = two.local_partner
    if one is None or one.bridge is None:
        return
    for peer in one.bridge.channels:
        if peer is not one:
            peer.connected_num, peer.connected_name = two.connected_num, two.connected_name
            pbx.emit.new_connected_line(peer)


def ringing(pbx: Pbx, two: Channel) -> None:
    """;2's callee rings: ;1 rings, with the callee's caller id, and its dial shows as a DialState of its own."""
    one = two.local_partner
    if one is None or not one.alive:
        return
    one.caller_num, one.caller_name = two.connected_num, two.connected_name
    pbx.set_state(one, RINGING)
    pbx.emit.newcallerid(one)
    pbx.emit.dial_state(None, one, "RINGING")
    pbx.emit.device_state_change(_device(one), "INUSE")


def answered(pbx: Pbx, two: Channel) -> None:
    """;2's callee answered (;2 is Up): ;1 is Up, its dial ends ANSWER, its bridge sets the peer variables again."""
    one = two.local_partner
    pbx.emit.device_state_change(_device(two), "INUSE")
    if one is None or not one.alive:
        return
    pbx.set_state(one, UP)
    pbx.emit.device_state_change(_device(one), "INUSE")
    pbx.emit.dial_end(None, one, "ANSWER")
    if one.bridge is not None:
        for peer in one.bridge.channels:
            if peer is not one:
                set_peer_vars(pbx, one, peer)
                set_peer_vars(pbx, peer, one)
    one.signal("local_answer")


def gone(pbx: Pbx, ch: Channel) -> None:
    """One half hung up: the device changes, and the other half is asked to hang up (its owner does the rest)."""
    pbx.emit.device_state_change(_device(ch), "NOT_INUSE")
    partner = ch.local_partner
    if partner is None or not partner.alive or partner.has("bye"):
        return
    status = ch.variables.get("DIALSTATUS")
    if status:
        pbx.set_var(partner, "CHANLOCALSTATUS", status)
    partner.hangup_cause = 16
    pbx.emit.hangup_request(partner, cause=16)
    partner.signal("bye")
