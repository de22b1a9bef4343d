"""Attended transfers: a consultation is not a transfer until Asterisk completes it (AttendedTransfer Result:
Success, or the transferring agent hanging up while the consulted one is on: bridge_basic.c completes the transfer
then). The consulted agent of an aborted transfer never talked with the customer: not in agents_talked, no wrap-up
booked on the customer's call. Frames follow Asterisk 20's shapes: the consultation runs through
Local/<exten>@cc-agents (AMI Atxfer / the atxfer feature), every leg inheriting the customer call's Linkedid."""

from __future__ import annotations

from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentState, AgentStateChanged, CallTransferred
from tests.calls.test_synthetic import Pbx

WRAPUP_S = 10.0


def answered_call() -> Pbx:
    """Customer 9.1 (trunk) answered by 1002 (9.2), as Dial() shows it."""
    pbx = Pbx()
    pbx.tracker = CallTracker(wrapup_s=WRAPUP_S)
    pbx.new("PJSIP/trunk-00000001", "9.1", "9.1", state=4, caller="+12125550199", exten="8001", context="from-trunk")
    pbx.new("PJSIP/1002-00000002", "9.2", "9.1", state=0, caller="1002")
    pbx.dial_begin("9.1", "9.2", "1002")
    pbx.state("9.2", 5)
    pbx.state("9.2", 6, dt=2.0)
    pbx.dial_end("9.1", "9.2", "ANSWER")
    pbx.state("9.1", 6)
    return pbx


def consult_1003(pbx: Pbx, *, answer: bool = True) -> None:
    """1002 starts an attended transfer to 1003: Local pair, then the Local's Dial rings 1003."""
    pbx.new("Local/1003@cc-agents-00000001;1", "9.3", "9.1", state=0, caller="1002", exten="1003", context="cc-agents")
    pbx.new("Local/1003@cc-agents-00000001;2", "9.4", "9.1", state=4, caller="1002", exten="1003", context="cc-agents")
    pbx.t += 5.0
    pbx.new("PJSIP/1003-00000003", "9.5", "9.1", state=0, caller="1003")
    pbx.dial_begin("9.4", "9.5", "PJSIP/1003")
    pbx.state("9.5", 5)
    if answer:
        pbx.state("9.5", 6, dt=3.0)
        pbx.dial_end("9.4", "9.5", "ANSWER")
        pbx.state("9.4", 6)
        pbx.state("9.3", 6)


def attended_transfer(pbx: Pbx, result: str = "Success") -> None:
    pbx.send({
        "Event": "AttendedTransfer", "Result": result,
        **pbx.block("9.2", "OrigTransferer"), **pbx.block("9.2", "SecondTransferer"),
        **pbx.block("9.1", "Transferee"), **pbx.block("9.3", "TransferTarget"),
        "IsExternal": "No", "DestType": "Bridge", "DestBridgeUniqueid": "b-1",
    })


def customer_hangs_up(pbx: Pbx, agent_uid: str) -> None:
    pbx.hangup_request("9.1")
    pbx.hangup("9.1", dt=30.0)
    pbx.hangup(agent_uid)


def wrapups(pbx: Pbx, agent: str) -> list[AgentStateChanged]:
    return [e for e in pbx.domain if isinstance(e, AgentStateChanged) and e.agent == agent
            and e.state is AgentState.WRAP_UP]


