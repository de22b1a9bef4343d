"""Charts as SVG and PNG: the bars drawn are the data (read back from the SVG's geometry), the output is the same
bytes for the same data, CRM text stays text, a PNG is the size asked; and the chart endpoint draws the reports API's
own figures, with the same role checks and clear errors."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.charts import (
    ChartFormat, ChartSize, IntervalBar, Stage, calls_chart, figures_chart, funnel_chart, interval_bars,
)
from tests.api.conftest import World, make_world, world  # noqa: F401  (fixtures)
from tests.api.test_report_routes import DAY, _seed_day, teams, teams_config  # noqa: F401  (fixtures)
from tests.api import test_analytics_routes as analytics
from tests.api.test_sales_routes import _deal, _pipeline, _window
from tests.api.test_staffing_routes import UNTIL, _seed_weeks

SVG_NS = "{http://www.w3.org/2000/svg}"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _groups(svg: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("id"): g for g in root.iter(f"{SVG_NS}g") if g.get("id")}


def _box(group: ET.Element) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a bar's rectangle path, in SVG pixels (y grows downwards)."""
    (path,) = group.iter(f"{SVG_NS}path")
    numbers = [float(n) for n in NUMBER.findall(path.get("d", ""))]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _bars(svg: bytes, prefix: str) -> list[tuple[float, float, float, float]]:
    groups = _groups(svg)
    found = sorted((int(k.rsplit("-", 1)[1]), g) for k, g in groups.items() if re.fullmatch(re.escape(prefix) + r"-\d+", k))
    assert [i for i, _ in found] == list(range(len(found)))  # no gap in the numbering
    return [_box(g) for _, g in found]


def _texts(svg: bytes) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", png[16:24])


BARS = [
    IntervalBar("08:00", answered=4, missed=1, abandoned=0, service_level_pct=None),
    IntervalBar("08:15", answered=0, missed=0, abandoned=0, service_level_pct=None),
    IntervalBar("08:30", answered=2, missed=3, abandoned=1, service_level_pct=80.0),
    IntervalBar("08:45", answered=6, missed=0, abandoned=2, service_level_pct=40.0),
]


def test_the_calls_chart_stacks_each_intervals_calls_to_scale() -> None:
    svg = calls_chart(BARS, title="Team A", fmt=ChartFormat.SVG)
    stacks = {name: _bars(svg, name) for name in ("answered", "missed", "abandoned")}
    assert {name: len(boxes) for name, boxes in stacks.items()} == {"answered": 4, "missed": 4, "abandoned": 4}
    # One pixel scale for every bar: height / calls is the same (answered 4 -> 4 units, abandoned 2 -> 2 units, ...).
    scale = (stacks["answered"][0][3] - stacks["answered"][0][1]) / 4
    assert scale > 0
    for i, bar in enumerate(BARS):
        bottom = stacks["answered"][i][3]
        for name in ("answered", "missed", "abandoned"):
            left, top, right, low = stacks[name][i]
            assert low - top == pytest.approx(getattr(bar, name) * scale, abs=0.01), (name, i)
            assert low == pytest.approx(bottom, abs=0.01)  # stacked: starts where the one below ends
            bottom = top
    # Left to right in the data's order.
    assert [box[0] for box in stacks["answered"]] == sorted(box[0] for box in stacks["answered"])
    assert {"08:00", "08:15", "08:30", "08:45", "Team A", "calls", "service level %"} <= set(_texts(svg))


def test_the_service_level_line_has_a_point_per_measured_interval_on_its_own_scale() -> None:
    svg = calls_chart(BARS, title="Team A", fmt=ChartFormat.SVG)
    path = next(_groups(svg)["service-level"].iter(f"{SVG_NS}path"))  # the line (then its markers)
    numbers = [float(n) for n in NUMBER.findall(path.get("d", ""))]
    points = list(zip(numbers[0::2], numbers[1::2]))
    assert len(points) == 2  # 80 % and 40 %; the intervals without a service level are gaps
    (x80, y80), (x40, y40) = points
    # On the 0-105 % axis the 80 % point is twice as far above the axis as the 40 % point.
    axis_y = y40 + (y40 - y80)  # y(0) with y linear: y(40) - y(0) = y(80) - y(40)
    assert (axis_y - y80) == pytest.approx(2 * (axis_y - y40))
    answered = _bars(svg, "answered")
    assert x80 == pytest.approx((answered[2][0] + answered[2][2]) / 2, abs=0.01)  # over its interval's bar
    assert x40 == pytest.approx((answered[3][0] + answered[3][2]) / 2, abs=0.01)


