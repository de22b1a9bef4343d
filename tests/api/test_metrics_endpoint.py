"""GET /metrics over a real socket: who may read it, what it shows, and that its figures move with the state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import select

from callcenter import cli
from callcenter.app import build_app
from callcenter.app_keys import FEEDS, METRICS
from callcenter.config import load_settings
from callcenter.mail.outbox import queue_mail
from callcenter.metrics import Backlog
from crm_core.outbox_models import OutboxCursor
from tests.api.conftest import World
from tests.prom import Scrape, metrics_headers


async def _scrape(world: World, headers: dict[str, str]) -> Scrape:
    resp = await world.client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
    return Scrape(await resp.text())


async def test_metrics_need_an_admin_or_a_metrics_token(world: World) -> None:
    assert (await world.client.get("/metrics")).status == 401
    for actor in (world.agent_a1, world.sup_a):
        resp = await world.client.get("/metrics", headers=actor.headers)
        assert resp.status == 403 and "metrics:read" in (await resp.json())["error"]["message"]
    # A token in the URL is refused as such, even an admin's: it would land in access logs.
    secret = world.admin.headers["Authorization"].removeprefix("Bearer ")
    resp = await world.client.get("/metrics", params={"access_token": secret})
    assert resp.status == 401 and "not accepted in URLs" in (await resp.json())["error"]["message"]

    assert "callcenter_outbox_depth" in (await _scrape(world, world.admin.headers)).names()
    monitoring = await metrics_headers(world.db)
    assert "callcenter_outbox_depth" in (await _scrape(world, monitoring)).names()
    # The monitoring token reads the metrics and nothing else.
    resp = await world.client.get("/api/v1/calls/live", headers=monitoring)
    assert resp.status == 403 and "metrics:read" in (await resp.json())["error"]["message"]
    assert (await world.client.post("/api/v1/auth/ws-ticket", headers=monitoring)).status == 403


async def test_openmetrics_when_the_scraper_asks_for_it(world: World) -> None:
    resp = await world.client.get(
        "/metrics", headers={**world.admin.headers, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).endswith("# EOF\n")


async def test_outbox_and_websocket_figures_follow_the_state(world: World) -> None:
    before = await _scrape(world, world.admin.headers)
    assert before.value("callcenter_metrics_database_up") == 1
    assert before.value("callcenter_outbox_depth", consumer="mail") == 0
    assert before.value("callcenter_outbox_oldest_age_seconds", consumer="mail") == 0
    assert before.value("callcenter_outbox_depth", consumer="webhook") == 0
    assert before.value("callcenter_transcription_queue_depth") == 0
    assert before.get("callcenter_websocket_clients", endpoint="agent") is None

    async with world.db.session() as session:
        for n in range(2):
            assert await queue_mail(session, source="test", dedupe_key=f"metrics-{n}", to=["ops@example.com"],
                                    subject="hello", body="")
    headers = world.agent_a1.headers
    supervisor = world.sup_a.headers["Authorization"][7:]
    async with world.client.ws_connect("/api/v1/agent/ws", params=await world.ws_params(headers["Authorization"][7:])) as ws, \
            world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(supervisor)) as board:
        assert (await ws.receive_json())["type"] == "hello"  # sent after the socket is registered
        await board.receive_json()  # the snapshot, likewise
        during = await _scrape(world, world.admin.headers)
    assert during.value("callcenter_outbox_depth", consumer="mail") == 2  # no sender runs without mail settings
    assert during.value("callcenter_outbox_oldest_age_seconds", consumer="mail") >= 0
    assert during.value("callcenter_websocket_clients", endpoint="agent") == 1
    assert during.value("callcenter_websocket_clients", endpoint="wallboard") == 1


async def test_each_app_has_its_own_registry(world: World, tmp_path: Path) -> None:
    other = build_app(load_settings(environ={"CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'o.sqlite3'}"}))
    assert other[METRICS].registry is not world.client.app[METRICS].registry
    mine = world.client.app[METRICS].route_answer_seconds
    mine.labels("inbound", "dial").observe(0.01)
    assert Scrape(generate_latest(other[METRICS].registry).decode()).get(
        "callcenter_route_answer_seconds_count", route="inbound", outcome="dial") is None
    assert (await _scrape(world, world.admin.headers)).value(
        "callcenter_route_answer_seconds_count", route="inbound", outcome="dial") == 1


def test_cli_makes_a_metrics_only_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert cli.main(["add-user", "prometheus", "--role", "agent", "--metrics-only"]) == 0
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert printed["scope"] == "metrics:read" and printed["token"] and printed["role"] == "agent"


async def test_more_durable_queues_join_the_outbox_figures(world: World) -> None:
    async def event_outbox(_db: object) -> dict[str, Backlog]:
        return {"crm": Backlog(depth=3, oldest_age_s=1.5)}

    world.client.app[METRICS].state.sources.db_backlogs.append(event_outbox)
    scrape = await _scrape(world, world.admin.headers)
    assert scrape.value("callcenter_outbox_depth", consumer="crm") == 3
    assert scrape.value("callcenter_outbox_oldest_age_seconds", consumer="crm") == 1.5
    assert scrape.value("callcenter_outbox_depth", consumer="mail") == 0


async def test_a_hanging_database_read_leaves_the_other_figures(world: World) -> None:
    never = asyncio.Event()

    async def hangs(_db: object) -> dict[str, Backlog]:
        await never.wait()
        return {}

    world.client.app[METRICS].state.sources.db_backlogs.append(hangs)
    scrape = await _scrape(world, world.admin.headers)  # answered once the database figures' time is up
    assert scrape.value("callcenter_metrics_database_up") == 0
    assert scrape.get("callcenter_transcription_queue_depth") is None
    assert scrape.value("callcenter_calls_ended_total", outcome="answered") == 0


async def test_every_event_outbox_consumer_has_its_backlog(world: World) -> None:
    feeds = world.client.app[FEEDS]
    assert feeds  # the in-process workers' feeds
    for feed in feeds.values():  # each made its cursor and read to the end
        await asyncio.wait_for(feed.caught_up.wait(), 10)
    async with world.db.read_session() as session:
        consumers = list(await session.scalars(select(OutboxCursor.consumer)))
    assert sorted(consumers) == sorted(feeds)
    scrape = await _scrape(world, world.admin.headers)
    for consumer in consumers:
        # caught up and nothing new written (no calls here): nothing waits for it
        assert scrape.value("callcenter_outbox_depth", consumer=f"event_outbox:{consumer}") == 0
        assert scrape.value("callcenter_outbox_oldest_age_seconds", consumer=f"event_outbox:{consumer}") == 0
