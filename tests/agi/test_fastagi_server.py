"""FastAGI server over real sockets, with Asterisk's side replayed from the captured .agi transcripts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from callcenter.ami.agi import AgiCounters, AgiRequest, FastAgiServer, Reason, RouteDecision
from callcenter.ami.channel_vars import AgiRoute, CcAction
from tests.agi.agi_peer import (
    TranscriptSession,
    asterisk_parse_args,
    parse_set_variables,
    play_asterisk,
    wait_closed_by_server,
)
from tests.agi.conftest import DEFAULT_QUEUE, QUEUE_TIMEOUT_S, ServerFactory

LoadTranscript = Callable[[str], list[TranscriptSession]]

# the inbound plan's fields as [cc-inbound] unpacks them (CALLERID(name) only with a name)
VARIABLE_ORDER = [
    "CC_ACTION",
    "CC_TARGET",
    "CC_RING_TIMEOUT_S",
    "CC_DIAL_OPTS",
    "CC_QUEUE",
    "CC_QUEUE_TIMEOUT_S",
    "CC_MAILBOX",
    "CC_REASON",
]


def decision_from_transcript(session: TranscriptSession) -> RouteDecision:
    """The decision the capture's FastAGI server made, rebuilt from the SET VARIABLE lines it sent."""
    sent = session.set_variables()
    if sent["CC_ACTION"] == "dial":
        return RouteDecision.for_dial(
            sent["CC_TARGET"].split("&"),
            ring_timeout_s=int(sent["CC_RING_TIMEOUT_S"]),
            dial_options=sent.get("CC_DIAL_OPTS", ""),
            reason="trace",
        )
    assert sent["CC_ACTION"] == "queue", sent
    timeout = sent.get("CC_QUEUE_TIMEOUT_S")
    return RouteDecision.for_queue(sent["CC_QUEUE"], reason="trace", queue_timeout_s=int(timeout) if timeout else None)


class TraceDecider:
    """Answers each (uniqueid, attempt) as the capture did and records the requests it saw."""

    def __init__(self, sessions: list[TranscriptSession]) -> None:
        self.decisions = {
            (s.header("agi_uniqueid"), int(s.header("agi_arg_1"))): decision_from_transcript(s) for s in sessions
        }
        self.requests: list[AgiRequest] = []

    async def __call__(self, request: AgiRequest) -> RouteDecision:
        self.requests.append(request)
        return self.decisions[(request.uniqueid, request.attempt)]


def fail_open_variables(reason: str) -> list[tuple[str, str]]:
    return [
        ("CC_ACTION", "queue"),
        ("CC_TARGET", ""),
        ("CC_RING_TIMEOUT_S", ""),
        ("CC_DIAL_OPTS", ""),
        ("CC_QUEUE", DEFAULT_QUEUE),
        ("CC_QUEUE_TIMEOUT_S", str(QUEUE_TIMEOUT_S)),
        ("CC_MAILBOX", ""),
        ("CC_REASON", reason),
    ]


def assert_matches_trace(commands: list[str], session: TranscriptSession) -> None:
    sent = parse_set_variables(commands)
    assert [name for name, _ in sent] == VARIABLE_ORDER, "every answer's plan carries every field"
    assert len(commands) == 1, "one AGI command per answer"
    values = dict(sent)
    for name, value in session.set_variables().items():
        assert values[name] == value, f"{session.session_id}: {name}"
    assert values["CC_REASON"] == "trace"


def good_request(transcript: LoadTranscript) -> bytes:
    return transcript("inbound_agi_dial_answer")[0].request_bytes()


async def assert_server_still_routes(server: FastAgiServer, transcript: LoadTranscript) -> None:
    result = await play_asterisk(server.port, good_request(transcript))
    assert dict(parse_set_variables(result.commands))["CC_ACTION"] in {a.value for a in CcAction}
    assert result.closed_by_server


