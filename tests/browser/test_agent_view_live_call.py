"""The agent page opened during a call shows that call's card (issue 13: it showed "talking" and no card).

The live model can know the phone is talking a moment before it has linked the call to the agent; the page then
read an empty list of live calls once and showed nothing for the rest of the call. Here the first read is that
empty list (the service's real answer comes after it): the page must look again and show the caller's card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.app_keys import DATABASE, LIVE
from callcenter.events import AgentState
from crm_core.models import Contact, Phone
from sqlalchemy import select
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import ANSWER, running_floor

WAIT_MS = 10_000
AGENT = "1003"


async def test_a_page_opened_during_a_call_shows_its_card_even_when_the_live_model_lags(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        number = floor.customer_of(AGENT)
        async with floor.app[DATABASE].session() as s:
            name = await s.scalar(select(Contact.first_name).join(Phone, Phone.contact_id == Contact.id)
                                  .where(Phone.e164 == number))
        floor.sim.clock.auto = False  # the call stays up until the test moves time on
        floor.sim.pbx.phones[AGENT].scripted.append(ANSWER)
        await floor.call(number, talk_s=600.0)
        await floor.sim.clock.advance(2)
        live = floor.app[LIVE].tracker.agents.agents
        await floor.wait(lambda: live.get(AGENT) is not None and live[AGENT].state is AgentState.TALKING, "the answer")

        reads: list[str] = []

        async def lagging(route: Any) -> None:
            reads.append(route.request.url)
            if len(reads) == 1:  # the model has not linked the call yet
                await route.fulfill(status=200, content_type="application/json", body="[]")
            else:
                await route.continue_()

        async with floor.http_as(floor.crm.agents[AGENT]) as http:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.route("**/api/v1/calls/live", lagging)
            await page.goto(await login_url(http, "agent", floor.port))
            await expect(page.locator("#state")).to_have_text("talking", timeout=WAIT_MS)
            await expect(page.locator("#call")).to_have_attribute("data-phase", "talking", timeout=WAIT_MS)
            await expect(page.locator("#call-number")).to_have_text(number)
            await expect(page.locator("#card-name")).to_contain_text(name)
            assert len(reads) >= 2
            await page.screenshot(path=str(screenshot_path("agent-view-opened-during-a-call")), full_page=True)
            assert errors == []