def test_the_same_data_gives_the_same_bytes_and_other_data_other_bytes() -> None:
    first = calls_chart(BARS, title="Team A", fmt=ChartFormat.SVG)
    assert calls_chart(BARS, title="Team A", fmt=ChartFormat.SVG) == first
    assert calls_chart(BARS[:3], title="Team A", fmt=ChartFormat.SVG) != first
    png = calls_chart(BARS, title="Team A", fmt=ChartFormat.PNG)
    assert calls_chart(BARS, title="Team A", fmt=ChartFormat.PNG) == png
    assert b"<dc:date>" not in first  # no timestamp in the metadata


def test_another_process_draws_the_same_bytes_and_the_service_starts_without_matplotlib() -> None:
    """No random ids (the SVG hash salt is fixed), and matplotlib is imported by the first chart, not by the app."""
    import subprocess
    import sys

    script = (
        "import sys, callcenter.app\n"
        "assert 'matplotlib' not in sys.modules, 'imported at start-up'\n"
        "from callcenter.reports.charts import ChartFormat, IntervalBar, calls_chart\n"
        "bars = [IntervalBar('08:00', 4, 1, 0, None), IntervalBar('08:15', 2, 0, 1, 75.0)]\n"
        "sys.stdout.buffer.write(calls_chart(bars, title='Team A', fmt=ChartFormat.SVG))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120).stdout
    bars = [IntervalBar("08:00", 4, 1, 0, None), IntervalBar("08:15", 2, 0, 1, 75.0)]
    assert out == calls_chart(bars, title="Team A", fmt=ChartFormat.SVG)


def test_text_from_the_crm_is_drawn_as_typed_never_as_markup_or_maths() -> None:
    hostile = "<script>alert(1)</script> & $x^2$ \\frac{1}{2}"
    svg = funnel_chart([Stage(hostile, 5), Stage("Won", 2, "40%")], title=hostile, value_label="deals",
                       fmt=ChartFormat.SVG)
    root = ET.fromstring(svg)  # still well-formed XML
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert _texts(svg).count(hostile) == 2  # the stage's label and the title, character for character


@pytest.mark.parametrize(("width", "height"), [(960, 400), (320, 200), (1366, 500)])
def test_a_png_is_a_png_of_the_size_asked(width: int, height: int) -> None:
    png = calls_chart(BARS, title="Team A", fmt=ChartFormat.PNG, size=ChartSize(width, height))
    assert _png_size(png) == (width, height)


def test_sizes_outside_the_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="width"):
        ChartSize(100, 400)
    with pytest.raises(ValueError, match="height"):
        ChartSize(960, 5000)


def test_the_funnel_draws_each_stage_to_scale_first_on_top() -> None:
    stages = [Stage("New", 40), Stage("Offer", 10, "25%"), Stage("Won", 4, "40%")]
    svg = funnel_chart(stages, title="Pipeline", value_label="deals", fmt=ChartFormat.SVG)
    boxes = _bars(svg, "stage")
    widths = [right - left for left, _, right, _ in boxes]
    assert widths[0] / 40 == pytest.approx(widths[1] / 10) == pytest.approx(widths[2] / 4)
    assert boxes[0][1] < boxes[1][1] < boxes[2][1]  # top to bottom
    assert {"New", "Offer", "Won", "40", "10 · 25%", "4 · 40%"} <= set(_texts(svg))


def test_grouped_figures_as_bars_and_as_lines() -> None:
    labels = ["Ann", "Bob", "Cy"]
    series = {"calls": [10, 0, 5], "meetings": [2, None, 1]}
    svg = figures_chart(labels, series, kind="bar", title="Activity", fmt=ChartFormat.SVG)
    calls, meetings = _bars(svg, "0"), _bars(svg, "1")
    scale = (calls[0][3] - calls[0][1]) / 10
    assert [b[3] - b[1] for b in calls] == pytest.approx([10 * scale, 0, 5 * scale], abs=0.01)
    assert [b[3] - b[1] for b in meetings] == pytest.approx([2 * scale, 0, 1 * scale], abs=0.01)
    assert all(c[2] <= m[0] + 0.01 for c, m in zip(calls, meetings))  # side by side, calls left
    lines = figures_chart(labels, series, kind="line", title="Activity", fmt=ChartFormat.SVG)
    groups = _groups(lines)
    assert {"series-0", "series-1"} <= set(groups)
    path = next(groups["series-1"].iter(f"{SVG_NS}path"))
    assert len(NUMBER.findall(path.get("d", ""))) == 4  # two points: the null is a gap
    with pytest.raises(ValueError, match="kind"):
        figures_chart(labels, series, kind="pie", title="x", fmt=ChartFormat.SVG)


