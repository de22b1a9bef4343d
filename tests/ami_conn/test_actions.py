"""AMI action builders: the headers Asterisk expects, and no header injection through values."""

from __future__ import annotations

import pytest

from callcenter.ami import actions


def test_originate_with_variables_and_action_id() -> None:
    action = actions.originate(
        channel="PJSIP/5550001@trunk", context="cc-agents", exten="1002", caller_id='"Campaign" <8005550100>',
        timeout_ms=20_000, variables={"CC_CAMPAIGN": 42, "CC_CONTACT_ID": "7"}, action_id="orig-1",
    )
    assert action == {
        "Action": "Originate", "ActionID": "orig-1", "Channel": "PJSIP/5550001@trunk", "Context": "cc-agents",
        "Exten": "1002", "Priority": "1", "CallerID": '"Campaign" <8005550100>', "Timeout": "20000", "Async": "true",
        "Variable": ["CC_CAMPAIGN=42", "CC_CONTACT_ID=7"],
    }


def test_action_ids_are_unique() -> None:
    assert len({actions.ping()["ActionID"] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "build",
    [
        lambda: actions.originate(channel="PJSIP/1\r\nAction: Hangup", context="c", exten="1"),
        lambda: actions.originate(channel="PJSIP/1", context="c", exten="1", variables={"A": "x\ny"}),
        lambda: actions.originate(channel="PJSIP/1", context="c", exten="1", variables={"A=B": "x"}),
        lambda: actions.originate(channel="PJSIP/1", context="c", exten="1", variables={"A B": "x"}),
        lambda: actions.originate(channel="PJSIP/1", context="c", exten="1", timeout_ms=0),
        lambda: actions.originate(channel="PJSIP/1"),
        lambda: actions.originate(channel="PJSIP/1", context="c", exten="1", application="Playback"),
        lambda: actions.queue_pause(interface="PJSIP/1", paused=True, reason="lunch\r\nbreak"),
        lambda: actions.setvar(channel="PJSIP/1", variable="CC_X", value="a\rb"),
    ],
)
def test_bad_values_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        build()


def test_queue_actions_match_the_trace_shapes() -> None:
    # agent_pause_cycle.actions: QueueAdd / QueuePause with Reason / QueueRemove.
    add = actions.queue_add(queue="sales", interface="PJSIP/1005", member_name="Agent 1005", state_interface="PJSIP/1005")
    assert {k: v for k, v in add.items() if k != "ActionID"} == {
        "Action": "QueueAdd", "Queue": "sales", "Interface": "PJSIP/1005", "MemberName": "Agent 1005",
        "StateInterface": "PJSIP/1005", "Penalty": "0", "Paused": "false",
    }
    pause = actions.queue_pause(queue="sales", interface="PJSIP/1005", paused=True, reason="lunch")
    assert (pause["Paused"], pause["Reason"]) == ("true", "lunch")
    assert "Queue" not in actions.queue_pause(interface="PJSIP/1005", paused=False)
    assert actions.redirect(channel="PJSIP/trunk-1", context="cc-agents", exten="1003")["Priority"] == "1"
    assert [b()["Action"] for b in actions.RESYNC_LISTS] == ["CoreShowChannels", "QueueStatus", "DeviceStateList"]
