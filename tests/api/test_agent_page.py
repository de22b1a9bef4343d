"""The agent's page is served like the wallboard's: the static page needs no token, everything else does."""

from __future__ import annotations

import pytest

from tests.api.conftest import World


async def test_the_page_and_its_assets_need_no_token(world: World) -> None:
    resp = await world.client.get("/agent")
    assert resp.status == 200 and "text/html" in resp.content_type
    page = await resp.text()
    for asset in ("agent.js", "agent.css"):
        assert f"/agent/static/{asset}" in page
    for asset in ("agent.js", "call.js", "api.js", "agent.css"):
        resp = await world.client.get(f"/agent/static/{asset}")
        assert resp.status == 200, asset
    assert "javascript" in (await world.client.get("/agent/static/agent.js")).content_type  # ES modules need it


@pytest.mark.parametrize("path", ["/agentx", "/agent/other", "/api/v1/agent/ws"])
async def test_nothing_else_near_it_is_public(world: World, path: str) -> None:
    resp = await world.client.get(path)
    assert resp.status == 401


async def test_assets_outside_the_folder_are_not_served(world: World) -> None:
    resp = await world.client.get("/agent/static/../../app.py")  # normalised to /app.py: not public
    assert resp.status == 401
    resp = await world.client.get("/agent/static/..%2F..%2Fapp.py")
    assert resp.status in (403, 404)
    resp = await world.client.get("/agent/static/missing.js")
    assert resp.status == 404