def test_interval_labels_are_the_teams_local_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    slot = lambda day, h, m: {"start_s": datetime(2026, 3, day, h, m, tzinfo=berlin).timestamp(), "answered": 1,  # noqa: E731
                              "missed": 0, "abandoned": 0, "service_level_pct": 100.0}
    assert [b.label for b in interval_bars([slot(2, 8, 0), slot(2, 8, 15)], berlin)] == ["08:00", "08:15"]
    assert [b.label for b in interval_bars([slot(2, 23, 45), slot(3, 0, 0)], berlin)] == ["03-02 23:45", "03-03 00:00"]
    assert interval_bars([slot(2, 8, 0)], berlin)[0] == IntervalBar("08:00", 1, 0, 0, 100.0)


# --- the endpoint ----------------------------------------------------------------------------------------------------

CHART = "/api/v1/reports/team-figures/chart"


async def _get(world: World, actor: Any, params: dict[str, str]) -> tuple[int, str, bytes]:
    resp = await world.client.get(CHART, params=params, headers=actor.headers)
    return resp.status, resp.content_type, await resp.read()


async def test_the_chart_endpoint_draws_the_reports_figures(teams: World) -> None:
    await _seed_day(teams)
    day = {"from": "2026-03-02", "team": "Team A"}
    status, figures = await teams.call(teams.admin, "GET", "/api/v1/reports/team-figures", params=day)
    assert status == 200
    status, media, svg = await _get(teams, teams.admin, {**day, "format": "svg"})
    assert (status, media) == (200, "image/svg+xml"), svg
    answered, missed, abandoned = (_bars(svg, name) for name in ("answered", "missed", "abandoned"))
    assert len(answered) == len(missed) == len(abandoned) == len(figures["series"]) == 96
    # Heights in units of one call: what the API says per slot (08:00 one answered in time and one late, 08:15 a short
    # abandon, 09:00 a missed call).
    unit = (answered[32][3] - answered[32][1]) / 2
    drawn = [(round((a[3] - a[1]) / unit), round((m[3] - m[1]) / unit), round((b[3] - b[1]) / unit))
             for a, m, b in zip(answered, missed, abandoned)]
    assert drawn == [(s["answered"], s["missed"], s["abandoned"]) for s in figures["series"]]
    assert sum(map(sum, drawn)) == 4
    assert "Team A: 2026-03-02T00:00 to 2026-03-03T00:00 (Europe/Berlin)" in _texts(svg)
    status, media, png = await _get(teams, teams.admin, {**day, "format": "png", "width": "1200", "height": "450"})
    assert (status, media, _png_size(png)) == (200, "image/png", (1200, 450))
    status, media, default = await _get(teams, teams.sup_a, {"from": "2026-03-02"})  # svg, the supervisor's team
    assert (status, media, default) == (200, "image/svg+xml", svg)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"format": "gif"}, 400, "format"),
        ({"format": "SVG"}, 400, "format"),
        ({"width": "10"}, 400, "width"),
        ({"height": "tall"}, 400, "height"),
        ({"from": "yesterday"}, 400, "from"),
        ({"team": "Nobody"}, 422, "team"),
    ],
)
async def test_bad_chart_requests_get_a_clear_error(teams: World, params: dict[str, str], status: int, field: str) -> None:
    got, body = await teams.call(teams.admin, "GET", CHART, params=params)
    assert got == status and body["error"]["field"] == field, body


async def test_only_who_may_read_the_figures_gets_their_chart(teams: World) -> None:
    got, body = await teams.call(teams.sup_a, "GET", CHART, params={"team": "Team B"})
    assert got == 403 and body["error"]["field"] == "team"
    got, _ = await teams.call(teams.agent_a1, "GET", CHART, params={"format": "png"})
    assert got == 403
    resp = await teams.client.get(CHART)
    assert resp.status == 401


# --- the other reports' charts: the same query as the report, its figures drawn -------------------------------------


async def _image(world: World, actor: Any, path: str, params: dict[str, str]) -> bytes:
    resp = await world.client.get(path, params=params, headers=actor.headers)
    body = await resp.read()
    assert (resp.status, resp.content_type) == (200, "image/svg+xml"), body
    return body


def _units(boxes: list[tuple[float, float, float, float]], unit: float, *, horizontal: bool = False) -> list[int]:
    return [round(((b[2] - b[0]) if horizontal else (b[3] - b[1])) / unit) for b in boxes]


