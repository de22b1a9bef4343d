"""Token handling in the browser: a page opens from a one-time login link, the code leaves the address bar, a
second use of the link fails visibly, and revoking the token signs an open wallboard out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import DATABASE
from crm_core.access import Principal
from crm_core.models import ApiToken, Role
from crm_core.schemas import UserIn
from crm_core.users import create_user, hash_token
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import running_floor

WAIT_MS = 10_000


async def test_a_login_link_works_once_and_leaves_no_code_in_the_address_bar(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        async with floor.http_as(floor.crm.agents["1003"]) as http:
            url = await login_url(http, "agent", floor.port)
            page = await browser.new_page()
            await page.goto(url)
            await expect(page.locator("#link")).to_have_text("connected", timeout=WAIT_MS)
            assert "login=" not in page.url
            token = await page.evaluate("sessionStorage.getItem('cc_token')")
            assert token and token not in url and token != http.headers["Authorization"].split()[1]
            # The same link again (another browser): spent, and the page says so.
            other = await (await browser.new_context()).new_page()
            await other.goto(url)
            await expect(other.locator("#notice")).to_contain_text("used or expired", timeout=WAIT_MS)
            await expect(other.locator("#login")).to_be_visible()
            assert "login=" not in other.url
            await other.screenshot(path=str(screenshot_path("agent-login-link-spent")))


async def test_revoking_the_token_signs_an_open_wallboard_out(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        async with floor.app[DATABASE].session() as s:
            sup = await create_user(s, Principal.system(), UserIn(name="Sue Supervisor", role=Role.SUPERVISOR))
        async with floor.http_as(sup.id) as http:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(await login_url(http, "wallboard", floor.port))
            await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
            # The page runs on its own session token, made from this one: revoking this one ends both.
            async with floor.app[DATABASE].session() as s:
                token_id = await s.scalar(select(ApiToken.id).where(
                    ApiToken.token_hash == hash_token(http.headers["Authorization"].split()[1])))
            async with http.delete(f"/api/v1/tokens/{token_id}") as resp:
                assert resp.status == 200
            await expect(page.locator("#status")).to_have_text("signed out", timeout=WAIT_MS)
            await expect(page.locator("#viewer")).to_contain_text("revoked", timeout=WAIT_MS)
            await page.screenshot(path=str(screenshot_path("wallboard-token-revoked")))
