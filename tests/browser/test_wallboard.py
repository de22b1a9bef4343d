"""The wallboard in real headless Chromium against the whole service and the PBX simulator: what a supervisor sees.

An agent turns "talking" within a second of the answer (timed from the CallAnswered event to the DOM change), a
pause reason shows, a caller in the queue is counted as waiting, an abandoned call appears in the list and gets its
callback, and the team's figures on the page are the reports API's figures for the same period. Every wait is
bounded and waits on an event (the bus or the DOM), never on the clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import BUS, DATABASE
from callcenter.automation.facts import CallLogged
from callcenter.events import CallAnswered, CallOutcome
from crm_core.access import Principal
from crm_core.models import Role, Task, TaskKind, TaskStatus, User
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import ANSWER, Floor, running_floor

WAIT_MS = 10_000
TEAM = "Sales"
FIGURES = ("offered", "answered", "missed", "abandoned", "service_level_pct", "asa_s", "aht_s", "callbacks_open",
           "callbacks_overdue")
# The tiles' raw values, per figure: "" for a figure with nothing to average over (null in the API).
READ_TILES = """team => Object.fromEntries([...document.querySelectorAll(`.figure[data-team="${team}"]`)]
    .map(t => [t.dataset.figure, t.dataset.value === undefined ? undefined : t.dataset.value === "" ? null : Number(t.dataset.value)]))"""


async def _supervisor(floor: Floor) -> int:
    async with floor.app[DATABASE].session() as s:
        team_id = await s.scalar(select(User.team_id).where(User.extension == "1002"))
        sup = await create_user(s, Principal.system(), UserIn(name="Sue Supervisor", role=Role.SUPERVISOR, team_id=team_id))
    return sup.id


async def _talking(floor: Floor, page: Any, answered_at: dict[str, float], ext: str) -> float:
    """Seconds from the CallAnswered event of ``ext`` to its card saying "talking" (the DOM wait allows 1 s)."""
    await floor.wait(lambda: ext in answered_at, f"{ext} to answer")
    await page.locator(f'.agent[data-agent="{ext}"][data-state="talking"]').wait_for(timeout=1000)
    return time.monotonic() - answered_at[ext]


async def test_a_supervisor_sees_the_floor_live_and_the_reports_figures(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        answered_at: dict[str, float] = {}
        floor.app[BUS].subscribe(lambda e: answered_at.setdefault(e.agent, time.monotonic()), event_type=CallAnswered)
        await floor.all_available()
        async with floor.http_as(await _supervisor(floor)) as http:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(await login_url(http, "wallboard", floor.port))
            await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
            await expect(page.locator("#viewer")).to_have_text(f"supervisor · {TEAM}", timeout=WAIT_MS)

            # A pause through the API shows with its reason once Asterisk has confirmed it.
            async with http.post("/api/v1/agents/1002/pause", json={"reason": "coaching"}) as resp:
                assert resp.status == 200, await resp.text()
            paused = page.locator('.agent[data-agent="1002"]')
            await expect(paused).to_have_attribute("data-state", "paused", timeout=WAIT_MS)
            await expect(paused.locator(".state")).to_have_text("paused: coaching")

            # Two customers reach their managers; each card turns "talking" within a second of the answer.
            clock = floor.sim.clock
            clock.auto = False  # calls stay up until the test moves time on
            for ext in ("1003", "1004"):
                floor.sim.pbx.phones[ext].scripted.append(ANSWER)
                await floor.call(floor.customer_of(ext), talk_s=600.0)
                await clock.advance(2)
                assert await _talking(floor, page, answered_at, ext) < 1.0
                live_call = page.locator(f'#calls tr[data-call-id][data-agent="{ext}"]')
                await expect(live_call).to_contain_text("owner")  # the routing reason of the live call
            talking = page.locator('.agent[data-agent="1003"] .state')
            await expect(talking).to_contain_text("talking with")
            await expect(talking).to_contain_text(floor.customer_of("1003"))  # with whom
            await page.screenshot(path=str(screenshot_path("wallboard-talking")), full_page=True)

            # Nobody is free: the next caller waits in the queue, and gives up.
            late = floor.customer_of("1002")
            await floor.call(late, patience_s=5.0)
            await floor.wait(lambda: floor.routed(late), "the late caller to be routed")
            waiting = page.locator(f'.figure[data-team="{TEAM}"][data-figure="waiting"]')
            await expect(waiting).to_have_attribute("data-value", "1", timeout=WAIT_MS)
            await page.screenshot(path=str(screenshot_path("wallboard-waiting")), full_page=True)
            await clock.advance(10)
            (abandoned,) = await floor.wait(lambda: floor.ended(late), "the late caller to give up")
            assert abandoned.outcome is CallOutcome.ABANDONED
            row = page.locator(f'#missed tr[data-call-id="{abandoned.call_id}"]')
            await expect(row).to_have_attribute("data-outcome", "abandoned", timeout=WAIT_MS)
            await expect(waiting).to_have_attribute("data-value", "0")
            # Once the CRM has it, the row shows its callback (and carries the task for the actions).
            await expect(row).to_have_attribute("data-task-id", str(await _callback_id(floor, late)), timeout=WAIT_MS)
            await expect(row).to_contain_text("open, due")

            # The talks end; every call is in the CRM; the page's figures are the reports API's.
            await clock.advance(600)
            await floor.wait(lambda: len([e for e in floor.seen if isinstance(e, CallLogged)]) >= 3, "3 calls written")
            async with http.get("/api/v1/reports/team-figures") as resp:
                assert resp.status == 200, await resp.text()
                api = await resp.json()
            expected = {name: api[name] for name in FIGURES}
            assert (api["team"], expected["offered"], expected["answered"], expected["abandoned"]) == (TEAM, 3, 2, 1)
            try:
                await page.wait_for_function(
                    f"([team, want]) => {{ const got = ({READ_TILES})(team);"
                    " return Object.entries(want).every(([k, v]) => got[k] === v); }",
                    arg=[TEAM, expected], timeout=WAIT_MS,
                )
            finally:
                shown = await page.evaluate(READ_TILES, TEAM)
            assert {name: shown[name] for name in FIGURES} == expected
            assert await page.locator(f'.team[data-team="{TEAM}"] .figure[data-figure="service_level_pct"] .value').text_content() == (
                "—" if api["service_level_pct"] is None else f"{round(api['service_level_pct'])}%"
            )
            assert await page.locator(f'.team[data-team="{TEAM}"] .chart.calls rect').count() > 0
            await page.screenshot(path=str(screenshot_path("wallboard-figures-1920x1080")), full_page=True)
            await page.set_viewport_size({"width": 1366, "height": 768})
            await page.screenshot(path=str(screenshot_path("wallboard-laptop-1366x768")), full_page=True)
            assert errors == []


async def _callback_id(floor: Floor, number: str) -> int:
    await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.number == number], "the miss in the CRM")
    async with floor.app[DATABASE].session() as s:
        task_id = await s.scalar(select(Task.id).where(Task.callback_e164 == number, Task.kind == TaskKind.CALLBACK,
                                                       Task.status == TaskStatus.OPEN))
    assert task_id is not None
    return task_id