async def test_the_calls_chart_draws_the_call_analytics(teams: World) -> None:
    await _seed_day(teams)
    params = {"from": "2026-03-02", "team": "Team A", "interval": "hour"}
    status, report = await teams.call(teams.admin, "GET", "/api/v1/reports/calls", params=params)
    assert status == 200, report
    svg = await _image(teams, teams.admin, "/api/v1/reports/calls/chart", params)
    stacks = {name: _bars(svg, name) for name in ("answered", "missed", "abandoned")}
    assert {len(boxes) for boxes in stacks.values()} == {len(report["intervals"])} == {24}
    by_start = {row["start_iso"]: row for row in report["rows"]}
    unit = (stacks["answered"][8][3] - stacks["answered"][8][1]) / by_start[report["intervals"][8]]["answered"]
    for name, boxes in stacks.items():
        assert _units(boxes, unit) == [by_start.get(start, {}).get(name, 0) for start in report["intervals"]], name
    assert "service-level" in _groups(svg)  # one team: its service level is drawn
    status, body = await teams.call(teams.admin, "GET", "/api/v1/reports/calls/chart", params={**params, "interval": "year"})
    assert status == 400 and body["error"]["field"] == "interval"
    status, _ = await teams.call(teams.agent_a1, "GET", "/api/v1/reports/calls/chart", params={"team": "Team A"})
    assert status == 403


async def test_the_funnel_chart_draws_the_deals_that_reached_each_stage(world: World) -> None:
    pipeline = await _pipeline(world)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    await _deal(world, world.agent_a1, "One", "10", stages["Offer"], stages["Won"])
    await _deal(world, world.agent_a1, "Two", "20", stages["Offer"])
    await _deal(world, world.agent_a1, "Three", "30")
    params = {**_window(), "pipeline_id": str(pipeline["id"])}
    status, report = await world.call(world.admin, "GET", "/api/v1/reports/funnel", params=params)
    assert status == 200, report
    svg = await _image(world, world.admin, "/api/v1/reports/funnel/chart", params)
    boxes = _bars(svg, "stage")
    reached = [stage["reached_deals"] for stage in report["stages"]]
    assert len(boxes) == len(reached) and max(reached) == 3
    unit = max(b[2] - b[0] for b in boxes) / 3
    assert _units(boxes, unit, horizontal=True) == reached
    labels = _texts(svg)
    assert [stage["name"] for stage in report["stages"]] == [t for t in labels if t in stages]
    status, body = await world.call(world.admin, "GET", "/api/v1/reports/funnel/chart", params={**params, "format": "pdf"})
    assert status == 400 and body["error"]["field"] == "format"


async def test_the_staffing_chart_draws_the_agents_needed(teams: World) -> None:
    await _seed_weeks(teams)
    params = {"team": "Team A", "weekday": "mon", "until": UNTIL, "target_pct": "80", "threshold_s": "20"}
    status, plan = await teams.call(teams.admin, "GET", "/api/v1/reports/staffing", params=params)
    assert status == 200, plan
    svg = await _image(teams, teams.admin, "/api/v1/reports/staffing/chart", params)
    for index, model in enumerate(("erlang_c", "erlang_a")):
        needed = [0 if i[model] is None else i[model]["agents"] for i in plan["intervals"]]
        boxes = _bars(svg, str(index))
        top = max(needed)
        assert len(boxes) == 96 and top > 0
        unit = max(b[3] - b[1] for b in boxes) / top
        assert _units(boxes, unit) == needed, model
    status, body = await teams.call(teams.admin, "GET", "/api/v1/reports/staffing/chart", params={"team": "Team A", "weekday": "someday"})
    assert status == 400 and body["error"]["field"] == "weekday"


@pytest.fixture
async def london(make_world: Any, tmp_path: Any) -> World:
    """The call analytics' world: Team A in London, Team B in New York."""
    path = tmp_path / "callcenter.toml"
    path.write_text(analytics.CONFIG)
    return await make_world(path)


async def test_the_agents_chart_draws_each_agents_minutes_per_state(london: World) -> None:
    await analytics.seed(london)
    await analytics.seed_states(london)
    params = {"from": "2026-03-29"}
    status, report = await london.call(london.admin, "GET", "/api/v1/reports/agents", params=params)
    assert status == 200 and len(report["rows"]) == 2, report
    svg = await _image(london, london.admin, "/api/v1/reports/agents/chart", params)
    states = ("available_s", "talking_s", "wrapup_s", "paused_s")
    boxes = {key: _bars(svg, str(index)) for index, key in enumerate(states)}
    longest = max(row[key] for row in report["rows"] for key in states)
    unit = max(b[3] - b[1] for series in boxes.values() for b in series) / (longest / 60)
    for key in states:  # to the tenth of a minute the chart keeps
        drawn = [(b[3] - b[1]) / unit for b in boxes[key]]
        assert drawn == pytest.approx([round(row[key] / 60, 1) for row in report["rows"]], abs=0.05), key
    assert {row["name"] or row["agent"] for row in report["rows"]} <= set(_texts(svg))
    status, _ = await london.call(london.sup_a, "GET", "/api/v1/reports/agents/chart", params={"team": "Team B"})
    assert status == 403