def test_consulted_agent_hanging_up_is_no_transfer() -> None:
    pbx = answered_call()
    consult_1003(pbx)
    assert not [e for e in pbx.domain if isinstance(e, CallTransferred)]  # answering the consultation is no transfer
    assert pbx.tracker.agent_states()["1003"][0] == "talking"  # busy with the colleague meanwhile
    pbx.hangup_request("9.5")
    pbx.hangup("9.5", dt=10.0)  # 1003 declines: the caller stays with 1002
    pbx.hangup("9.4")
    pbx.hangup("9.3")
    customer_hangs_up(pbx, "9.2")
    ended = pbx.ended()
    assert not [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (ended.answered_by, ended.agents_talked, ended.agents_rung) == ("1002", ("1002",), ("1002",))
    assert [a.agent for a in ended.attempts] == ["1002"]  # a consultation is not an offer of the call
    [consultation] = ended.consultations
    assert (consultation.agent, consultation.by_agent, consultation.transferred) == ("1003", "1002", False)
    assert consultation.ended_s is not None and consultation.ended_s - consultation.at_s > 9.9
    assert wrapups(pbx, "1003") == []  # 1003's chat with 1002 books no wrap-up on the customer's call
    assert [e.call_id for e in wrapups(pbx, "1002")] == ["9.1"]
    assert ended.hung_up_by == "customer"


def test_attended_transfer_completes_on_asterisks_success_event() -> None:
    pbx = answered_call()
    consult_1003(pbx)
    attended_transfer(pbx, "Fail")  # a failed transfer changes nothing
    assert not [e for e in pbx.domain if isinstance(e, CallTransferred)]
    attended_transfer(pbx)
    [transferred] = [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (transferred.from_agent, transferred.to_agent) == ("1002", "1003")
    assert abs(transferred.at_s - pbx.t) < 1e-5  # when Asterisk completed it, not when 1003 answered
    pbx.hangup("9.2")  # the transferer leaves, as Asterisk completes it
    pbx.hangup("9.3")
    pbx.hangup("9.4")
    customer_hangs_up(pbx, "9.5")
    ended = pbx.ended()
    assert ended.agents_talked == ("1002", "1003") and ended.agents_rung == ("1002", "1003")
    assert [c.transferred for c in ended.consultations] == [True]
    assert len([e for e in pbx.domain if isinstance(e, CallTransferred)]) == 1
    assert [e.call_id for e in wrapups(pbx, "1003")] == ["9.1"]  # now it is their customer: their wrap-up counts


def test_transferer_hanging_up_during_the_consultation_completes_the_transfer() -> None:
    pbx = answered_call()
    consult_1003(pbx)
    pbx.hangup_request("9.2")
    pbx.hangup("9.2", dt=4.0)  # no AttendedTransfer seen (yet): the hangup itself completes it
    hung_up_s = pbx.t
    attended_transfer(pbx)  # arriving afterwards it adds nothing
    [transferred] = [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (transferred.from_agent, transferred.to_agent) == ("1002", "1003")
    assert abs(transferred.at_s - hung_up_s) < 1e-5  # when 1002 left, not when 1003 answered the consultation
    pbx.hangup("9.3")
    pbx.hangup("9.4")
    customer_hangs_up(pbx, "9.5")
    assert pbx.ended().agents_talked == ("1002", "1003")

    # Hung up while 1003 still rings (a "blond" transfer): the customer gets 1003 when they answer.
    pbx = answered_call()
    consult_1003(pbx, answer=False)
    pbx.hangup("9.2", dt=1.0)
    pbx.state("9.5", 6, dt=3.0)
    pbx.dial_end("9.4", "9.5", "ANSWER")
    [transferred] = [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (transferred.from_agent, transferred.to_agent) == ("1002", "1003")
    pbx.hangup("9.3")
    pbx.hangup("9.4")
    customer_hangs_up(pbx, "9.5")
    ended = pbx.ended()
    assert [(a.agent, a.result) for a in ended.attempts] == [("1002", "ANSWER"), ("1003", "ANSWER")]
    assert ended.consultations == ()


def test_a_blond_transfer_as_asterisk_reports_it_is_no_consultation() -> None:
    """1002 hangs up while 1003 still rings, as a real Asterisk 20 reports it (tests/real_asterisk/test_transfers.py):
    HangupRequest and AttendedTransfer Success at once, but 1002's Hangup only once 1003 answers - bridge_basic holds
    the transferer's channel (and so the device stays in use) until the blond transfer is settled. 1003 never talked
    with 1002: their ringing is an offer of the call and their answer the transfer, not a consultation."""
    pbx = answered_call()
    consult_1003(pbx, answer=False)
    pbx.hangup_request("9.2")
    attended_transfer(pbx)
    assert not [e for e in pbx.domain if isinstance(e, CallTransferred)]  # nobody has the customer yet
    pbx.state("9.5", 6, dt=3.0)  # 1003 answers: the customer is theirs
    pbx.dial_end("9.4", "9.5", "ANSWER")
    [transferred] = [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (transferred.from_agent, transferred.to_agent) == ("1002", "1003")
    assert abs(transferred.at_s - (pbx.t - 0.001)) < 1e-5  # when 1003 answered
    pbx.hangup("9.2")  # Asterisk lets the transferer's channel go only now
    assert [e.call_id for e in wrapups(pbx, "1002")] == ["9.1"]
    pbx.hangup("9.3")
    pbx.hangup("9.4")
    customer_hangs_up(pbx, "9.5")
    ended = pbx.ended()
    assert ended.agents_talked == ("1002", "1003") and ended.agents_rung == ("1002", "1003")
    assert ended.consultations == ()
    assert [(a.agent, a.result) for a in ended.attempts] == [("1002", "ANSWER"), ("1003", "ANSWER")]
    assert [e.call_id for e in wrapups(pbx, "1003")] == ["9.1"]


def test_a_desk_phones_own_attended_transfer_moves_the_colleague_into_the_customers_call() -> None:
    """SIP REFER with Replaces: the phone consulted 1003 in a call of its own (another Linkedid); on completion
    Asterisk bridges the customer with 1003 (AttendedTransfer: Transferee = customer, TransferTarget = 1003)."""
    pbx = answered_call()
    pbx.new("PJSIP/1002-0000000a", "9.10", "9.10", state=4, caller="1002", exten="1003")
    pbx.new("PJSIP/1003-0000000b", "9.11", "9.10", state=0, caller="1003")
    pbx.dial_begin("9.10", "9.11", "1003")
    pbx.state("9.11", 5)
    pbx.state("9.11", 6, dt=3.0)
    pbx.dial_end("9.10", "9.11", "ANSWER")
    pbx.state("9.10", 6)
    pbx.send({
        "Event": "AttendedTransfer", "Result": "Success",
        **pbx.block("9.2", "OrigTransferer"), **pbx.block("9.10", "SecondTransferer"),
        **pbx.block("9.1", "Transferee"), **pbx.block("9.11", "TransferTarget"),
        "IsExternal": "Yes", "DestType": "Bridge", "DestBridgeUniqueid": "b-1",
    }, dt=10.0)
    [transferred] = [e for e in pbx.domain if isinstance(e, CallTransferred)]
    assert (transferred.call_id, transferred.from_agent, transferred.to_agent) == ("9.1", "1002", "1003")
    pbx.hangup("9.2")
    pbx.hangup("9.10")  # the consultation call is over: it ends on its own
    customer_hangs_up(pbx, "9.11")  # later events of 1003's channel belong to the customer's call
    ended = {e.call_id: e for e in pbx.domain if type(e).__name__ == "CallEnded"}
    assert ended["9.1"].agents_talked == ("1002", "1003") and ended["9.1"].talk_s > 30
    assert [(c.agent, c.transferred) for c in ended["9.1"].consultations] == [("1003", True)]
    assert ended["9.10"].direction == "internal"
    assert [e.call_id for e in wrapups(pbx, "1003")] == ["9.1"]
    # 1002's two lines go in this order on a real Asterisk (the customer's leg, then the consultation's): the wrap-up
    # is for the customer's call all the same, not for the consultation call that ended last (it once was).
    assert [e.call_id for e in wrapups(pbx, "1002")] == ["9.1"]
