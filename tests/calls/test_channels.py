"""Reading Asterisk names: channels, interfaces, dial strings, MixMonitor arguments."""

from __future__ import annotations

import pytest

from callcenter.calls.channels import (
    ChannelKind,
    Naming,
    dial_targets,
    mixmonitor_files,
    number_from_dial_string,
    split_channel_name,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PJSIP/1002-0000000a", ("PJSIP", "1002")),
        ("PJSIP/trunk-00000012", ("PJSIP", "trunk")),
        ("Local/1002@cc-agents-00000000;1", ("Local", "1002@cc-agents")),
        ("PJSIP/1002", ("PJSIP", "1002")),
        ("PJSIP/my-trunk-0000001f", ("PJSIP", "my-trunk")),
        ("PJSIP/agent-bad", ("PJSIP", "agent-bad")),  # no 8-hex suffix: a device name, kept whole
        ("garbage", ("", "garbage")),
    ],
)
def test_split_channel_name(name: str, expected: tuple[str, str]) -> None:
    assert split_channel_name(name) == expected


def test_naming_classify_and_interfaces() -> None:
    naming = Naming()
    assert naming.classify("PJSIP/trunk-00000000") == (ChannelKind.TRUNK, "trunk")
    assert naming.classify("PJSIP/1002-00000001") == (ChannelKind.AGENT, "1002")
    assert naming.classify("Local/1002@cc-agents-00000000;2") == (ChannelKind.LOCAL, "1002@cc-agents")
    assert naming.classify("Message/ast_msg_queue")[0] is ChannelKind.OTHER
    assert naming.agent_of_interface("PJSIP/1002") == "1002"
    assert naming.agent_of_interface("Local/1003@agents/n") == "1003"
    assert naming.agent_of_interface("Queue:sales_pause_PJSIP/1002") is None
    assert naming.agent_of_interface("PJSIP/trunk") is None
    assert naming.agent_of_interface("") is None and naming.agent_of_interface(None) is None
    custom = Naming(trunk_endpoints=frozenset({"carrier-a", "carrier-b"}))
    assert custom.classify("PJSIP/carrier-b-00000003")[0] is ChannelKind.TRUNK
    assert custom.classify("PJSIP/trunk-00000003")[0] is ChannelKind.AGENT


def test_dial_strings_and_mixmonitor() -> None:
    assert dial_targets("PJSIP/1002,20,") == ["PJSIP/1002"]
    assert dial_targets("PJSIP/1002&PJSIP/1003 & SIP/7,20,t") == ["PJSIP/1002", "PJSIP/1003", "SIP/7"]
    assert dial_targets("") == []
    assert number_from_dial_string("5550001@trunk") == "5550001"
    assert number_from_dial_string("PJSIP/5550001@trunk") == "5550001"
    assert number_from_dial_string("PJSIP/trunk/sip:+15550001@carrier.example") == "+15550001"
    assert mixmonitor_files("1.0.wav,r(1.0-rx.wav)t(1.0-tx.wav)") == ("1.0.wav", ("1.0-rx.wav", "1.0-tx.wav"))
    assert mixmonitor_files("1.0-stereo.raw,D") == ("1.0-stereo.raw", ())