async def test_answered_call_transcript_sets_the_same_variables(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    [session] = transcript("inbound_agi_dial_answer")
    decider = TraceDecider([session])
    server = await make_server(decide=decider)

    result = await play_asterisk(server.port, session.request_bytes())

    assert parse_set_variables(result.commands) == [
        ("CC_ACTION", "dial"),
        ("CC_TARGET", "PJSIP/1002"),
        ("CC_RING_TIMEOUT_S", "20"),
        ("CC_DIAL_OPTS", ""),
        ("CC_QUEUE", DEFAULT_QUEUE),  # overflow queue after the last attempt
        ("CC_QUEUE_TIMEOUT_S", str(QUEUE_TIMEOUT_S)),
        ("CC_MAILBOX", ""),
        ("CC_REASON", "trace"),
    ]
    # one round trip: the whole answer in CC_PLAN
    assert result.commands == [f'SET VARIABLE CC_PLAN "inbound1|dial|PJSIP/1002|20||{DEFAULT_QUEUE}|{QUEUE_TIMEOUT_S}||trace|"']
    assert result.closed_by_server
    [request] = decider.requests
    assert request == AgiRequest(
        route=AgiRoute.INBOUND,
        channel="PJSIP/trunk-00000000",
        uniqueid="1795390491.0",
        linkedid=None,
        callerid_num="+12125550101",
        callerid_name="Customer",
        dnid="8001",
        extension="8001",
        context="cc-inbound",
        attempt=1,
        last_dial_status=None,
        args=("1", "NONE"),
    )
    assert server.counters == AgiCounters(requests=1, answered=1)


async def test_noanswer_fallback_transcript_asks_again_with_attempt_and_dialstatus(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    first, second = transcript("inbound_dial_noanswer_fallback")
    decider = TraceDecider([first, second])
    server = await make_server(decide=decider)

    for session in (first, second):
        result = await play_asterisk(server.port, session.request_bytes())
        assert_matches_trace(result.commands, session)

    retry = decider.requests[1]
    assert (retry.attempt, retry.last_dial_status, retry.did) == (2, "NOANSWER", "8002")
    assert retry.uniqueid == decider.requests[0].uniqueid == "1795390509.2"
    assert dict(parse_set_variables(result.commands))["CC_TARGET"] == "PJSIP/1002"


@pytest.mark.parametrize("name", ["queue_answered", "queue_timeout", "inbound_busy", "inbound_target_unavailable"])
async def test_other_transcripts_replay(make_server: ServerFactory, transcript: LoadTranscript, name: str) -> None:
    sessions = transcript(name)
    server = await make_server(decide=TraceDecider(sessions))
    for session in sessions:
        result = await play_asterisk(server.port, session.request_bytes())
        assert_matches_trace(result.commands, session)
    assert server.counters.answered == len(sessions)


async def test_five_concurrent_sessions_are_served_at_once(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    sessions = transcript("concurrent_calls_5")
    assert len(sessions) == 5
    trace = TraceDecider(sessions)
    all_in_flight = asyncio.Event()

    async def decide_when_all_five_are_waiting(request: AgiRequest) -> RouteDecision:
        # no session is answered before all five are inside the decider: only a concurrent server gets here
        decision = await trace(request)
        if len(trace.requests) == 5:
            all_in_flight.set()
        await all_in_flight.wait()
        return decision

    # the budget is only a backstop: a server that serialised sessions would fail open instead of hanging
    server = await make_server(decide=decide_when_all_five_are_waiting, time_budget_ms=30_000)

    results = await asyncio.gather(*(play_asterisk(server.port, s.request_bytes()) for s in sessions))

    for session, result in zip(sessions, results, strict=True):
        assert_matches_trace(result.commands, session)
    assert sorted(dict(parse_set_variables(r.commands))["CC_TARGET"] for r in results) == [
        "PJSIP/1002",
        "PJSIP/1003",
        "PJSIP/1004",
        "PJSIP/1005",
        "PJSIP/1006",
    ]
    assert server.counters == AgiCounters(requests=5, answered=5)


async def test_default_decider_answers_the_default_queue(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    server = await make_server()
    result = await play_asterisk(server.port, good_request(transcript))
    assert parse_set_variables(result.commands) == fail_open_variables(Reason.DEFAULT_QUEUE)
    assert server.counters == AgiCounters(requests=1, answered=1)


async def test_slow_decider_fails_open_within_the_budget(
    make_server: ServerFactory, transcript: LoadTranscript, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(request: AgiRequest) -> RouteDecision:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("the event is never set")

    server = await make_server(decide=stuck, time_budget_ms=50)
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.agi"):
        result = await play_asterisk(server.port, good_request(transcript))

    assert parse_set_variables(result.commands) == fail_open_variables("timeout->queue")
    await cancelled.wait()  # the abandoned decider is cancelled, not left running
    assert server.counters == AgiCounters(requests=1, answered=1, fail_open=1, decider_timeouts=1)
    assert any("1795390491.0" in r.getMessage() and "50 ms budget" in r.getMessage() for r in caplog.records)


async def test_decider_that_ignores_cancellation_cannot_hold_the_call(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    async def stubborn(request: AgiRequest) -> RouteDecision:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # misbehaving on purpose
        finished.set()
        return RouteDecision.for_hangup(reason="too-late")

    server = await make_server(decide=stubborn, time_budget_ms=50)
    result = await play_asterisk(server.port, good_request(transcript))
    assert parse_set_variables(result.commands) == fail_open_variables("timeout->queue")
    release.set()
    await finished.wait()


async def test_raising_decider_fails_open_and_logs_the_call(
    make_server: ServerFactory, transcript: LoadTranscript, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: AgiRequest) -> RouteDecision:
        raise RuntimeError("CRM down")

    server = await make_server(decide=broken)
    with caplog.at_level(logging.ERROR, logger="callcenter.ami.agi"):
        result = await play_asterisk(server.port, good_request(transcript))

    assert parse_set_variables(result.commands) == fail_open_variables("error->queue")
    assert server.counters == AgiCounters(requests=1, answered=1, fail_open=1, decider_errors=1)
    assert any("1795390491.0" in r.getMessage() and "CRM down" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "decide",
    [
        pytest.param(lambda request: "dial PJSIP/1002", id="not-awaitable"),
        pytest.param(lambda request: (_ for _ in ()).throw(ValueError("sync raise")), id="raises-synchronously"),
    ],
)
async def test_decider_misuse_fails_open(
    make_server: ServerFactory, transcript: LoadTranscript, decide: object
) -> None:
    server = await make_server(decide=decide)
    result = await play_asterisk(server.port, good_request(transcript))
    assert parse_set_variables(result.commands) == fail_open_variables("error->queue")


async def test_decider_returning_wrong_type_fails_open(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    async def wrong(request: AgiRequest) -> RouteDecision:
        return {"action": "dial"}  # type: ignore[return-value]

    server = await make_server(decide=wrong)
    result = await play_asterisk(server.port, good_request(transcript))
    assert parse_set_variables(result.commands) == fail_open_variables("error->queue")
    assert server.counters.decider_errors == 1


async def test_quoting_survives_asterisk_argument_parsing(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    options = 'tU(cc-whisper^say "hi" \\ there)'

    async def decide(request: AgiRequest) -> RouteDecision:
        return RouteDecision.for_dial(
            ["PJSIP/1002", "PJSIP/1003"], ring_timeout_s=15, dial_options=options, reason="ring-all"
        )

    server = await make_server(decide=decide)
    result = await play_asterisk(server.port, good_request(transcript))
    values = dict(parse_set_variables(result.commands))
    assert values["CC_DIAL_OPTS"] == options
    assert values["CC_TARGET"] == "PJSIP/1002&PJSIP/1003"


def _with_headers(session: TranscriptSession, **replace: str | None) -> bytes:
    """The session's request with some headers replaced (value) or removed (None)."""
    lines = []
    for line in session.request_lines:
        name = line.partition(": ")[0]
        if name in replace:
            if replace[name] is not None:
                lines.append(f"{name}: {replace[name]}")
            continue
        lines.append(line)
    return "".join(f"{line}\n" for line in lines).encode() + b"\n"


@pytest.mark.parametrize(
    ("replace", "reason", "log_text"),
    [
        ({"agi_network_script": None}, "malformed->queue", "missing agi_network_script"),
        ({"agi_network_script": "nosuchroute"}, "unknown-route->queue", "unknown route 'nosuchroute'"),
        ({"agi_arg_1": "two"}, "malformed->queue", "attempt 'two'"),
        ({"agi_arg_1": "0"}, "malformed->queue", "attempt '0'"),
        ({"agi_arg_2": "no answer!"}, "malformed->queue", "last dial status"),
        ({"agi_uniqueid": None}, "malformed->queue", "missing agi_uniqueid"),
    ],
)
async def test_malformed_request_with_a_channel_gets_the_safe_answer(
    make_server: ServerFactory,
    transcript: LoadTranscript,
    caplog: pytest.LogCaptureFixture,
    replace: dict[str, str | None],
    reason: str,
    log_text: str,
) -> None:
    server = await make_server()
    [session] = transcript("inbound_agi_dial_answer")
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.agi"):
        result = await play_asterisk(server.port, _with_headers(session, **replace))

    assert parse_set_variables(result.commands) == fail_open_variables(reason)
    assert any(log_text in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert server.counters == AgiCounters(requests=1, answered=1, fail_open=1, malformed=1)
    await assert_server_still_routes(server, transcript)


async def test_request_without_a_channel_is_closed_without_commands(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    server = await make_server()
    [session] = transcript("inbound_agi_dial_answer")
    result = await play_asterisk(server.port, _with_headers(session, agi_channel=None))
    assert result.commands == []
    assert server.counters == AgiCounters(requests=1, malformed=1)
    await assert_server_still_routes(server, transcript)


async def test_garbage_bytes_are_closed_and_counted(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server()
    result = await play_asterisk(server.port, b"\x16\x03\x01\x00\xff\xfe garbage \x80\x81\r\nGET / HTTP/1.1\r\n\r\n")
    assert result.commands == []
    assert server.counters == AgiCounters(requests=1, malformed=1)
    await assert_server_still_routes(server, transcript)


async def test_peer_that_disconnects_mid_request(
    make_server: ServerFactory, transcript: LoadTranscript, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    request = good_request(transcript)
    half = request[: request.index(b"agi_version")]  # cut after agi_uniqueid, before the blank line
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.agi"):
        writer.write(half)
        writer.write_eof()  # Asterisk's side goes away before the blank line
        assert await wait_closed_by_server(reader) == b""
    writer.close()
    assert server.counters == AgiCounters(requests=1, malformed=1)
    assert any("before the blank line" in r.getMessage() and "1795390491.0" in r.getMessage() for r in caplog.records)
    await assert_server_still_routes(server, transcript)


async def test_peer_that_resets_mid_request(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(good_request(transcript)[:300])
    await writer.drain()
    writer.transport.abort()
    await assert_server_still_routes(server, transcript)


async def test_huge_line_is_refused(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"agi_network: yes\nagi_callerid: " + b"9" * 200_000)
        await writer.drain()
    except ConnectionError:
        pass  # the server may already have hung up on us
    assert await wait_closed_by_server(reader) == b""
    writer.close()
    assert server.counters == AgiCounters(requests=1, malformed=1)
    await assert_server_still_routes(server, transcript)


async def test_stalled_request_times_out(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server(header_timeout_s=0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    assert await wait_closed_by_server(reader) == b""
    writer.close()
    assert server.counters == AgiCounters(requests=1, malformed=1)
    await assert_server_still_routes(server, transcript)


async def test_channel_hangup_during_the_answer_is_not_counted_as_answered(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    server = await make_server()
    result = await play_asterisk(server.port, good_request(transcript), replies=[b"HANGUP\n"])
    assert len(result.commands) == 1
    assert result.closed_by_server
    assert server.counters.answered == 0
    await assert_server_still_routes(server, transcript)


async def test_rejected_plan_is_not_counted_as_answered(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server()
    usage = (
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b"Usage: SET VARIABLE <name> <value>\n"
        b"520 End of proper usage.\n"
    )
    result = await play_asterisk(server.port, good_request(transcript), replies=[usage])
    assert [asterisk_parse_args(c)[2] for c in result.commands] == ["CC_PLAN"]
    assert server.counters.answered == 0
    await assert_server_still_routes(server, transcript)


async def test_peer_that_stops_replying_is_given_up(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    server = await make_server(reply_timeout_s=0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(good_request(transcript))
    await writer.drain()
    first_command = await reader.readline()
    assert first_command.startswith(b"SET VARIABLE CC_PLAN")
    assert await wait_closed_by_server(reader) == b""  # no reply from us: the server gives up and closes
    writer.close()
    assert server.counters.answered == 0
    await assert_server_still_routes(server, transcript)


async def test_counters_add_up_over_mixed_traffic(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    [session] = transcript("inbound_agi_dial_answer")
    server = await make_server(decide=owner_unless_slow, time_budget_ms=50)
    await play_asterisk(server.port, session.request_bytes())
    await play_asterisk(server.port, session.request_bytes())
    await play_asterisk(server.port, _with_headers(session, agi_uniqueid=SLOW_UNIQUEID))
    await play_asterisk(server.port, _with_headers(session, agi_arg_1="x"))
    await play_asterisk(server.port, b"\xff\n\n")

    assert server.counters == AgiCounters(
        requests=5, answered=4, fail_open=2, malformed=2, decider_timeouts=1, decider_errors=0
    )


async def test_next_route_is_served_like_inbound(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    seen: list[AgiRequest] = []

    async def decide(request: AgiRequest) -> RouteDecision:
        seen.append(request)
        return RouteDecision.for_queue("sales", reason="retry")

    server = await make_server(decide=decide)
    _, second = transcript("inbound_dial_noanswer_fallback")
    await play_asterisk(server.port, _with_headers(second, agi_network_script="next"))
    assert [(r.route, r.attempt, r.last_dial_status) for r in seen] == [(AgiRoute.NEXT, 2, "NOANSWER")]


async def test_port_zero_binds_a_real_port_and_stop_releases_it(transcript: LoadTranscript) -> None:
    server = FastAgiServer(host="127.0.0.1", port=0, default_queue=DEFAULT_QUEUE, queue_timeout_s=QUEUE_TIMEOUT_S)
    with pytest.raises(RuntimeError):
        _ = server.port
    async with server:
        port = server.port
        assert port > 0
        await assert_server_still_routes(server, transcript)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_stop_ends_sessions_that_are_still_in_flight(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    entered = asyncio.Event()
    never = asyncio.Event()

    async def stuck(request: AgiRequest) -> RouteDecision:
        entered.set()
        await never.wait()
        raise AssertionError("the event is never set")

    server = await make_server(decide=stuck, time_budget_ms=30_000, stop_grace_s=0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(good_request(transcript))
    await writer.drain()
    await entered.wait()
    await server.stop()
    # no answer: the dialplan sees no CC_ACTION and sends the call to CC_FALLBACK_QUEUE
    assert await wait_closed_by_server(reader) == b""
    writer.close()


SLOW_UNIQUEID = "1795390491.99"  # a request whose decision never comes: the server answers it over its budget


async def owner_unless_slow(request: AgiRequest) -> RouteDecision:
    """A router that dials the owner at once, except for SLOW_UNIQUEID's request, which it never answers."""
    if request.uniqueid == SLOW_UNIQUEID:
        await asyncio.Event().wait()
    return RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=20, reason="owner")
