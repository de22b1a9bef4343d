"""The composition root wires the Asterisk edge: FastAGI answers, AMI readiness and metrics reflect the session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.connection import AmiState
from callcenter.app import build_app
from callcenter.app_keys import AGI, AMI, DATABASE, ROUTING
from callcenter.config import load_settings
from tests.agi.agi_peer import load_transcript, parse_set_variables, play_asterisk
from tests.ami_conn.ami_peer import AmiPeer
from tests.prom import Scrape, metrics_headers


def _settings(tmp_path: Path, **env: str) -> Any:
    return load_settings(
        environ={"CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'w.sqlite3'}", "CALLCENTER_AGI__PORT": "0", **env}
    )


async def test_fastagi_routes_to_the_team_queue_when_nobody_is_free(
    tmp_path: Path, aiohttp_client: Any, traces_dir: Path
) -> None:
    client = await aiohttp_client(build_app(_settings(tmp_path, CALLCENTER_AGI__DEFAULT_QUEUE="sales")))
    agi = client.app[AGI]
    session = load_transcript(traces_dir / "inbound_agi_dial_answer.agi")[0]
    result = await play_asterisk(agi.port, session.request_bytes())
    variables = dict(parse_set_variables(result.commands))
    assert variables["CC_ACTION"] == "queue" and variables["CC_QUEUE"] == "sales"
    assert variables["CC_REASON"] == "no-agent->queue"
    [decision] = client.app[ROUTING].service.decisions.recent()
    assert decision.caller == session.header("agi_callerid") and decision.team == "support"
    scrape = Scrape(await (await client.get("/metrics", headers=await metrics_headers(client.app[DATABASE]))).text())
    assert scrape.value("callcenter_agi_answered_total") == 1
    assert scrape.value("callcenter_route_answer_seconds_count", route="inbound", outcome="queue") == 1


async def test_ami_readiness_follows_the_session(tmp_path: Path, aiohttp_client: Any, peer: AmiPeer) -> None:
    settings = _settings(
        tmp_path, CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="s3cret"
    )
    client = await aiohttp_client(build_app(settings))
    await client.app[AMI].wait_live(10)
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["checks"]["ami"] == "ok"
    metrics = await (await client.get("/metrics", headers=await metrics_headers(client.app[DATABASE]))).text()
    assert Scrape(metrics).value("callcenter_ami_up") == 1
    await peer.close()  # Asterisk goes away and stays away
    await client.app[AMI].wait_until(lambda c: c.state is not AmiState.LIVE, 10)
    resp = await client.get("/readyz")
    assert resp.status == 503 and (await resp.json())["checks"]["ami"].startswith("down")


async def test_refused_ami_login_makes_the_service_unready(tmp_path: Path, aiohttp_client: Any, peer: AmiPeer) -> None:
    settings = _settings(
        tmp_path, CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="nope"
    )
    client = await aiohttp_client(build_app(settings))
    async with peer.action_seen:
        await asyncio.wait_for(peer.action_seen.wait_for(lambda: any(a.get("Action") == "Login" for a in peer.actions)), 10)
    await client.app[AMI].wait_until(lambda c: c.state is AmiState.AUTH_FAILED, 10)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert "auth_failed" in body["checks"]["ami"] and "Authentication failed" in body["checks"]["ami"]


async def test_live_model_turns_the_ami_stream_into_domain_events(tmp_path: Path, aiohttp_client: Any, peer: AmiPeer, traces_dir: Path) -> None:
    from callcenter.app_keys import BUS
    from callcenter.events import CallEnded
    from tests.ami_conn.ami_peer import trace_frames

    settings = _settings(
        tmp_path, CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="s3cret"
    )
    client = await aiohttp_client(build_app(settings))
    ended: list[CallEnded] = []
    all_ended = asyncio.Event()

    def on_end(event: CallEnded) -> None:
        ended.append(event)
        if len(ended) == 5:
            all_ended.set()

    client.app[BUS].subscribe(on_end, event_type=CallEnded)
    await client.app[AMI].wait_live(10)
    await peer.send(b"".join(trace_frames(traces_dir / "concurrent_calls_5.ami")))
    await asyncio.wait_for(all_ended.wait(), 10)
    # concurrent_calls_5.md: five trunk calls 200 ms apart to 1002..1006, all answered.
    assert sorted(e.answered_by for e in ended) == ["1002", "1003", "1004", "1005", "1006"]
    assert {e.outcome.value for e in ended} == {"answered"}
    assert len({e.call_id for e in ended}) == 5
    # ...and every call is in the CRM: five activities, five new leads (the callers were unknown).
    from sqlalchemy import func, select

    from callcenter.app_keys import DATABASE
    from callcenter.outbox.pipeline import crm_settled
    from crm_core.models import Activity, Lead

    await asyncio.wait_for(crm_settled(client.app), 10)
    async with client.app[DATABASE].session() as s:
        calls = set(await s.scalars(select(Activity.call_id)))
        leads = await s.scalar(select(func.count()).select_from(Lead))
    assert calls == {e.call_id for e in ended} and leads == 5


def test_domain_events_log_one_line_with_the_call_id(caplog: pytest.LogCaptureFixture, traces_dir: Path) -> None:
    import logging

    from callcenter.calls.ingest import AmiIngest
    from callcenter.calls.live import log_domain_event
    from callcenter.calls.tracker import CallTracker

    ingest = AmiIngest(tracker=CallTracker(), publish=log_domain_event)
    with caplog.at_level(logging.INFO, logger="callcenter.calls"):
        ingest.feed_bytes((traces_dir / "inbound_busy.ami").read_bytes())
    ended = [r for r in caplog.records if r.getMessage().startswith("call ended")]
    assert len(ended) == 1
    assert ended[0].call_id == "1795390547.7"
    assert "answered_by=1002" in ended[0].getMessage() and "\n" not in ended[0].getMessage()
    assert any(r.getMessage().startswith("agent 1002") for r in caplog.records)
