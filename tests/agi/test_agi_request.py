"""Pure parts of the FastAGI adapter: request parsing, decision validation, AGI quoting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from callcenter.ami.agi import (
    AgiRequest,
    FastAgiServer,
    MalformedRequest,
    RouteDecision,
    agi_quote,
    parse_agi_request,
    set_variable_command,
)
from callcenter.ami.channel_vars import AgiRoute, CcAction, ChannelVar
from tests.agi.agi_peer import TranscriptSession, asterisk_parse_args

LoadTranscript = Callable[[str], list[TranscriptSession]]


def headers_of(session: TranscriptSession) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in session.request_lines)


def test_parses_every_captured_request(transcript: LoadTranscript) -> None:
    names = [
        "inbound_agi_dial_answer",
        "inbound_dial_noanswer_fallback",
        "inbound_busy",
        "inbound_target_unavailable",
        "inbound_caller_abandons_ringing",
        "queue_answered",
        "queue_abandoned",
        "queue_timeout",
        "queue_ringnoanswer_then_answer",
        "blind_transfer_redirect",
        "concurrent_calls_5",
        "inbound_agi_dial_answer_cdr",
    ]
    seen: list[tuple[int, str | None]] = []
    for name in names:
        for session in transcript(name):
            request = parse_agi_request(headers_of(session))
            assert request.route is AgiRoute.INBOUND
            assert request.uniqueid == session.header("agi_uniqueid")
            assert request.channel.startswith("PJSIP/trunk-")
            assert request.did == session.header("agi_extension")
            assert request.callerid_num is not None and request.callerid_num.startswith("+1212555")
            seen.append((request.attempt, request.last_dial_status))
    assert {(2, "NOANSWER"), (2, "BUSY"), (2, "CHANUNAVAIL"), (1, None)} <= set(seen)


def test_noanswer_retry_request(transcript: LoadTranscript) -> None:
    _, retry = transcript("inbound_dial_noanswer_fallback")
    assert parse_agi_request(headers_of(retry)) == AgiRequest(
        route=AgiRoute.INBOUND,
        channel="PJSIP/trunk-00000002",
        uniqueid="1795390509.2",
        linkedid=None,
        callerid_num="+12125550102",
        callerid_name="Customer",
        dnid="8002",
        extension="8002",
        context="cc-inbound",
        attempt=2,
        last_dial_status="NOANSWER",
        args=("2", "NOANSWER"),
    )


BASE = {
    "agi_network_script": "inbound",
    "agi_channel": "PJSIP/trunk-00000000",
    "agi_uniqueid": "1795390491.0",
    "agi_callerid": "unknown",
    "agi_calleridname": "unknown",
    "agi_dnid": "unknown",
    "agi_extension": "8001",
    "agi_context": "cc-inbound",
}


def test_no_arguments_is_a_first_attempt_and_unknown_means_none() -> None:
    # the trace dialplan's extension 7100 calls agi://127.0.0.1:4573/inbound with no arguments
    request = parse_agi_request(BASE)
    assert (request.attempt, request.last_dial_status, request.args) == (1, None, ())
    assert (request.callerid_num, request.callerid_name, request.dnid, request.linkedid) == (None, None, None, None)


def test_linkedid_comes_from_the_third_argument() -> None:
    request = parse_agi_request(BASE | {"agi_arg_1": "3", "agi_arg_2": "BUSY", "agi_arg_3": "1795390491.0"})
    assert (request.attempt, request.last_dial_status, request.linkedid) == (3, "BUSY", "1795390491.0")


def test_args_stop_at_the_first_gap() -> None:
    assert parse_agi_request(BASE | {"agi_arg_1": "1", "agi_arg_3": "x"}).args == ("1",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agi_network_script": ""}, "missing agi_network_script"),
        ({"agi_network_script": "outbound"}, "unknown route 'outbound'"),
        ({"agi_channel": " "}, "missing agi_channel"),
        ({"agi_uniqueid": ""}, "missing agi_uniqueid"),
        ({"agi_extension": ""}, "missing agi_extension"),
        ({"agi_arg_1": "0"}, "attempt '0'"),
        ({"agi_arg_1": "100"}, "attempt '100'"),
        ({"agi_arg_1": "-1"}, "attempt '-1'"),
        ({"agi_arg_1": "1.5"}, "attempt '1.5'"),
        ({"agi_arg_1": "\u0662"}, "attempt"),  # ARABIC-INDIC DIGIT TWO: isdigit() but not ASCII
        ({"agi_arg_1": "1", "agi_arg_2": "noanswer"}, "last dial status 'noanswer'"),
        ({"agi_arg_1": "1", "agi_arg_2": "NO ANSWER"}, "last dial status"),
    ],
)
def test_malformed_requests_say_what_is_wrong(change: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        parse_agi_request(BASE | change)


def test_missing_header_is_malformed() -> None:
    headers = dict(BASE)
    del headers["agi_uniqueid"]
    with pytest.raises(MalformedRequest, match="missing agi_uniqueid"):
        parse_agi_request(headers)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: RouteDecision.for_dial([], ring_timeout_s=20, reason="x"), id="no-targets"),
        pytest.param(lambda: RouteDecision.for_dial(["PJSIP/1002,20"], ring_timeout_s=20, reason="x"), id="comma"),
        pytest.param(lambda: RouteDecision.for_dial(["PJSIP/1002&x"], ring_timeout_s=20, reason="x"), id="ampersand"),
        pytest.param(lambda: RouteDecision.for_dial(["PJSIP/10 02"], ring_timeout_s=20, reason="x"), id="space"),
        pytest.param(lambda: RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=0, reason="x"), id="ring-0"),
        pytest.param(lambda: RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=True, reason="x"), id="ring-bool"),
        pytest.param(
            lambda: RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=20.5, reason="x"),  # type: ignore[arg-type]
            id="ring-float",
        ),
        pytest.param(
            lambda: RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=20, reason="x", dial_options="t\nHANGUP"),
            id="newline-in-options",
        ),
        pytest.param(
            lambda: RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=20, reason="x", dial_options="t,T"),
            id="comma-in-options",
        ),
        pytest.param(lambda: RouteDecision.for_queue("sales q", reason="x"), id="queue-space"),
        pytest.param(lambda: RouteDecision.for_queue("sales", reason="x", queue_timeout_s=-5), id="queue-timeout"),
        pytest.param(lambda: RouteDecision.for_queue("sales", reason=""), id="empty-reason"),
        pytest.param(lambda: RouteDecision.for_queue("sales", reason="two words"), id="reason-space"),
        pytest.param(lambda: RouteDecision.for_voicemail("8001 @default", reason="x"), id="mailbox"),
        pytest.param(lambda: RouteDecision(action=CcAction.QUEUE, reason="x"), id="queue-without-queue"),
        pytest.param(lambda: RouteDecision(action=CcAction.VOICEMAIL, reason="x"), id="voicemail-without-box"),
        pytest.param(
            lambda: RouteDecision(action="dial", reason="x", targets=("PJSIP/1",)),  # type: ignore[arg-type]
            id="action-str",
        ),
    ],
)
def test_invalid_decisions_are_refused(build: Callable[[], Any]) -> None:
    with pytest.raises(ValueError):
        build()


def test_the_answer_is_one_plan_with_every_field() -> None:
    decision = RouteDecision.for_voicemail("8001@default", reason="after-hours")
    command = decision.plan_command(default_queue="sales", default_queue_timeout_s=120)
    assert asterisk_parse_args(command) == [
        "SET", "VARIABLE", "CC_PLAN", "inbound1|voicemail||||sales|120|8001@default|after-hours|"
    ]


def test_dial_decision_carries_its_own_overflow_queue() -> None:
    decision = RouteDecision.for_dial(
        ["PJSIP/1002"], ring_timeout_s=20, reason="owner", overflow_queue="vip", queue_timeout_s=30
    )
    values = dict(decision.channel_variables(default_queue="sales", default_queue_timeout_s=120))
    assert (values[ChannelVar.QUEUE], values[ChannelVar.QUEUE_TIMEOUT_S]) == ("vip", "30")


@pytest.mark.parametrize("value", ["", "PJSIP/1002", 'say "hi"', "back\\slash", 'both \\" mixed', "  spaced  "])
def test_agi_quote_round_trips_through_asterisk_parsing(value: str) -> None:
    argv = asterisk_parse_args(set_variable_command(ChannelVar.DIAL_OPTS, value))
    assert argv == ["SET", "VARIABLE", "CC_DIAL_OPTS", value]


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b"])
def test_agi_quote_refuses_line_breaks(value: str) -> None:
    with pytest.raises(ValueError):
        agi_quote(value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default_queue": "sales queue"},
        {"queue_timeout_s": 0},
        {"time_budget_ms": 0},
        {"time_budget_ms": 300.0},
    ],
)
def test_constructor_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "default_queue": "sales", "queue_timeout_s": 120}
    with pytest.raises(ValueError):
        FastAgiServer(**(settings | kwargs))


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        FastAgiServer("127.0.0.1", 0, "sales", 120)  # type: ignore[call-arg]
