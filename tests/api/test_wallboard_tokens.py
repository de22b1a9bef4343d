"""Read-only wallboard links for a TV: a token that reads the wallboard of its teams and nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from callcenter.app_keys import HUB
from callcenter.events import AgentState, AgentStateChanged
from tests.api.conftest import Actor, World

TOKENS = "/api/v1/wallboard/tokens"


def _bearer(secret: str) -> Actor:
    return Actor(id=0, team_id=None, headers={"Authorization": f"Bearer {secret}"})


def _agent_event(agent: str, at_s: float) -> AgentStateChanged:
    return AgentStateChanged(agent=agent, at_s=at_s, state=AgentState.AVAILABLE, previous=None)


async def _mint(world: World, actor: Actor, **body: Any) -> dict[str, Any]:
    status, token = await world.call(actor, "POST", TOKENS, {"name": "TV in the hall", **body})
    assert status == 201, token
    return token


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await asyncio.wait_for(ws.receive_json(), 10)


async def test_a_tv_token_reads_its_teams_wallboard_only(world: World) -> None:
    token = await _mint(world, world.sup_a)  # no teams named: the supervisor's own
    assert (token["scope"], token["team_ids"]) == ("wallboard:read", [world.sup_a.team_id])
    # The link holds a one-time login code, never the token (it would land in access logs and browser history).
    assert token["url"].startswith("/wallboard?login=login_") and token["token"] not in token["url"]
    tv = _bearer(token["token"])
    status, me = await world.call(tv, "GET", "/api/v1/wallboard/me")
    assert status == 200 and (me["teams"], me["read_only"], me["role"]) == (["Team A"], True, "supervisor")

    hub = world.client.app[HUB]
    hub.on_event(_agent_event("1004", 1.0))  # Team B's agent, before the TV connects
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(token["token"])) as ws:
        snapshot = await _next(ws)
        assert snapshot["type"] == "snapshot" and snapshot["state"]["agents"] == []
        assert snapshot["config"]["thresholds"]["service_level_pct"] == {"amber": 80.0, "red": 70.0}
        hub.on_event(_agent_event("1004", 2.0))  # Team B: not for this screen
        hub.on_event(_agent_event("1002", 3.0))  # Team A
        delta = await _next(ws)
        # The first thing the TV gets is Team A's agent, numbered right after its snapshot: no gap, no resync.
        assert (delta["kind"], delta["row"]["agent"], delta["team"]) == ("agent", "1002", "Team A")
        assert delta["seq"] == snapshot["seq"] + 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/contacts", {"last_name": "Nope"}),
        ("GET", "/api/v1/contacts", None),
        ("GET", "/api/v1/agents", None),
        ("POST", "/api/v1/agents/1002/pause", {"reason": "tv"}),
        ("GET", "/api/v1/reports/team-figures", None),
        ("POST", TOKENS, {"name": "another"}),
        ("POST", "/api/v1/tokens", {"user_id": 1, "name": "escalate"}),
    ],
)
async def test_a_tv_token_is_refused_everywhere_else(world: World, method: str, path: str, body: Any) -> None:
    tv = _bearer((await _mint(world, world.sup_a))["token"])
    status, err = await world.call(tv, method, path, body)
    assert status == 403 and "wallboard:read" in err["error"]["message"]


async def test_who_may_make_a_tv_token_for_which_team(world: World) -> None:
    team_b = world.agent_b1.team_id
    status, err = await world.call(world.sup_a, "POST", TOKENS, {"name": "TV", "team_ids": [team_b]})
    assert status == 403 and err["error"]["field"] == "team_ids"
    status, _ = await world.call(world.agent_a1, "POST", TOKENS, {"name": "TV"})
    assert status == 403
    status, err = await world.call(world.admin, "POST", TOKENS, {"name": "TV", "team_ids": [999]})
    assert status == 404 and err["error"]["field"] == "team_ids"
    status, err = await world.call(world.admin, "POST", TOKENS, {"name": "TV"})  # an admin has no own team
    assert status == 422 and err["error"]["field"] == "team_ids"
    status, err = await world.call(world.admin, "POST", TOKENS, {"name": "", "team_ids": [team_b]})
    assert status == 422
    both = await _mint(world, world.admin, team_ids=[team_b, world.sup_a.team_id, team_b])
    _, me = await world.call(_bearer(both["token"]), "GET", "/api/v1/wallboard/me")
    assert me["teams"] == ["Team A", "Team B"]


async def test_a_tv_token_of_another_team_is_refused_that_team(world: World) -> None:
    tv_b = await _mint(world, world.admin, team_ids=[world.agent_b1.team_id])
    hub = world.client.app[HUB]
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(tv_b["token"])) as ws:
        snapshot = await _next(ws)
        hub.on_event(_agent_event("1002", 1.0))  # Team A
        hub.on_event(_agent_event("1004", 2.0))  # Team B
        delta = await _next(ws)
        assert delta["row"]["agent"] == "1004" and delta["seq"] == snapshot["seq"] + 1


async def test_a_tv_token_stops_with_its_makers_access(world: World) -> None:
    token = await _mint(world, world.sup_a)
    tv = _bearer(token["token"])
    # The supervisor moves to Team B: the link made for Team A shows nothing any more.
    status, _ = await world.call(world.admin, "PATCH", f"/api/v1/users/{world.sup_a.id}", {"team_id": world.agent_b1.team_id})
    assert status == 200
    _, me = await world.call(tv, "GET", "/api/v1/wallboard/me")
    assert me["teams"] == []
    status, _ = await world.call(world.sup_a, "DELETE", f"/api/v1/tokens/{token['id']}")
    assert status == 200
    status, _ = await world.call(tv, "GET", "/api/v1/wallboard/me")
    assert status == 401
    resp = await world.client.post("/api/v1/auth/ws-ticket", headers=tv.headers)
    assert resp.status == 401
