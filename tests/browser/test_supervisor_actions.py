"""Supervisor actions on the wallboard in real headless Chromium: the team's supervisor clicks an agent, pauses them
with a reason and sees the reason on the board once Asterisk (the simulator) has confirmed it; a failed action shows
the server's error. Every wait is a bounded wait on the DOM or on the service's events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import DATABASE, LIVE
from callcenter.events import AgentState
from crm_core.access import Principal
from crm_core.models import Role, User
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import running_floor

WAIT_MS = 10_000
AGENT = "1002"


async def _supervisor_of(floor: Any, extension: str) -> User:
    """A supervisor of the team the agent at ``extension`` belongs to."""
    async with floor.app[DATABASE].session() as s:
        team_id = await s.scalar(select(User.team_id).where(User.extension == extension))
        return await create_user(s, Principal.system(), UserIn(name="Sue Supervisor", role=Role.SUPERVISOR,
                                                               team_id=team_id))


async def _open_wallboard(browser: Any, floor: Any, http: Any) -> tuple[Any, list[str]]:
    """The wallboard on a TV-sized page with the client's token, and the page's script errors as they come."""
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(await login_url(http, "wallboard", floor.port))
    return page, errors


async def test_a_supervisor_pauses_an_agent_with_a_reason_from_the_wallboard(browser: object, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        sup = await _supervisor_of(floor, AGENT)
        async with floor.http_as(sup.id) as http:
            page, errors = await _open_wallboard(browser, floor, http)
            agent = page.locator(f'[data-agent="{AGENT}"]:not([data-call-id])')
            await expect(agent).to_be_visible(timeout=WAIT_MS)
            await expect(agent).to_contain_text("available", timeout=WAIT_MS)

            await agent.click()
            dialog = page.locator("#cc-actions")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text(f"Agent {AGENT}")
            await page.select_option("#cc-pause-reason", "lunch")
            await page.click("#cc-pause")
            await expect(page.locator("#cc-toast")).to_have_text(f"Pause (lunch) requested for {AGENT}", timeout=WAIT_MS)
            await expect(dialog).to_be_hidden()
            # The board shows the reason once the live model has it from Asterisk (QueueMemberPause), not before.
            await expect(agent).to_contain_text("lunch", timeout=WAIT_MS)
            await expect(agent).to_contain_text("paused")
            await page.screenshot(path=str(screenshot_path("wallboard-agent-paused-by-supervisor")), full_page=True)
            record = floor.app[LIVE].tracker.agents.agents[AGENT]
            assert (record.state, record.reason) == (AgentState.PAUSED, "lunch")

            # Another reason, typed: "Other..." shows a text field.
            await agent.click()
            await page.select_option("#cc-pause-reason", "")
            await page.fill("#cc-pause-other", "1:1 with Sue")
            await page.click("#cc-pause")
            await expect(agent).to_contain_text("1:1 with Sue", timeout=WAIT_MS)

            # A failure shows the server's own message and keeps the dialog open: no such live call to listen to.
            await page.evaluate("window.ccActions.callPanel('1795390000.1', '1002')")
            await page.click("#cc-spy-listen")
            await expect(page.locator("#cc-actions-error")).to_have_text(
                "Failed: call 1795390000.1 is not a live call (call_id)", timeout=WAIT_MS)
            await expect(dialog).to_be_visible()
            await page.screenshot(path=str(screenshot_path("wallboard-action-error")), full_page=True)
            await page.keyboard.press("Escape")
            await expect(dialog).to_be_hidden()

            await agent.click()
            await page.click("#cc-unpause")
            await expect(agent).to_contain_text("available", timeout=WAIT_MS)
            assert errors == []


async def test_a_campaign_manager_is_offered_no_floor_actions(browser: object, tmp_path: Path) -> None:
    """It sees its team's board, but agent control and listening in are not its (the API answers 403): no dialog."""
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        async with floor.app[DATABASE].session() as s:
            team_id = await s.scalar(select(User.team_id).where(User.extension == AGENT))
            manager = await create_user(s, Principal.system(), UserIn(name="Cora Campaigns",
                                                                      role=Role.CAMPAIGN_MANAGER, team_id=team_id))
        async with floor.http_as(manager.id) as http:
            page, errors = await _open_wallboard(browser, floor, http)
            agent = page.locator(f'[data-agent="{AGENT}"]:not([data-call-id])')
            await expect(agent).to_contain_text("available", timeout=WAIT_MS)
            await expect(page.locator("#viewer")).to_contain_text("campaign_manager", timeout=WAIT_MS)
            await agent.click()  # the click handler opens the dialog synchronously when actions are allowed
            assert await page.locator("#cc-actions:visible").count() == 0
            assert errors == []


async def test_a_supervisor_reassigns_a_missed_calls_callback_from_the_wallboard(browser: object, tmp_path: Path) -> None:
    from playwright.async_api import expect

    from callcenter.automation.facts import CallLogged
    from callcenter.pbxsim.callmodel import PhoneAnswer
    from crm_core.models import Task, TaskKind

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        sup = await _supervisor_of(floor, AGENT)
        # The manager's phone rings on; the customer gives up after 2 s: a missed call, a callback for the manager.
        number = floor.customer_of(AGENT)
        floor.sim.pbx.phones[AGENT].scripted.append(PhoneAnswer(action="ignore"))
        await floor.call(number, patience_s=2.0)
        (ended,) = await floor.wait(lambda: floor.ended(number), "the missed call")
        await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id],
                         "the callback written")
        async with floor.app[DATABASE].session() as s:
            task = await s.scalar(select(Task).where(Task.kind == TaskKind.CALLBACK, Task.callback_e164 == number))
        assert task is not None and task.assignee_id == floor.crm.agents[AGENT]

        async with floor.http_as(sup.id) as http:
            page, errors = await _open_wallboard(browser, floor, http)
            row = page.locator(f'[data-call-id="{ended.call_id}"][data-task-id="{task.id}"]')
            await expect(row).to_be_visible(timeout=WAIT_MS)
            await row.click()
            dialog = page.locator("#cc-actions")
            await expect(page.locator("#cc-callback-info")).to_contain_text("now with", timeout=WAIT_MS)
            await page.select_option("#cc-reassign-to", str(floor.crm.agents["1003"]))
            await page.click("#cc-reassign")
            await expect(page.locator("#cc-toast")).to_contain_text("Callback given to", timeout=WAIT_MS)
            await expect(dialog).to_be_hidden()
            await page.screenshot(path=str(screenshot_path("wallboard-callback-reassigned")), full_page=True)
            assert errors == []
        async with floor.app[DATABASE].session() as s:
            assert (await s.get(Task, task.id)).assignee_id == floor.crm.agents["1003"]  # type: ignore[union-attr]
