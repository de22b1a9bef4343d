"""The campaign page in real headless Chromium against the service on a real database: a campaign manager makes a
campaign of a saved report from the reports page ("Call this list"), sees the server's 400 naming the field, starts
and pauses it, and reads its figures as the API gives them (the dialer's live status from a stand-in); a supervisor
gets pause / stop only; an agent gets no campaign data at all. Every wait is on the DOM, bounded."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from callcenter.dialer.live_status import DIALER
from tests.api.conftest import Actor, World, make_world  # noqa: F401  (make_world: a fixture live_world uses)
from tests.api.test_campaign_figures import FakeLive, live_for, write_attempts
from tests.api.test_campaign_manager_role import contacts, log_in
from tests.api.test_campaign_routes import BASE, CALLER_ID, WINDOWS, campaign, managers, saved_report
from tests.browser.conftest import screenshot_path

WAIT_MS = 10_000
TILES = ("dialled", "ringing", "answered_live", "answered_machine", "connected", "abandoned")
READ_TILES = """() => Object.fromEntries([...document.querySelectorAll('#figures .figure')]
    .map(t => [t.dataset.figure, t.dataset.value === "" ? null : Number(t.dataset.value)]))"""


@pytest.fixture
def db_url(sqlite_template: Any, tmp_path: Any) -> str:
    """SQLite only: the page reads the API, whose figures on both databases tests/api checks."""
    import shutil

    path = tmp_path / "crm.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def live_world(make_world: Any) -> tuple[World, FakeLive]:
    fake = FakeLive()
    # No FastAGI server: the app would hand the dialer's campaign route to it, and this stand-in only tells statuses.
    world = await make_world(prepare=lambda app: app.__setitem__(DIALER, fake), CALLCENTER_AGI__ENABLED="false")
    return world, fake


async def _login(world: World, actor: Actor, page: str, rest: str = "") -> str:
    resp = await world.client.post("/api/v1/auth/login-link", headers=actor.headers)
    assert resp.status == 201, await resp.text()
    link = (await resp.json())[page + "_url"]
    return f"http://127.0.0.1:{world.client.server.port}{link}{rest}"


async def _open(browser: Any, url: str, errors: list[str], requests: list[str] | None = None) -> Any:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # "Stop for good?"
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    await page.goto(url)
    return page


async def test_a_manager_calls_a_saved_list_starts_pauses_and_watches_it(
    browser: Any, live_world: tuple[World, FakeLive]
) -> None:
    from playwright.async_api import expect

    world, fake = live_world
    await contacts(world)
    cm_a, _ = await managers(world)
    report_id = await saved_report(world, cm_a)
    errors: list[str] = []

    # The reports page: the saved report opened, "Call this list" leads to the campaign page's form with it chosen.
    page = await _open(browser, await _login(world, cm_a, "reports", "#saved"), errors)
    await expect(page.locator("#saved-list option", has_text="Overdue")).to_be_attached(timeout=WAIT_MS)
    await page.locator("#saved-list").select_option(label="Overdue")
    await page.get_by_role("button", name="Open").click()
    call = page.get_by_role("link", name="Call this list")
    await expect(call).to_be_visible(timeout=WAIT_MS)
    await call.click()
    await expect(page.locator("#create")).to_be_visible(timeout=WAIT_MS)
    assert page.url.endswith(f"/campaigns?report={report_id}")  # no code, no token: only the report's id
    await expect(page.locator("#viewer")).to_have_text("campaign_manager · Team A", timeout=WAIT_MS)
    await expect(page.locator("#c-report")).to_have_value(str(report_id))
    await expect(page.locator("#c-name")).to_have_value("Overdue")
    await expect(page.locator("#c-team option:checked")).to_have_text("Team A")

    # A caller id that cannot be called back: the server's 400, naming the field, and that input marked.
    await page.get_by_label("Caller id (E.164)").fill("+4420")
    await page.get_by_label("Consent needed").select_option("not_refused")
    await page.get_by_role("button", name="Create (as a draft)").click()
    await expect(page.locator("#create-error")).to_contain_text("caller_id: ", timeout=WAIT_MS)
    await expect(page.locator("#c-caller-id")).to_have_attribute("aria-invalid", "true")
    await page.screenshot(path=str(screenshot_path("campaigns-create-error")), full_page=True)
    status, listed = await world.call(cm_a, "GET", BASE)
    assert listed["total"] == 0  # nothing was made

    # Right this time, with its own hours (all day, every day).
    await page.get_by_label("Caller id (E.164)").fill(CALLER_ID)
    await page.get_by_label("Mode").select_option("predictive")
    await page.locator("#c-default-windows").set_checked(False)
    await page.locator("#c-windows").fill(json.dumps(WINDOWS))
    await page.get_by_role("button", name="Create (as a draft)").click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "draft", timeout=WAIT_MS)
    await expect(page.locator("#create-error")).to_be_hidden()
    assert "report=" not in page.url
    status, listed = await world.call(cm_a, "GET", BASE)
    made = listed["items"][0]
    assert (made["name"], made["saved_report_id"], made["team_id"], made["mode"]) == (
        "Overdue", report_id, cm_a.team_id, "predictive")
    assert made["definition"]["caller_id"] == CALLER_ID and made["definition"]["windows"] == WINDOWS
    assert made["definition"]["law"]["consent"] == "not_refused"
    cid = made["id"]
    await expect(page.locator(f'#campaigns tr[data-id="{cid}"]')).to_contain_text("Overdue")
    actions = page.locator("#actions button")
    await expect(actions).to_have_text(["Start", "Stop"])

    # Nobody of the team logged in: the server's refusal, naming why.
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#detail-error")).to_contain_text("team_id: no agent of the campaign's team is logged in",
                                                                timeout=WAIT_MS)
    log_in(world, "1002")
    # The dialer's work as it will be seen once started (its attempts and its live status): the start refreshes the
    # figures at once, the numbers' progress included (otherwise asked every fifth poll).
    await write_attempts(world, cid, datetime.now(timezone.utc))
    fake.statuses[cid] = live_for(cid)
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    await expect(actions).to_have_text(["Pause", "Stop"])
    await expect(page.locator("#detail-error")).to_be_hidden()
    await expect(page.locator("#live")).to_have_attribute("data-status", "dialling", timeout=WAIT_MS)
    await expect(page.locator('#pacing dd[data-key="why"]')).to_have_text("2 free agents at 30 % answer rate")
    await expect(page.locator('#pacing dd[data-key="dial_count"]')).to_have_text("3")
    await expect(page.locator('#agent-states dd[data-key="available"]')).to_have_text("2")
    status, figures = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures")
    assert status == 200
    await expect(page.locator('#figures .figure[data-figure="dialled"]')).to_have_attribute(
        "data-value", str(figures["attempts"]["dialled"]), timeout=WAIT_MS)
    tiles = await page.evaluate(READ_TILES)
    assert {k: tiles[k] for k in TILES} == {k: figures["attempts"][k] for k in TILES}
    assert tiles["abandon_rate_pct"] == pytest.approx(figures["abandon"]["rate_pct"])
    await expect(page.locator('#figures .figure[data-figure="abandon_rate_pct"] .value')).to_have_text(
        f"{round(figures['abandon']['rate_pct'], 1):g}%")
    outcomes = await page.locator("#outcomes tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].textContent, Number(r.cells[1].textContent)])")
    assert outcomes == [[k.replace("_", " "), n] for k, n in figures["outcomes"].items()]
    await expect(page.locator("#agents tbody tr")).to_have_text(["Alice Agent (1002)22:00", "Arno Agent (1003)10:46"])
    await expect(page.locator("#refusals tbody tr")).to_have_text(["dnc system2", "outside window1"])
    await expect(page.locator("#progress")).to_have_text("10 numbers attempted: 7 finished, 3 in flight.",
                                                         timeout=WAIT_MS)

    # The dial list: each record's verdict and why, as the API says.
    await page.get_by_role("button", name="Preview the dial list").click()
    rows = page.locator("#dial-list tbody tr")
    status, dial = await world.call(cm_a, "GET", f"{BASE}/{cid}/list", params={"limit": 50})
    assert status == 200
    await expect(rows).to_have_count(len(dial["rows"]), timeout=WAIT_MS)
    shown = await rows.evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.id), r.dataset.permitted === 'true', r.dataset.reason || null])")
    assert shown == [[r["id"], r["permitted"], r["reason"]] for r in dial["rows"]]
    # Called to the end (the connected ones), refused consent, the record's flag, no or a broken number.
    assert {r["reason"] for r in dial["rows"]} == {"finished", "no_consent", "dnc_record", "invalid_number"}
    await page.get_by_role("button", name="Count the whole list").click()
    await expect(page.locator("#list-figures")).to_have_attribute("data-rows", str(len(dial["rows"])), timeout=WAIT_MS)
    await expect(page.locator("#progress")).to_contain_text(f"10 numbers attempted of {len(dial['rows'])} in the list",
                                                            timeout=WAIT_MS)
    await page.screenshot(path=str(screenshot_path("campaigns-running-1920x1080")), full_page=True)

    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "paused", timeout=WAIT_MS)
    await expect(actions).to_have_text(["Resume", "Stop"])
    status, body = await world.call(cm_a, "GET", f"{BASE}/{cid}")
    assert body["state"] == "paused"
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(screenshot_path("campaigns-paused-1366x768")), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert errors == []


async def test_a_supervisor_may_pause_and_stop_only(browser: Any, live_world: tuple[World, FakeLive]) -> None:
    from playwright.async_api import expect

    world, _ = live_world
    await contacts(world)
    cm_a, _ = await managers(world)
    report_id = await saved_report(world, cm_a)
    cid = (await campaign(world, cm_a, report_id))["id"]
    log_in(world, "1002")
    assert (await world.call(cm_a, "POST", f"{BASE}/{cid}/start"))[0] == 200
    errors: list[str] = []
    # Even sent to the form by hand, a supervisor gets no form.
    page = await _open(browser, await _login(world, world.sup_a, "campaigns", f"&report={report_id}"), errors)
    await expect(page.locator("#viewer")).to_have_text("supervisor · Team A", timeout=WAIT_MS)
    assert "login=" not in page.url
    await expect(page.locator("#notice")).to_contain_text("Only a campaign manager or an admin creates campaigns",
                                                          timeout=WAIT_MS)
    await expect(page.locator("#create")).to_be_hidden()
    await expect(page.locator("#new-campaign")).to_be_hidden()
    await page.locator(f'#campaigns tr[data-id="{cid}"] button').click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    await expect(page.locator("#actions button")).to_have_text(["Pause", "Stop"])
    await expect(page.locator("#live")).to_have_attribute("data-status", "none", timeout=WAIT_MS)
    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "paused", timeout=WAIT_MS)
    await expect(page.locator("#actions button")).to_have_text(["Stop"])  # resuming is a manager's
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "stopped", timeout=WAIT_MS)
    await expect(page.locator("#actions button")).to_have_count(0)
    assert (await world.call(cm_a, "GET", f"{BASE}/{cid}"))[1]["state"] == "stopped"
    # The reports page offers no "Call this list" to a supervisor.
    reports = await _open(browser, await _login(world, world.sup_a, "reports", "#saved"), errors)
    await expect(reports.locator("#saved-list option", has_text="Overdue")).to_be_attached(timeout=WAIT_MS)
    await reports.locator("#saved-list").select_option(label="Overdue")
    await reports.get_by_role("button", name="Open").click()
    await expect(reports.locator("#saved-status")).to_contain_text(f"saved as #{report_id}", timeout=WAIT_MS)
    await expect(reports.locator("#call-list")).to_be_hidden()
    assert errors == []


async def test_an_agent_gets_no_campaign_data(browser: Any, live_world: tuple[World, FakeLive]) -> None:
    from playwright.async_api import expect

    world, _ = live_world
    await contacts(world)
    cm_a, _ = await managers(world)
    await campaign(world, cm_a, await saved_report(world, cm_a))
    errors: list[str] = []
    requests: list[str] = []
    page = await _open(browser, await _login(world, world.agent_a1, "campaigns"), errors, requests)
    await expect(page.locator("#notice")).to_contain_text("not for your role", timeout=WAIT_MS)
    await expect(page.locator("#main")).to_be_hidden()
    assert "login=" not in page.url
    assert not [url for url in requests if "/api/v1/campaigns" in url]  # the page asked for nothing of them
    # And had it asked, the API says no.
    token = await page.evaluate("sessionStorage.getItem('cc_token')")
    resp = await world.client.get(BASE, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 403
    await page.screenshot(path=str(screenshot_path("campaigns-agent")), full_page=True)
    assert errors == []
