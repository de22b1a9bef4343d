"""The wallboard stream: snapshot then numbered deltas from the live model; slow clients are dropped to resync."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.app_keys import AMI, HUB
from callcenter.wallboard.hub import RESYNC_CLOSE_CODE, Hub
from tests.ami_conn.ami_peer import AmiPeer, trace_frames


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await asyncio.wait_for(ws.receive_json(), 10)


async def test_snapshot_then_deltas_in_sequence(make_world: Any, peer: AmiPeer, traces_dir: Any, tmp_path: Path) -> None:
    # Team A's supervisor sees Team A's calls: its routing team serves the trace's DID.
    config = tmp_path / "callcenter.toml"
    config.write_text('[routing]\ndefault_team = "Team A"\n[routing.teams."Team A"]\nqueue = "support"\n')
    world = await make_world(config, CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port),
                             CALLCENTER_AMI__SECRET="s3cret")
    await world.client.app[AMI].wait_live(10)
    token = world.sup_a.headers["Authorization"].split()[1]
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(token)) as ws:
        first = await _next(ws)
        assert first["type"] == "snapshot" and first["state"]["calls"] == []
        await peer.send(b"".join(trace_frames(traces_dir / "inbound_caller_abandons_ringing.ami")))
        seen: list[dict[str, Any]] = []
        while not any(m.get("kind") == "missed" for m in seen):
            seen.append(await _next(ws))
    seqs = [m["seq"] for m in seen]
    assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs)))
    kinds = [m["kind"] for m in seen]
    assert "call" in kinds and "call_gone" in kinds and kinds[-1] == "missed"
    ringing = [m["row"] for m in seen if m["kind"] == "agent" and m["row"]["state"] == "ringing"]
    assert ringing and ringing[0]["agent"] == "1002"
    missed = seen[-1]["row"]
    # inbound_caller_abandons_ringing.md: the caller hangs up while 1002 rings.
    assert missed["outcome"] in ("missed", "abandoned") and missed["caller"].startswith("+1212555")


async def test_wallboard_needs_a_supervisor_token(world: Any) -> None:
    resp = await world.client.get("/api/v1/wallboard/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 401
    token = world.agent_a1.headers["Authorization"].split()[1]
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(token))
    assert info.value.status == 403


async def test_a_slow_client_is_dropped_with_resync_and_others_continue() -> None:
    from callcenter.events import AgentState, AgentStateChanged

    hub = Hub(queue_limit=3)
    slow, _ = hub.connect()
    fast, _ = hub.connect()
    for i in range(5):
        hub.on_event(AgentStateChanged(agent="1002", at_s=float(i), state=AgentState.AVAILABLE, previous=None))
        hub.flush()  # as the loop's next pass would
        fast.take()  # the fast client keeps up
    assert slow.resync and slow not in hub.clients
    assert fast in hub.clients and not fast.resync
    assert hub.dropped == 1 and RESYNC_CLOSE_CODE == 4000


async def test_a_screen_asking_to_resync_is_closed_for_a_fresh_start_and_a_leaving_one_frees_its_slot(
    world: Any,
) -> None:
    from callcenter.events import AgentState, AgentStateChanged

    hub = world.client.app[HUB]
    token = world.admin.headers["Authorization"].split()[1]
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(token)) as ws:
        snapshot = await _next(ws)
        hub.on_event(AgentStateChanged(agent="1002", at_s=1.0, state=AgentState.AVAILABLE, previous=None))
        delta = await _next(ws)
        assert (snapshot["type"], delta["type"], delta["seq"]) == ("snapshot", "delta", snapshot["seq"] + 1)
        await ws.send_str('{"type":"resync"}')
        closed = await asyncio.wait_for(ws.receive(), 10)
        assert (closed.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, RESYNC_CLOSE_CODE)
    left = asyncio.Event()
    disconnect = hub.disconnect
    hub.disconnect = lambda client: (disconnect(client), left.set())  # type: ignore[method-assign]
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(token)) as ws:
        await _next(ws)
        assert len(hub.clients) == 1
    # The browser left: its writer woke up and gave its place back.
    await asyncio.wait_for(left.wait(), 10)
    assert not hub.clients


async def test_the_page_and_its_assets_are_served_without_a_build_step(world: Any) -> None:
    page = await world.client.get("/wallboard")
    assert page.status == 200 and "wallboard.js" in await page.text()
    for asset, kind in (("wallboard.js", "javascript"), ("wallboard.css", "css")):
        resp = await world.client.get(f"/wallboard/static/{asset}")
        assert resp.status == 200 and kind in resp.headers["Content-Type"]
    for escape in ("/wallboard/static/%2e%2e/%2e%2e/app.py", "/wallboard/static/..%2f..%2fapp.py"):
        resp = await world.client.get(escape)
        assert resp.status in (401, 403, 404) and "composition root" not in await resp.text()
