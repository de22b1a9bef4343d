"""What the wallboard draws from what it is sent (issue 13: the demo's floor looked wrong on it). The page's static
files are served from the package; its stream is fed a snapshot and deltas in the page itself, so each figure and
chart is checked against known input, whatever the service's state."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import callcenter
from tests.browser.conftest import screenshot_path

STATIC = Path(callcenter.__file__).parent / "wallboard" / "static"
TEAM = "Sales"
SLOT_S = 900
W = 480  # the charts' drawing width (wallboard.js)


async def _page(browser: Any) -> Any:
    page = await browser.new_page(viewport={"width": 1600, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors

    async def serve(route: Any) -> None:
        path = route.request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if path == "wallboard":
            await route.fulfill(path=STATIC / "index.html")
        elif path.startswith("wallboard/static/"):
            name = path.removeprefix("wallboard/static/")
            await route.fulfill(path=STATIC / name, content_type="text/css" if name.endswith(".css") else "text/javascript")
        else:  # the API: nobody is logged in here, the snapshot below stands for the stream
            await route.fulfill(status=401, content_type="application/json", body='{"error": {"message": "no"}}')

    await page.route("http://wallboard.test/**", serve)
    await page.goto("http://wallboard.test/wallboard")
    return page


def _figures(now: float, *, offered: int, slots_with_calls: dict[int, int]) -> dict[str, Any]:
    """Today's figures as the feed sends them; the period began 8 slots ago (``slots_with_calls``: slot -> calls)."""
    start = (now // SLOT_S) * SLOT_S - 8 * SLOT_S
    series = [{"start_s": start + i * SLOT_S, "offered": slots_with_calls.get(i, 0),
               "answered": slots_with_calls.get(i, 0), "missed": 0, "abandoned": 0,
               "service_level_pct": 100.0 if slots_with_calls.get(i) else None} for i in range(96)]
    return {"team": TEAM, "timezone": "UTC", "from_iso": "today", "to_iso": "tomorrow", "slot_s": SLOT_S,
            "offered": offered, "answered": offered, "missed": 0, "abandoned": 0, "failed": 0,
            "service_level_pct": 100.0, "asa_s": 5.0, "aht_s": 60.0, "callbacks_open": 0, "callbacks_overdue": 0,
            "series": series}


def _call(call_id: str, now: float, state: str) -> dict[str, Any]:
    return {"call_id": call_id, "direction": "inbound", "caller": "+12125550100", "caller_name": None, "did": "8001",
            "started_s": now - 30, "state": state, "agents": [], "agent": "1002" if state == "talking" else None,
            "queue": "support", "team": TEAM, "routing_reason": "least-loaded"}


async def _tile(page: Any, name: str) -> str:
    return await page.locator(f'.figure[data-team="{TEAM}"][data-figure="{name}"]').get_attribute("data-value")


async def test_offered_counts_the_calls_in_progress_so_it_never_trails_waiting(browser: Any) -> None:
    """The demo showed "8 waiting" beside "3 offered": offered counted only the calls the CRM had written (ended
    ones). Offered now also counts the calls in progress and those just ended that the figures do not have yet."""
    page = await _page(browser)
    now = time.time()
    calls = [_call(f"c{i}", now, "waiting") for i in range(8)] + [_call("t1", now, "talking")]
    snapshot = {"type": "snapshot", "seq": 0, "config": {"thresholds": {}},
                "state": {"agents": [], "calls": calls, "recent_missed": [],
                          "figures": [_figures(now, offered=3, slots_with_calls={8: 3})]}}
    await page.evaluate("msg => handle(msg)", snapshot)
    assert (await _tile(page, "waiting"), await _tile(page, "offered")) == ("8", "12")  # 3 written + 9 in progress
    # the chart's bar for now adds up to the same: 3 ended + 9 in progress
    (bar,) = await page.locator(f'.team[data-team="{TEAM}"] .chart.calls g.slot').all()
    assert (await bar.get_attribute("data-offered"), await bar.get_attribute("data-in-progress")) == ("12", "9")
    # A waiting caller hangs up: gone from the live calls before the CRM has it; then the figures catch up.
    await page.evaluate("msg => handle(msg)", {"type": "delta", "seq": 1, "kind": "call_gone", "team": TEAM, "call_id": "c0"})
    assert (await _tile(page, "waiting"), await _tile(page, "offered")) == ("7", "12")
    figures = _figures(now, offered=4, slots_with_calls={8: 4})
    await page.evaluate("msg => handle(msg)", {"type": "delta", "seq": 2, "kind": "figures", "team": TEAM, "row": figures})
    assert (await _tile(page, "waiting"), await _tile(page, "offered")) == ("7", "12")
    assert page.errors == []


async def test_the_calls_chart_is_a_time_axis_not_one_block_in_the_first_minutes(browser: Any) -> None:
    """The first calls of the day filled the whole calls-per-15-min chart with one bar. The chart covers at least
    the last hour, with quarter-hour ticks and "now" at the right; the current slot is a bar at its right end."""
    page = await _page(browser)
    now = time.time()
    snapshot = {"type": "snapshot", "seq": 0, "config": {"thresholds": {"service_level_pct": {"amber": 80, "red": 70}}},
                "state": {"agents": [{"agent": "1008", "name": "Hugo Ito", "team": TEAM, "state": "paused",
                                      "reason": "do not disturb", "since_s": now - 60, "call_id": None}],
                          "calls": [], "recent_missed": [],
                          "figures": [_figures(now, offered=5, slots_with_calls={8: 5})]}}
    await page.evaluate("msg => handle(msg)", snapshot)
    chart = page.locator(f'.team[data-team="{TEAM}"] .chart.calls')
    (bar,) = await chart.locator("g.slot").all()
    assert await bar.get_attribute("data-offered") == "5"
    width = float(await bar.locator("rect.ok").get_attribute("width"))
    assert width < W / 4, width  # one quarter hour of an hour or more, not the whole chart
    assert await chart.locator("text.count").text_content() == "5"
    ticks = await chart.locator("text.tick").all_text_contents()
    assert len(ticks) >= 3, ticks
    assert await chart.locator("text", has_text="now").count() == 1
    assert await page.locator('.agent[data-agent="1008"] .state').text_content() == "paused: do not disturb"
    await page.screenshot(path=str(screenshot_path("wallboard-first-minutes")), full_page=True)
    assert page.errors == []
