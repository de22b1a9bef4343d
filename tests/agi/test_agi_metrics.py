"""The FastAGI server's figures in an app's metrics registry: answer times by route and outcome, fail-open reasons."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import generate_latest

from callcenter.ami.agi import AgiSession
from callcenter.metrics import Metrics, Sources
from tests.agi.agi_peer import TranscriptSession, play_asterisk
from tests.agi.conftest import ServerFactory
from tests.agi.test_fastagi_server import SLOW_UNIQUEID, _with_headers, owner_unless_slow
from tests.prom import Scrape

LoadTranscript = Callable[[str], list[TranscriptSession]]


async def test_answers_and_fail_opens_are_counted_by_route_outcome_and_reason(
    make_server: ServerFactory, transcript: LoadTranscript
) -> None:
    [session] = transcript("inbound_agi_dial_answer")
    server = await make_server(decide=owner_unless_slow, time_budget_ms=50)
    metrics = Metrics(Sources(agi=lambda: server))
    server.on_answered = metrics.route_answered
    await play_asterisk(server.port, session.request_bytes())
    await play_asterisk(server.port, session.request_bytes())
    await play_asterisk(server.port, _with_headers(session, agi_uniqueid=SLOW_UNIQUEID))  # over the budget
    await play_asterisk(server.port, _with_headers(session, agi_arg_1="x"))  # bad attempt: malformed, fails open
    await play_asterisk(server.port, b"\xff\n\n")  # no channel to answer: closed, not a fail-open

    scrape = Scrape(generate_latest(metrics.registry).decode())
    assert scrape.value("callcenter_route_answer_seconds_count", route="inbound", outcome="dial") == 2
    assert scrape.value("callcenter_route_answer_seconds_count", route="inbound", outcome="fail_open") == 1
    # The timed-out answer took at least the budget; the fast ones are in the lowest buckets.
    assert scrape.value("callcenter_route_answer_seconds_sum", route="inbound", outcome="fail_open") >= 0.05
    assert scrape.value("callcenter_route_fail_open_total", reason="timeout") == 1
    assert scrape.value("callcenter_route_fail_open_total", reason="malformed") == 1
    assert scrape.get("callcenter_route_fail_open_total", reason="error") is None
    assert scrape.value("callcenter_agi_requests_total") == 5
    assert scrape.value("callcenter_agi_fail_open_total") == 2
    # Every fail-open answer has its reason: the two figures add up.
    assert sum(v for (name, _), v in scrape.samples.items() if name == "callcenter_route_fail_open_total") == 2


async def test_routes_served_beside_the_router_are_timed(make_server: ServerFactory, transcript: LoadTranscript) -> None:
    [session] = transcript("inbound_agi_dial_answer")

    async def handler(agi: AgiSession) -> None:
        await agi.send_command('SET VARIABLE CC_ACTION "hangup"')

    server = await make_server(routes={"campaign-test": handler})
    metrics = Metrics()
    server.on_answered = metrics.route_answered
    result = await play_asterisk(server.port, _with_headers(session, agi_network_script="campaign-test"))
    assert result.commands == ['SET VARIABLE CC_ACTION "hangup"']

    scrape = Scrape(generate_latest(metrics.registry).decode())
    assert scrape.value("callcenter_route_answer_seconds_count", route="campaign-test", outcome="answered") == 1
    assert scrape.get("callcenter_route_answer_seconds_count", route="inbound", outcome="dial") is None
