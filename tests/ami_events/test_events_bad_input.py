"""The parser on bad input: precise errors for missing/garbage headers, None for unknown, never anything else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.ami import events as ami
from callcenter.ami.events import AmiParseError, is_known_event, parse_event, parse_event_full
from callcenter.ami.frames import FrameSplitter

NEWCHANNEL = {
    "Event": "Newchannel",
    "Privilege": "call,all",
    "Timestamp": "1795390491.130418",
    "Channel": "PJSIP/trunk-00000000",
    "ChannelState": "4",
    "ChannelStateDesc": "Ring",
    "CallerIDNum": "+12125550101",
    "CallerIDName": "Customer",
    "ConnectedLineNum": "<unknown>",
    "ConnectedLineName": "<unknown>",
    "Language": "en",
    "AccountCode": "",
    "Context": "from-trunk",
    "Exten": "8001",
    "Priority": "1",
    "Uniqueid": "1795390491.0",
    "Linkedid": "1795390491.0",
}
HANGUP = {**NEWCHANNEL, "Event": "Hangup", "Cause": "16", "Cause-txt": "Normal Clearing"}


def expect_error(headers: dict[str, str], header: str) -> AmiParseError:
    try:
        parse_event(headers)
    except AmiParseError as exc:
        assert exc.event == headers["Event"] and exc.header == header
        assert headers["Event"] in str(exc) and header in str(exc)
        return exc
    raise AssertionError(f"no AmiParseError for {header}")


def test_valid_newchannel_is_typed() -> None:
    event = parse_event(NEWCHANNEL)
    assert isinstance(event, ami.Newchannel)
    assert event.timestamp_s == 1795390491.130418
    assert event.channel_state == 4 and event.priority == 1
    assert event.caller_id_num == "+12125550101" and event.connected_line_num is None


def test_missing_linkedid_names_event_and_header() -> None:
    exc = expect_error({k: v for k, v in NEWCHANNEL.items() if k != "Linkedid"}, "Linkedid")
    assert "missing" in str(exc)


def test_missing_required_is_never_a_silent_empty_string() -> None:
    for header in ("Channel", "Uniqueid", "Context", "ChannelState"):
        expect_error({k: v for k, v in HANGUP.items() if k != header}, header)
    expect_error({k: v for k, v in HANGUP.items() if k != "Cause"}, "Cause")


def test_garbage_numbers() -> None:
    exc = expect_error({**HANGUP, "Cause": "sixteen"}, "Cause")
    assert "sixteen" in str(exc)
    expect_error({**NEWCHANNEL, "ChannelState": ""}, "ChannelState")
    expect_error({**NEWCHANNEL, "Timestamp": "yesterday"}, "Timestamp")
    expect_error({**HANGUP, "TechCause": "4x6"}, "TechCause")


def test_optional_headers_may_be_absent() -> None:
    event = parse_event({k: v for k, v in HANGUP.items() if k != "Timestamp"})
    assert isinstance(event, ami.Hangup) and event.timestamp_s is None and event.tech_cause is None


def test_unknown_events_and_responses_return_none() -> None:
    assert parse_event({"Event": "SomethingNew", "Foo": "bar"}) is None
    assert not is_known_event("SomethingNew")
    assert parse_event({"Response": "Success", "ActionID": "x"}) is None
    assert parse_event({"Event": "RTCPSent", "Channel": "x"}) is None and is_known_event("RTCPSent")


def test_uninteresting_varset_dropped_but_known() -> None:
    varset = {**NEWCHANNEL, "Event": "VarSet", "Variable": "SIPDOMAIN", "Value": "127.0.0.1"}
    assert parse_event(varset) is None and is_known_event("VarSet")
    assert isinstance(parse_event_full(varset), ami.VarSet)
    kept = parse_event({**varset, "Variable": "CC_CAMPAIGN", "Value": "42"})
    assert isinstance(kept, ami.VarSet) and kept.value == "42"


def test_unicode_and_enormous_values() -> None:
    name = "Zoë 山田 🚀" * 100
    event = parse_event({**NEWCHANNEL, "CallerIDName": name})
    assert isinstance(event, ami.Newchannel) and event.caller_id_name == name
    # Through the splitter: a frame beyond the limit is a counted malformed frame, the next one still parses.
    huge = "Event: Newchannel\r\nCallerIDName: " + "x" * 70_000 + "\r\n\r\n"
    ok = "".join(f"{k}: {v}\r\n" for k, v in NEWCHANNEL.items()) + "\r\n"
    splitter = FrameSplitter()
    frames = splitter.feed((huge + ok).encode())
    assert splitter.malformed_count == 1
    assert [type(parse_event(f)) for f in frames] == [ami.Newchannel]


def test_panoramisk_message_is_accepted() -> None:
    from panoramisk.message import Message

    event = parse_event(Message(NEWCHANNEL))
    assert isinstance(event, ami.Newchannel) and event.linkedid == "1795390491.0"


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(ami.EVENT_SPECS)),
    drop=st.sets(st.sampled_from(sorted(NEWCHANNEL) + ["Cause", "DestUniqueid", "Queue", "Interface"])),
    garbage=st.dictionaries(
        st.sampled_from(["Cause", "ChannelState", "Priority", "Timestamp", "Paused", "Duration", "Status", "RingTime"]),
        st.text(max_size=8),
    ),
)
def test_random_header_maps_only_raise_amiparseerror(name: str, drop: set[str], garbage: dict[str, str]) -> None:
    headers = {**HANGUP, "Event": name, "Status": "1", "Paused": "0", "Duration": "00:00:01", "RingTime": "5"}
    for header in drop:
        headers.pop(header, None)
    headers.update(garbage)
    try:
        event = parse_event_full(headers)
    except AmiParseError as exc:
        assert exc.event == name
        return
    assert event is None or isinstance(event, ami.EVENT_CLASSES[name])


def test_a_dialplan_global_is_a_known_varset_shape_not_a_malformed_event() -> None:
    """Each dialplan reload sends one VarSet per [globals] entry with no channel (stasis_channels.c varset_to_ami):
    the service once logged "missing required header 'ChannelState'" for each."""
    frame = {"Event": "VarSet", "Privilege": "dialplan,all", "Timestamp": "1795390700.000100", "Channel": "none",
             "Uniqueid": "none", "Variable": "CC_FALLBACK_QUEUE", "Value": "support"}
    event = parse_event(frame)
    assert event == ami.GlobalVarSet(timestamp_s=1795390700.0001, variable="CC_FALLBACK_QUEUE", value="support")
    assert parse_event_full(frame) == event
    assert parse_event({**frame, "Variable": "SOME_OTHER_GLOBAL"}) is None  # filtered like any unused variable
    # A channel VarSet missing its channel block is still an error, and nobody can send a GlobalVarSet by name.
    expect_error({**frame, "Uniqueid": "1795390491.0"}, "ChannelState")
    assert parse_event({**frame, "Event": "GlobalVarSet"}) is None


# The service's own UserEvent, as manager.c action_userevent sends it back out (ActionID forwarded).
AGENT_CONTROL = {"Event": "UserEvent", "Privilege": "user,all", "Timestamp": "1795390500.000100",
                 "UserEvent": "CcAgentControl", "ActionID": "cc-7", "Agent": "1002", "Control": "wrapup-end",
                 "AtS": "1795390499.250000", "CallId": "1795390491.0"}


def test_agent_control_parses_and_names_what_is_wrong() -> None:
    event = parse_event(AGENT_CONTROL)
    assert isinstance(event, ami.AgentControlEvent)
    assert (event.agent, event.control, event.at_s, event.call_id, event.action_id) == (
        "1002", ami.AgentControl.WRAPUP_END, 1795390499.25, "1795390491.0", "cc-7")
    paused = parse_event({**AGENT_CONTROL, "Control": "pause", "Reason": "", "CallId": "<unknown>"})
    assert isinstance(paused, ami.AgentControlEvent) and paused.reason == "" and paused.call_id is None
    expect_error({k: v for k, v in AGENT_CONTROL.items() if k != "AtS"}, "AtS")
    expect_error({**AGENT_CONTROL, "AtS": "soon"}, "AtS")
    expect_error({**AGENT_CONTROL, "Control": "reboot"}, "Control")
    # someone else's UserEvent is not ours: dropped, not an error
    assert parse_event({**AGENT_CONTROL, "UserEvent": "SiteThing"}) is None
