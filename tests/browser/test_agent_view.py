"""The agent view in real headless Chromium: an agent opens /agent, pauses and comes back, a known customer calls
them through the simulator, the pop shows who the customer's owner is, and the wrap-up is saved. Assertions are on
what a person sees; every wait is a bounded wait on the DOM or on the service's events."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from callcenter.app_keys import DATABASE, LIVE, ROUTING
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState
from crm_core.models import Activity, Disposition, User
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import ANSWER, Floor, running_floor

WAIT_MS = 10_000
AGENT = "1003"


async def _owner_name(floor: Floor, user_id: int) -> str:
    async with floor.app[DATABASE].session() as s:
        return await s.scalar(select(User.name).where(User.id == user_id))


async def test_the_pop_shows_the_callers_owner_and_the_wrap_up_is_saved(browser: object, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        me = floor.crm.agents[AGENT]
        owner = await _owner_name(floor, me)
        number = floor.customer_of(AGENT)
        async with floor.http_as(me) as http:
            page = await browser.new_page()  # type: ignore[attr-defined]
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(await login_url(http, "agent", floor.port))
            await expect(page.locator("#link")).to_have_text("connected", timeout=WAIT_MS)
            await expect(page.locator("#state")).to_have_text("available", timeout=WAIT_MS)
            assert "login=" not in page.url  # the one-time code leaves the address bar at once

            # Pause with a reason, see it, come back.
            await page.fill("#pause-reason", "lunch")
            await page.click("#pause")
            await expect(page.locator("#state")).to_have_text("paused: lunch", timeout=WAIT_MS)
            await page.click("#unpause")
            await expect(page.locator("#state")).to_have_text("available", timeout=WAIT_MS)
            await floor.all_available()

            # Hold the call while it rings, so the screenshot shows the pop as the agent sees it before answering.
            floor.sim.clock.auto = False
            floor.sim.pbx.phones[AGENT].scripted.append(ANSWER)
            await floor.call(number, talk_s=20.0)
            await floor.sim.clock.advance(0.5)
            await expect(page.locator("#call")).to_have_attribute("data-phase", "ringing", timeout=WAIT_MS)
            await expect(page.locator("#card-owner")).to_have_text(owner, timeout=WAIT_MS)
            await expect(page.locator("#call-number")).to_have_text(number)
            await expect(page.locator("#card-deals li").first).not_to_have_text("none")
            await page.screenshot(path=str(screenshot_path("agent-view-ringing")), full_page=True)

            floor.sim.clock.auto = True  # answered after a second, then 20 s of talk, in virtual time
            await expect(page.locator("#call")).to_have_attribute("data-phase", "ended", timeout=WAIT_MS)
            await page.check("#disposition-callback")
            await expect(page.locator("#callback-row")).to_be_visible()
            await page.fill("#notes", "Call back about the renewal")
            await page.click("#wrap-save")
            await expect(page.locator("#wrap-result")).to_have_attribute("data-disposition", "callback", timeout=WAIT_MS)
            await expect(page.locator("#wrap-result")).to_contain_text("Saved: callback")
            await expect(page.locator("#callbacks li")).to_have_count(1, timeout=WAIT_MS)
            await page.screenshot(path=str(screenshot_path("agent-view-wrapped-up")), full_page=True)
            assert errors == []

        [logged] = [e for e in floor.seen if isinstance(e, CallLogged) and e.number == number]
        async with floor.app[DATABASE].session() as s:
            activity = await s.scalar(select(Activity).where(Activity.call_id == logged.call_id))
        assert (activity.disposition, activity.body) == (Disposition.CALLBACK, "Call back about the renewal")


async def test_an_unknown_caller_becomes_a_lead_from_the_page_during_the_call(browser: object, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from playwright.async_api import expect

    from crm_core.models import Lead, Task, TaskKind

    number = "+13125550166"
    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        me = floor.crm.agents[AGENT]
        async with floor.app[DATABASE].session() as s:  # a callback I should have made an hour ago
            s.add(Task(title="Call back +13125550100", kind=TaskKind.CALLBACK, assignee_id=me,
                       due_at=datetime.now(UTC) - timedelta(hours=1), callback_e164="+13125550100"))
        floor.sim.clock.auto = False  # the call stays live while the agent works on the page
        for phone in floor.sim.pbx.phones.values():
            phone.scripted.append(ANSWER)
        async with floor.http_as(me) as http:
            page = await browser.new_page()  # type: ignore[attr-defined]
            await page.goto(await login_url(http, "agent", floor.port))
            await expect(page.locator("#callbacks li.overdue")).to_have_count(1, timeout=WAIT_MS)
            await expect(page.locator("#callbacks li.overdue .due")).to_contain_text("overdue since")
            # A new caller goes to the least-loaded free agent: the others pause, so that is me.
            for other in ("1002", "1004"):
                async with floor.http_as(floor.crm.agents[other]) as them:
                    async with them.post(f"/api/v1/agents/{other}/pause", json={"reason": "coffee"}) as resp:
                        assert resp.status == 200
            agents = floor.app[LIVE].tracker.agents.agents
            await floor.wait(lambda: all(agents[o].state is AgentState.PAUSED for o in ("1002", "1004")), "others paused")
            await floor.app[ROUTING].follower.join()
            await floor.call(number, talk_s=60.0)
            await floor.sim.clock.advance(5.0)
            await expect(page.locator("#call")).to_have_attribute("data-phase", "talking", timeout=WAIT_MS)
            await expect(page.locator("#card-unknown")).to_be_visible()

            # A reload in the middle of the call shows the call again.
            await page.reload()
            await expect(page.locator("#call")).to_have_attribute("data-phase", "talking", timeout=WAIT_MS)
            await expect(page.locator("#call-number")).to_have_text(number)

            await page.click("#lead-summary")
            await expect(page.locator("#lead-title")).to_have_value(f"Call from {number}")
            await page.fill("#lead-person", "Kim Lee")
            await page.fill("#lead-company", "Lee Freight")
            await page.click("#lead-save")
            await expect(page.locator("#lead-result")).to_contain_text("saved; call linked", timeout=WAIT_MS)
            await expect(page.locator("#card-name")).to_have_text("Kim Lee")
            await expect(page.locator("#lead-save")).to_have_text("Update lead")
            await page.screenshot(path=str(screenshot_path("agent-view-new-lead")), full_page=True)

            floor.sim.clock.auto = True
            await expect(page.locator("#call")).to_have_attribute("data-phase", "ended", timeout=WAIT_MS)
            await page.check("#disposition-interested")
            await page.click("#wrap-save")
            await expect(page.locator("#wrap-result")).to_have_text("Saved: interested", timeout=WAIT_MS)

        async with floor.app[DATABASE].session() as s:
            [lead] = list(await s.scalars(select(Lead)))
            activity = await s.scalar(select(Activity).where(Activity.lead_id == lead.id))
        assert (lead.person_name, lead.company_name, lead.responsible_id) == ("Kim Lee", "Lee Freight", me)
        assert (activity.disposition, activity.result) == (Disposition.INTERESTED, "answered")
