"""The reports page is served like the wallboard's: the static page needs no token, everything else near it does,
and the address that carried a login code is never sent on as a Referer."""

from __future__ import annotations

import pytest

from tests.api.conftest import World

ASSETS = ("reports.js", "reports.css")


async def test_the_page_and_its_assets_need_no_token(world: World) -> None:
    resp = await world.client.get("/reports")
    assert resp.status == 200 and "text/html" in resp.content_type
    assert (resp.headers["Referrer-Policy"], resp.headers["Cache-Control"]) == ("no-referrer", "no-store")
    page = await resp.text()
    for asset in ASSETS:
        assert f"/reports/static/{asset}" in page
        resp = await world.client.get(f"/reports/static/{asset}")
        assert resp.status == 200, asset
    assert "javascript" in (await world.client.get("/reports/static/reports.js")).content_type  # ES modules need it


@pytest.mark.parametrize("path", ["/reportsx", "/reports/other", "/reports/static/../../app.py"])
async def test_nothing_else_near_it_is_public(world: World, path: str) -> None:
    resp = await world.client.get(path)
    assert resp.status == 401


async def test_the_reports_data_needs_a_token(world: World) -> None:
    for path in ("/api/v1/reports/team-figures", "/api/v1/reports/team-figures/chart"):
        resp = await world.client.get(path)
        assert resp.status == 401, path
    resp = await world.client.get("/reports/static/missing.js")
    assert resp.status == 404
