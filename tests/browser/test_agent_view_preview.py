"""The agent page's campaign panel (preview mode, issue 15): shown when the agent's team has a running preview
campaign; "Next card" shows the record and the campaign's script as text, "Skip" gives the next card, "Call" dials it
and the answered call reaches this agent; a refusal shows the server's message and its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import DATABASE
from callcenter.dialer.outcomes import AttemptOutcome
from callcenter.events import CallEnded
from crm_core.dialer_models import AttemptState
from crm_core.models import Contact
from tests.browser.conftest import login_url, screenshot_path
from tests.dialer.test_preview_e2e import preview_campaign
from tests.dialer.test_runner_e2e import TOML, attempts, callees, finished, manager, number_of, until
from tests.floor import running_floor

WAIT_MS = 10_000
AGENT = "1003"
LISTED = ["Hopper", "Turing"]


async def test_the_campaign_panel_shows_a_card_skips_and_calls_it(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        async with floor.app[DATABASE].session() as s:
            for contact in await s.scalars(select(Contact).where(Contact.last_name.in_(LISTED))):
                contact.first_name = "<i>Ada</i>"  # markup in a record must show as typed
        cm = await manager(floor)
        campaign_id = await preview_campaign(floor, cm, LISTED)
        async with floor.http_as(floor.crm.agents[AGENT]) as http:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(await login_url(http, "agent", floor.port))
            await expect(page.locator("#preview")).to_be_visible(timeout=WAIT_MS)
            await expect(page.locator("#preview-campaign")).to_have_text("Renewals")
            await expect(page.locator("#preview-call")).to_be_disabled()

            await page.click("#preview-next")
            await expect(page.locator("#preview-card")).to_be_visible(timeout=WAIT_MS)
            first = await page.locator("#preview-number").text_content()
            assert first in {number_of(n) for n in LISTED}
            listed = {number_of(n): n for n in LISTED}
            await expect(page.locator("#preview-values")).to_contain_text(listed[first])
            await expect(page.locator("#preview-script")).to_contain_text("Hello <i>Ada</i>, this is ")
            assert await page.locator("#preview-script i").count() == 0  # text, never markup
            await page.screenshot(path=str(screenshot_path("agent-view-preview-card")), full_page=True)

            await page.click("#preview-skip")  # the next card in its place
            await expect(page.locator("#preview-number")).not_to_have_text(first, timeout=WAIT_MS)
            second = await page.locator("#preview-number").text_content()
            assert second in listed

            # Put on the campaign's do-not-call list while shown: the call is refused, naming why; the skipped card
            # is still callable and comes next.
            async with floor.http_as(cm) as manager_http:
                resp = await manager_http.post("/api/v1/dnc", json={"e164": second, "campaign_id": campaign_id})
                assert resp.status == 201, await resp.text()
            await page.click("#preview-call")
            await expect(page.locator("#preview-error")).to_contain_text("(e164)", timeout=WAIT_MS)
            await expect(page.locator("#preview-card")).to_be_hidden()
            await page.click("#preview-next")
            await expect(page.locator("#preview-number")).to_have_text(first, timeout=WAIT_MS)
            await expect(page.locator("#preview-error")).to_be_hidden()
            assert floor.sim.pbx.stats.originates == 0

            await page.click("#preview-call")
            await expect(page.locator("#preview-status")).to_contain_text(f"Calling {first}", timeout=WAIT_MS)
            await expect(page.locator("#preview-card")).to_be_hidden()
            ended = await floor.wait(
                lambda: next((e for e in floor.seen if isinstance(e, CallEnded) and e.customer == first), None),
                "the preview call to end")
            assert ended.answered_by == AGENT

            async def connected() -> Any:
                return [r for r in await attempts(floor, campaign_id)
                        if r.state is AttemptState.ENDED and r.outcome is AttemptOutcome.CONNECTED]
            (row,) = await until(floor, connected, "the attempt connected")
            assert (row.e164, row.agent_id) == (first, floor.crm.agents[AGENT])

            # Every number reached its end: the campaign finishes, and with no running preview campaign, no panel.
            await until(floor, lambda: finished(floor, campaign_id), "the campaign to finish")
            await page.reload()
            await expect(page.locator("#link")).to_have_text("connected", timeout=WAIT_MS)
            await expect(page.locator("#preview")).to_be_hidden(timeout=WAIT_MS)
            assert errors == []
