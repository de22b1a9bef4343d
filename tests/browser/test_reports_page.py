"""The reports page in real headless Chromium against the service on a real database: what a supervisor sees.

The figures on the page are the reports API's for the same team and period, the chart is the chart endpoint's image
and has loaded, an agent is told the page is not for them; screenshots at 1920x1080 and 1366x768. Every wait is on
the DOM, bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Actor, World, make_world  # noqa: F401  (make_world: a fixture the teams fixture uses)
from tests.api.test_report_routes import BERLIN, _seed_day, teams, teams_config  # noqa: F401  (fixtures)
from tests.browser.conftest import screenshot_path

WAIT_MS = 10_000
FIGURES = ("offered", "answered", "missed", "abandoned", "service_level_pct", "asa_s", "aht_s", "callbacks_open",
           "callbacks_overdue")
# The tiles' raw values, per figure: None for a figure with nothing to average over (null in the API).
READ_TILES = """() => Object.fromEntries([...document.querySelectorAll('#calls-figures .figure')]
    .map(t => [t.dataset.figure, t.dataset.value === "" ? null : Number(t.dataset.value)]))"""


@pytest.fixture
def db_url(sqlite_template: Any, tmp_path: Any) -> str:
    """SQLite only: the page reads the API, whose figures on both databases tests/api and tests/reports check."""
    import shutil

    path = tmp_path / "crm.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


async def _page_url(world: World, actor: Actor, tab: str = "") -> str:
    resp = await world.client.post("/api/v1/auth/login-link", headers=actor.headers)
    assert resp.status == 201, await resp.text()
    code = (await resp.json())["code"]
    return f"http://127.0.0.1:{world.client.server.port}/reports?login={code}{'#' + tab if tab else ''}"


async def _open(browser: Any, url: str, errors: list[str], width: int = 1920, height: int = 1080) -> Any:
    page = await browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    return page


def _pct(value: float | None) -> str:
    """A percentage as the page shows it: one decimal at most, none when it is whole; a dash for none."""
    return "—" if value is None else f"{round(value, 1):g}%"


async def _table(page: Any, selector: str, count: int) -> list[list[str]]:
    """The table's rows once it has ``count`` of them: the first six cells' text of each."""
    from playwright.async_api import expect

    rows = page.locator(f"{selector} tbody tr")
    await expect(rows).to_have_count(count, timeout=WAIT_MS)
    return await rows.evaluate_all("rows => rows.map(r => [...r.cells].slice(0, 6).map(c => c.textContent))")


async def _seed_today(world: World) -> None:
    now = datetime.now(BERLIN)
    await _seed_day(world, day=datetime(now.year, now.month, now.day, tzinfo=BERLIN), now=now - timedelta(minutes=1))


async def test_a_supervisor_reads_the_teams_figures_and_chart(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    await _seed_today(teams)
    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.sup_a), errors)
    await expect(page.locator("#viewer")).to_have_text("supervisor · Team A", timeout=WAIT_MS)
    assert "login=" not in page.url  # the one-time code is out of the address bar
    await expect(page.locator('#calls-figures .figure[data-figure="offered"]')).to_have_attribute("data-value", "4", timeout=WAIT_MS)

    status, api = await teams.call(teams.sup_a, "GET", "/api/v1/reports/team-figures")
    assert status == 200 and api["team"] == "Team A" and api["offered"] == 4
    assert await page.evaluate(READ_TILES) == {name: api[name] for name in FIGURES}
    assert await page.locator('#calls-figures .figure[data-figure="service_level_pct"] .value').text_content() == (
        f"{api['service_level_pct']}%"
    )
    # The chart is the endpoint's SVG, loaded and described.
    chart = page.locator("#calls-chart")
    await expect(chart).to_have_attribute("data-loaded", "true", timeout=WAIT_MS)
    natural = await chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert natural[0] > 0 and natural[0] / natural[1] == pytest.approx(960 / 400, rel=0.01)  # the default size's shape
    await expect(chart).to_have_attribute("alt", f"Calls per 15 minutes for Team A: 4 offered, 2 answered, 1 missed, 1 abandoned; service level {api['service_level_pct']}%")
    # Per interval (hour, per team by default): the call analytics' rows and totals, as the API gives them.
    status, calls = await teams.call(teams.sup_a, "GET", "/api/v1/reports/calls", params={"interval": "hour"})
    assert status == 200 and [r["offered"] for r in calls["rows"]] == [3, 1]  # 08:00-09:00 and 09:00-10:00
    assert await _table(page, "#calls-table", len(calls["rows"])) == [
        [r["start_iso"][5:16].replace("T", " "), r["key"], str(r["offered"]), str(r["answered"]), str(r["missed"]),
         str(r["abandoned"])] for r in calls["rows"]
    ]
    assert await _table(page, "#calls-totals", 1) == [["Team A", "4", "2", "1", "1", "33.3%"]]
    # Per agent, 15 minutes: the form asks again.
    await page.locator("#calls-group").select_option("agent")
    await page.locator("#calls-interval").select_option("15m")
    await page.get_by_role("button", name="Show").click()
    status, agents = await teams.call(teams.sup_a, "GET", "/api/v1/reports/calls", params={"interval": "15m", "group": "agent"})
    await expect(page.locator("#calls-table th").nth(1)).to_have_text("Agent", timeout=WAIT_MS)
    assert [row[:3] for row in await _table(page, "#calls-table", len(agents["rows"]))] == [
        [r["start_iso"][5:16].replace("T", " "), r["key"] or "(none)", str(r["offered"])] for r in agents["rows"]
    ]
    await expect(page.locator("#panel-calls")).not_to_have_attribute("aria-busy", "true")
    status, agents = await teams.call(teams.sup_a, "GET", "/api/v1/reports/agents")
    assert status == 200 and agents["rows"] == []  # nobody's state history was written here
    await expect(page.locator("#agents-source")).to_have_text("No agent was logged in during this period.")
    await page.screenshot(path=str(screenshot_path("reports-calls-1920x1080")), full_page=True)

    # The PNG download is the endpoint's PNG.
    async with page.expect_download() as info:
        await page.locator("#calls-png").click()
    download = await info.value
    assert download.suggested_filename == "team-figures.png"
    assert (await download.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Keyboard: the tab list moves with the arrow keys; a tab whose report is not on this server says so.
    await page.locator("#tab-calls").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#tab-sales")).to_be_focused()
    await expect(page.locator("#panel-sales")).to_be_visible()
    await expect(page.locator("#panel-calls")).to_be_hidden()
    await page.keyboard.press("End")
    await expect(page.locator("#tab-saved")).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("Home")
    await expect(page.locator("#panel-calls")).to_be_visible()

    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(screenshot_path("reports-calls-1366x768")), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366  # nothing sticks out sideways on a laptop
    assert errors == []


async def test_a_bad_period_is_named_on_the_page(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.admin), errors)
    await expect(page.locator("#viewer")).to_have_text("admin · all teams", timeout=WAIT_MS)
    await expect(page.locator("#calls-chart")).to_have_attribute("data-loaded", "true", timeout=WAIT_MS)
    await page.locator("#calls-from").fill("2026-03-10")
    await page.locator("#calls-to").fill("2026-03-02")
    await page.locator("#calls-form button[type=submit]").click()
    await expect(page.locator("#calls-error")).to_contain_text("to: ", timeout=WAIT_MS)
    assert errors == []


async def test_an_agent_is_told_the_page_is_not_for_them(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.agent_a1), errors, 1366, 768)
    notice = page.locator("#notice")
    await expect(notice).to_have_attribute("data-error", "role", timeout=WAIT_MS)
    await expect(notice).to_contain_text("Reports are for supervisors, campaign managers and admins: this page is not for your role.")
    await expect(page.locator("#main")).to_be_hidden()
    await page.screenshot(path=str(screenshot_path("reports-agent-refused-1366x768")), full_page=True)
    assert errors == []


async def test_a_campaign_manager_gets_the_page(browser: Any, teams: World) -> None:
    """The reports page is also the campaign manager's (it launches campaigns from saved reports)."""
    from playwright.async_api import expect

    from crm_core.models import Role
    from tests.api.test_campaign_manager_role import add_user

    manager = await add_user(teams, Role.CAMPAIGN_MANAGER, teams.sup_a.team_id, "Cora Campaigns")
    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, manager), errors, 1366, 768)
    await expect(page.locator("#main")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#viewer")).to_have_text("campaign_manager · Team A", timeout=WAIT_MS)
    await expect(page.locator("#notice")).not_to_have_attribute("data-error", "role")
    assert errors == []


async def test_without_a_login_link_the_page_says_how_to_sign_in(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await _open(browser, f"http://127.0.0.1:{teams.client.server.port}/reports", errors)
    await expect(page.locator("#notice")).to_contain_text("login link", timeout=WAIT_MS)
    await expect(page.locator("#main")).to_be_hidden()
    assert errors == []


async def _seed_contacts(world: World, *, mine: int, theirs: int) -> list[str]:
    """``mine`` contacts of agent A1 (Team A), ``theirs`` of agent B1 (Team B); the Team A last names, sorted."""
    from crm_core.models import Contact

    async with world.db.session() as s:
        s.add_all([Contact(first_name="A", last_name=f"Alpha {i:03d}", responsible_id=world.agent_a1.id) for i in range(mine)])
        s.add_all([Contact(first_name="B", last_name=f"Beta {i:03d}", responsible_id=world.agent_b1.id) for i in range(theirs)])
    return sorted(f"Alpha {i:03d}" for i in range(mine))


async def test_a_saved_report_is_built_run_paged_saved_and_exported(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    expected = await _seed_contacts(teams, mine=63, theirs=5)
    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.sup_a, "saved"), errors)
    await expect(page.locator("#tab-saved")).to_have_attribute("aria-selected", "true", timeout=WAIT_MS)
    await expect(page.locator("#saved-missing")).to_be_hidden()
    # Build: contacts, last name containing "a" (every one), the last name and owner columns only, by last name.
    await page.get_by_label("Entity").select_option("contacts")
    await expect(page.locator('#columns input[value="last_name"]')).to_be_attached(timeout=WAIT_MS)
    for box in await page.locator("#columns input").all():
        await box.set_checked(False)
    await page.locator('#columns input[value="last_name"]').check()
    await page.get_by_label("Sort by").select_option("last_name")
    await page.get_by_role("button", name="Add filter").click()
    await page.get_by_label("Filter 1 field").select_option("last_name")
    await page.get_by_label("Filter 1 operator").select_option("contains")
    await page.get_by_label("Filter 1 value").fill("a")
    await page.get_by_role("button", name="Add filter").click()
    await page.get_by_label("Filter 2 field").select_option("do_not_call")  # a yes / no choice: no one is blocked
    await page.get_by_label("Filter 2 operator").select_option("eq")
    await expect(page.get_by_label("Filter 2 value")).to_have_value("true")
    await page.get_by_label("Filter 2 value").select_option("false")
    await page.get_by_role("button", name="Run").click()
    rows = page.locator("#rows tbody tr")
    await expect(rows).to_have_count(50, timeout=WAIT_MS)  # one page
    await expect(page.locator("#more")).to_be_visible()
    await page.locator("#more").click()
    await expect(rows).to_have_count(63, timeout=WAIT_MS)  # the rest: Team A's only, none of Team B's
    await expect(page.locator("#more")).to_be_hidden()
    await expect(page.locator("#rows-count")).to_have_text("63 rows shown")
    header = await page.locator("#rows thead th").all_text_contents()
    column = header.index("Last name")
    shown = await rows.evaluate_all(f"rows => rows.map(r => r.cells[{column}].textContent)")
    assert shown == expected

    # Export needs a saved report; save it shared with Team A.
    await expect(page.locator("#export-csv")).to_be_disabled()
    await page.get_by_label("Name", exact=True).fill("Team A contacts")
    await page.get_by_label("Share with team").select_option(label="Team A")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#saved-status")).to_contain_text("saved as #", timeout=WAIT_MS)
    await expect(page.locator("#saved-list option:checked")).to_have_text("Team A contacts")
    status, listed = await teams.call(teams.sup_a, "GET", "/api/v1/reports/saved")
    (report,) = listed["items"]
    assert (report["name"], report["team_id"], report["definition"]["columns"]) == ("Team A contacts", teams.sup_a.team_id, ["last_name"])
    assert report["definition"]["filters"] == [{"field": "last_name", "op": "contains", "value": "a"},
                                               {"field": "do_not_call", "op": "eq", "value": False}]
    await page.screenshot(path=str(screenshot_path("reports-saved-1920x1080")), full_page=True)

    async with page.expect_download() as info:
        await page.locator("#export-csv").click()
    csv_lines = (await (await info.value).path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(csv_lines) == 1 + len(expected) and [line.strip('"') for line in csv_lines[1:]] == expected
    async with page.expect_download() as info:
        await page.locator("#export-xlsx").click()
    xlsx = await info.value
    assert xlsx.suggested_filename.endswith(".xlsx") and (await xlsx.path()).read_bytes()[:2] == b"PK"

    # Saved again with another sort: version 2, and both versions listed with who saved them.
    await page.get_by_label("Order").select_option("desc")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#saved-status")).to_contain_text("version 2", timeout=WAIT_MS)
    await page.locator("#versions-box summary").click()
    versions = page.locator("#versions li")
    await expect(versions).to_have_count(2, timeout=WAIT_MS)
    await expect(versions.first).to_contain_text("version 2: Team A contacts, 2 filter(s), 1 column(s) · Sam Supervisor")

    # Reopened from the list, it runs again as saved.
    await page.reload()
    await expect(page.locator("#saved-list option", has_text="Team A contacts")).to_be_attached(timeout=WAIT_MS)
    await page.locator("#saved-list").select_option(label="Team A contacts")
    await page.get_by_role("button", name="Open").click()
    await expect(rows).to_have_count(50, timeout=WAIT_MS)
    await expect(page.get_by_label("Filter 1 value")).to_have_value("a")
    await expect(page.get_by_label("Filter 2 value")).to_have_value("false")
    await expect(page.get_by_label("Order")).to_have_value("desc")  # version 2's order
    await expect(rows.first.locator("td").nth(column)).to_have_text(expected[-1])
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(screenshot_path("reports-saved-1366x768")), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert errors == []


async def test_the_funnel_and_the_staffing_plan_are_the_apis(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    from tests.api.test_sales_routes import _deal, _pipeline
    from tests.api.test_staffing_routes import UNTIL, _seed_weeks

    pipeline = await _pipeline(teams)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    await _deal(teams, teams.agent_a1, "One", "10", stages["Offer"], stages["Won"])
    await _deal(teams, teams.agent_a1, "Two", "20", stages["Offer"])
    await _seed_weeks(teams)
    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.sup_a, "sales"), errors, 1366, 768)

    # Sales: the funnel's stages as the API counts them, and its chart.
    status, funnel = await teams.call(teams.sup_a, "GET", "/api/v1/reports/funnel", params={"pipeline_id": str(pipeline["id"])})
    assert status == 200 and funnel["deals"] == 2
    shown = await _table(page, "#sales-table", len(funnel["stages"]))
    assert [row[:2] for row in shown] == [[s["name"], str(s["reached_deals"])] for s in funnel["stages"]]
    await expect(page.locator("#sales-chart")).to_have_attribute("data-loaded", "true", timeout=WAIT_MS)
    # The manager who won a deal, with the activity report's figures.
    status, activity = await teams.call(teams.sup_a, "GET", "/api/v1/reports/manager-activity")
    assert status == 200 and sum(m["deals_won"] for m in activity["managers"]) == 1
    managers = await _table(page, "#managers-table", len(activity["managers"]))
    assert [row[0] for row in managers] == [m["name"] for m in activity["managers"]]
    await page.screenshot(path=str(screenshot_path("reports-sales-1366x768")), full_page=True)

    # Staffing: "how many agents on Monday 10:00 for 80/20?" is the API's number, then the whole day.
    await page.locator("#tab-staffing").click()
    await page.locator("#staffing-weekday").select_option("mon")
    await page.locator("#staffing-time").fill("10:00")
    await page.locator("#staffing-until").fill(UNTIL)
    await page.locator("#staffing-form button[type=submit]").click()
    params = {"weekday": "mon", "time": "10:00", "until": UNTIL, "target_pct": "80", "threshold_s": "20", "weeks": "4"}
    status, plan = await teams.call(teams.sup_a, "GET", "/api/v1/reports/staffing", params=params)
    assert status == 200, plan
    (ten,) = plan["intervals"]
    await expect(page.locator("#staffing-facts")).to_contain_text(
        f"Agents needed at 10:00{ten['erlang_c']['agents']} (Erlang C), {ten['erlang_a']['agents']} (Erlang A)", timeout=WAIT_MS
    )
    await page.locator("#staffing-time").fill("")
    await page.locator("#staffing-form button[type=submit]").click()
    status, day = await teams.call(teams.sup_a, "GET", "/api/v1/reports/staffing", params={**params, "time": ""})
    rows = await _table(page, "#staffing-table", 96)
    assert [row[3] for row in rows] == [str(i["erlang_c"]["agents"]) if i["erlang_c"] else "—" for i in day["intervals"]]
    await expect(page.locator("#staffing-chart")).to_have_attribute("data-loaded", "true", timeout=WAIT_MS)
    await page.screenshot(path=str(screenshot_path("reports-staffing-1366x768")), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert errors == []


async def test_a_what_if_replay_shows_the_apis_answer(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    from tests.api.test_staffing_routes import MON1, _seed_day as seed_morning

    await seed_morning(teams, MON1)
    errors: list[str] = []
    page = await _open(browser, await _page_url(teams, teams.sup_a, "staffing"), errors, 1366, 768)
    await expect(page.locator("#whatif-box")).to_be_visible(timeout=WAIT_MS)
    await page.locator("#whatif-day").fill(MON1.isoformat())
    await page.locator("#whatif-agents").fill("3")
    await page.locator("#whatif-strategy").select_option("least-loaded")
    await page.get_by_role("button", name="Replay").click()
    body = {"team": "Team A", "day": MON1.isoformat(), "agents": 3, "strategy": "least-loaded"}
    status, out = await teams.call(teams.sup_a, "POST", "/api/v1/reports/staffing/what-if", body)
    assert status == 200, out
    rows = await _table(page, "#whatif-table", 7)
    assert rows[0] == ["Offered", str(out["simulated"]["offered"]), str(out["actual"]["offered"])]
    assert rows[1] == ["Answered", str(out["simulated"]["answered"]), str(out["actual"]["answered"])]
    assert rows[2][1:] == [_pct(out[k]["service_level_pct"]) for k in ("simulated", "actual")]
    await expect(page.locator("#whatif-inputs")).to_contain_text(f"{out['inputs']['calls']} calls replayed with 3 agents, least-loaded")
    await page.screenshot(path=str(screenshot_path("reports-whatif-1366x768")), full_page=True)
    assert errors == []


async def test_a_tvs_read_only_wallboard_link_does_not_open_the_reports(browser: Any, teams: World) -> None:
    from playwright.async_api import expect

    status, tv = await teams.call(teams.sup_a, "POST", "/api/v1/wallboard/tokens", {"name": "Hall TV"})
    assert status == 201, tv
    code = tv["url"].split("login=", 1)[1]
    errors: list[str] = []
    page = await _open(browser, f"http://127.0.0.1:{teams.client.server.port}/reports?login={code}", errors)
    await expect(page.locator("#notice")).to_have_text(
        "This is a read-only wallboard link: open the reports with your own login link.", timeout=WAIT_MS
    )
    await expect(page.locator("#main")).to_be_hidden()
    assert errors == []
