"""Playback over HTTP with Range requests, per-role access, transcripts, search, legal hold, erasure, retention."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from callcenter.api.auth import auth_middleware
from callcenter.api.framework import bind, error_middleware
from callcenter.outbox.pipeline import feeds_settled
from callcenter.recording import http as rec_http
from callcenter.recording.service import RecordingService
from callcenter.recording.worker import run_worker
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Role
from crm_core.records import PhoneRules
from crm_core.schemas import TeamIn, TokenIn, UserIn
from crm_core.users import create_team, create_token, create_user
from tests.recording.test_ingest import add_activity, ready, rows_of
from tests.recording.test_worker import Flaky

RULES = PhoneRules.build(region="US", own_numbers=[])
SIZE = 216044  # the real r()/t() WAVs


@dataclass
class World:
    client: TestClient
    service: RecordingService
    headers: dict[str, dict[str, str]]
    team_a: int
    call_id: str
    mix_id: int

    async def get(self, who: str | None, path: str, **headers: str) -> Any:
        return await self.client.get(path, headers={**(self.headers[who] if who else {}), **headers})

    async def send(self, who: str, method: str, path: str, body: Any) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=self.headers[who])
        return resp.status, await resp.json()


@pytest.fixture
async def world(db: Database, make_service, rx_tx_call, aiohttp_client) -> World:  # type: ignore[no-untyped-def]
    headers: dict[str, dict[str, str]] = {}
    ids: dict[str, int] = {}
    async with db.session() as s:
        system = Principal.system()
        team_a = await create_team(s, system, TeamIn(name="A"))
        team_b = await create_team(s, system, TeamIn(name="B"))
        for key, role, team in [("admin", Role.ADMIN, None), ("sup_a", Role.SUPERVISOR, team_a.id),
                                ("sup_b", Role.SUPERVISOR, team_b.id), ("agent_a1", Role.AGENT, team_a.id),
                                ("agent_a2", Role.AGENT, team_a.id), ("agent_b1", Role.AGENT, team_b.id)]:
            user = await create_user(s, system, UserIn(name=key, role=role, team_id=team))
            _, secret = await create_token(s, system, TokenIn(user_id=user.id, name="t"))
            headers[key] = {"Authorization": f"Bearer {secret}"}
            ids[key] = user.id
    service = make_service()
    call_id, path, legs = rx_tx_call
    await add_activity(db, call_id, user_id=ids["agent_a1"])  # agent a1 took the call
    rows = await service.ingest(ready(call_id, path, legs))
    await run_worker(db=db, storage=service.storage, transcriber=Flaky(failures=0), settings=service.settings,
                     until_drained=True)
    app = web.Application(middlewares=[error_middleware, auth_middleware(db)])
    for route in rec_http.api.routes:
        app.router.add_route(route.method, route.path, bind(route, db=db, rules=RULES))
    app[rec_http.RECORDINGS] = service
    client = await aiohttp_client(app)
    mix_id = next(r.id for r in rows if r.leg == "mix")
    return World(client=client, service=service, headers=headers, team_a=team_a.id, call_id=call_id, mix_id=mix_id)


async def test_whole_file_then_ranges(world: World, spool: Path) -> None:
    original = (spool / f"{world.call_id}.wav").read_bytes()
    url = f"/api/v1/recordings/{world.mix_id}/audio"
    resp = await world.get("agent_a1", url)
    assert resp.status == 200 and await resp.read() == original
    assert resp.headers["Accept-Ranges"] == "bytes" and resp.headers["Content-Type"] == "audio/wav"
    assert int(resp.headers["Content-Length"]) == SIZE
    etag = resp.headers["ETag"]

    resp = await world.get("agent_a1", url, Range="bytes=0-99")
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 0-99/{SIZE}"
    assert await resp.read() == original[:100]
    resp = await world.get("agent_a1", url, Range="bytes=100000-")  # spans several read chunks
    assert resp.status == 206 and await resp.read() == original[100000:]
    resp = await world.get("agent_a1", url, Range="bytes=-44")
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes {SIZE - 44}-{SIZE - 1}/{SIZE}"
    assert await resp.read() == original[-44:]
    resp = await world.get("agent_a1", url, Range="bytes=10-20", **{"If-Range": etag})
    assert resp.status == 206 and await resp.read() == original[10:21]
    resp = await world.get("agent_a1", url, Range="bytes=10-20", **{"If-Range": '"another-version"'})
    assert resp.status == 200 and len(await resp.read()) == SIZE


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", "bytes=500-100", "bytes=-0", "bytes=x-y"])
async def test_unsatisfiable_ranges_get_416(world: World, header: str) -> None:
    resp = await world.get("admin", f"/api/v1/recordings/{world.mix_id}/audio", Range=header)
    assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{SIZE}"


async def test_download_names_the_file(world: World) -> None:
    resp = await world.get("admin", f"/api/v1/recordings/{world.mix_id}/audio?download=1")
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{world.call_id}-mix.wav"'


@pytest.mark.parametrize(
    ("who", "status"),
    [("agent_a1", 200), ("agent_a2", 404), ("agent_b1", 404), ("sup_a", 200), ("sup_b", 404), ("admin", 200), (None, 401)],
)
async def test_who_may_play_list_and_read(world: World, who: str | None, status: int) -> None:
    for path in (f"/api/v1/recordings/{world.mix_id}/audio", f"/api/v1/calls/{world.call_id}/recordings",
                 f"/api/v1/calls/{world.call_id}/transcript", f"/api/v1/calls/{world.call_id}"):
        resp = await world.get(who, path)
        assert resp.status == status, (path, resp.status)
        await resp.read()


async def test_the_call_comes_with_activity_recordings_and_transcript(world: World) -> None:
    resp = await world.get("sup_a", f"/api/v1/calls/{world.call_id}")
    data = await resp.json()
    assert data["activity"]["call_id"] == world.call_id
    assert data["activity"]["transcript_ref"] == f"/api/v1/transcripts/{data['transcripts'][0]['id']}"
    assert {r["leg"]: r["status"] for r in data["recordings"]} == {"mix": "stored", "rx": "stored", "tx": "stored"}
    assert all(r["audio_url"] and len(r["sha256"]) == 64 for r in data["recordings"])
    (transcript,) = data["transcripts"]
    assert [t["speaker"] for t in transcript["conversation"]] == ["agent", "customer"]  # the greeting first
    assert transcript["metrics"]["duration_s"] == 13.5
    resp = await world.get("sup_a", data["activity"]["transcript_ref"])
    assert (await resp.json())["id"] == transcript["id"]


@pytest.mark.parametrize(("who", "hits"), [("agent_a1", 1), ("sup_a", 1), ("admin", 1), ("agent_b1", 0), ("sup_b", 0)])
async def test_search_finds_only_what_one_may_see(world: World, who: str, hits: int) -> None:
    resp = await world.get(who, "/api/v1/transcripts/search?q=refund")
    page = await resp.json()
    assert resp.status == 200 and page["total"] == hits, page
    if hits:
        (hit,) = page["items"]
        assert hit["call_id"] == world.call_id and "[refund]" in hit["snippet"].lower()


async def test_search_with_stemming_and_bad_queries(world: World) -> None:
    page = await (await world.get("admin", "/api/v1/transcripts/search?q=refunds")).json()
    assert page["total"] == 1  # "refunds" finds "refund" on both databases
    page = await (await world.get("admin", '/api/v1/transcripts/search?q=refund%20NEAR(%22")')).json()
    assert page["total"] == 0  # FTS syntax in the input is just words
    resp = await world.get("admin", "/api/v1/transcripts/search?q=%20%2A")
    assert resp.status == 422


async def test_legal_hold_and_erasure_are_admin_actions(world: World, store_dir: Path) -> None:
    hold = f"/api/v1/calls/{world.call_id}/recordings/legal-hold"
    erase = f"/api/v1/calls/{world.call_id}/recordings/erase"
    status, err = await world.send("sup_a", "PUT", hold, {"hold": True, "reason": "dispute"})
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, rows = await world.send("admin", "PUT", hold, {"hold": True, "reason": "dispute"})
    assert status == 200 and all(r["legal_hold"] for r in rows)
    status, err = await world.send("admin", "POST", erase, {"reason": "GDPR request"})
    assert status == 409 and "legal hold: dispute" in err["error"]["message"]
    status, _ = await world.send("admin", "PUT", hold, {"hold": False})
    assert status == 200

    status, err = await world.send("agent_a1", "POST", erase, {"reason": "GDPR request"})
    assert status == 403
    status, done = await world.send("admin", "POST", erase, {"reason": "GDPR request"})
    assert status == 200 and done == {"call_id": world.call_id, "recordings": 3, "transcripts": 1}
    await world.service.drain()  # the files go after the commit
    assert not [p for p in store_dir.rglob("*.wav")]
    resp = await world.get("admin", f"/api/v1/recordings/{world.mix_id}/audio")
    assert resp.status == 404
    page = await (await world.get("admin", "/api/v1/transcripts/search?q=refund")).json()
    assert page["total"] == 0
    rows = await (await world.get("admin", f"/api/v1/calls/{world.call_id}/recordings")).json()
    assert {r["status"] for r in rows} == {"deleted"} and all(r["audio_url"] is None for r in rows)


async def test_retention_per_team(world: World) -> None:
    url = f"/api/v1/teams/{world.team_a}/recording-retention"
    assert (await (await world.get("sup_a", url)).json()) == {"team_id": world.team_a, "retention_days": 0, "default": True}
    status, _ = await world.send("sup_a", "PUT", url, {"retention_days": 90})
    assert status == 403
    status, out = await world.send("admin", "PUT", url, {"retention_days": 90})
    assert status == 200 and out == {"team_id": world.team_a, "retention_days": 90, "default": False}
    assert (await (await world.get("sup_a", url)).json())["retention_days"] == 90
    assert (await world.get("sup_b", url)).status == 404
    status, err = await world.send("admin", "PUT", url, {"retention_days": -1})
    assert status == 422


async def test_wiring_into_the_service_app(db: Database, db_url: str, rec_settings, rx_tx_call, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """build_app mounts the routes (in /openapi.json) and runs the ingest loop: a RecordingReady on the app's bus
    lands in the store configured by the [recording] settings."""
    from callcenter.app import build_app
    from callcenter.app_keys import BUS
    from callcenter.config import load_settings
    from callcenter.events import RecordingReady
    from crm_core.recording_models import RecordingStatus

    settings = load_settings(None, environ={
        "CALLCENTER_DATABASE__URL": db_url, "CALLCENTER_DATABASE__MIGRATE_ON_START": "false",
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_RECORDING__SPOOL_DIR": rec_settings.spool_dir,
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": rec_settings.asterisk_spool_dir,
        "CALLCENTER_RECORDING__STORE_DIR": rec_settings.store_dir,
        "CALLCENTER_RECORDING__MISSING_GRACE_S": "0",
    })
    app = build_app(settings, database=db)
    client = await aiohttp_client(app)  # starts the cleanup contexts: the ingest loop runs
    call_id, path, legs = rx_tx_call
    app[BUS].publish(RecordingReady(call_id=call_id, at_s=0.0, path=path, leg_paths=legs))
    await asyncio.wait_for(feeds_settled(app), 10)  # through the outbox to the recording feed
    rows = await rows_of(db, call_id)
    assert {r.status for r in rows.values()} == {RecordingStatus.STORED}
    assert all(Path(rec_settings.store_dir, r.storage_key).is_file() for r in rows.values())
    paths = (await (await client.get("/openapi.json")).json())["paths"]
    assert {"/api/v1/recordings/{id}/audio", "/api/v1/transcripts/search", "/api/v1/calls/{call_id}/transcript"} <= set(paths)
