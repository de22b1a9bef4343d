"""Sales reports over HTTP on both databases: deals made through the API, each role's scope, and the bad cases
(unknown pipeline 404, bad dates 400 naming the field, days out of range 422, other teams 403)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from crm_core.models import DealStageChange
from tests.api.conftest import Actor, World

DAY = timedelta(days=1)


async def _pipeline(world: World) -> dict[str, Any]:
    stages = [{"name": "New"}, {"name": "Offer"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]
    status, pipeline = await world.call(world.admin, "POST", "/api/v1/pipelines",
                                        {"name": "Sales", "is_default": True, "stages": stages})
    assert status == 201, pipeline
    return pipeline


def _window() -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"from": (now - DAY).isoformat(), "to": (now + DAY).isoformat()}


async def _deal(world: World, actor: Actor, title: str, amount: str, *moves: int, **extra: Any) -> dict[str, Any]:
    status, deal = await world.call(actor, "POST", "/api/v1/deals", {"title": title, "amount": amount, **extra})
    assert status == 201, deal
    for stage_id in moves:
        status, deal = await world.call(actor, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stage_id})
        assert status == 200, deal
    return deal


async def test_lost_reason_is_written_through_the_deals_api(world: World) -> None:
    stages = {s["name"]: s["id"] for s in (await _pipeline(world))["stages"]}
    deal = await _deal(world, world.agent_a1, "Fleet", "10")
    path = f"/api/v1/deals/{deal['id']}/stage"
    status, err = await world.call(world.agent_a1, "PATCH", f"/api/v1/deals/{deal['id']}", {"lost_reason": "price"})
    assert status == 422 and err["error"]["field"] == "lost_reason"  # an open deal has no lost reason
    status, err = await world.call(world.agent_a1, "POST", path, {"stage_id": stages["Offer"], "lost_reason": "price"})
    assert status == 422 and err["error"]["field"] == "lost_reason"
    status, err = await world.call(world.agent_a1, "POST", path, {"stage_id": stages["Lost"], "lost_reason": "x" * 201})
    assert status == 422 and err["error"]["field"] == "lost_reason"
    status, lost = await world.call(world.agent_a1, "POST", path, {"stage_id": stages["Lost"], "lost_reason": "price"})
    assert status == 200 and (lost["status"], lost["lost_reason"]) == ("lost", "price")
    status, patched = await world.call(world.agent_a1, "PATCH", f"/api/v1/deals/{deal['id']}", {"lost_reason": "timing"})
    assert status == 200 and patched["lost_reason"] == "timing"
    status, reopened = await world.call(world.agent_a1, "POST", path, {"stage_id": stages["New"]})
    assert status == 200 and (reopened["status"], reopened["lost_reason"]) == ("open", None)


async def test_funnel_and_lost_reasons_in_each_role_scope(world: World) -> None:
    pipeline = await _pipeline(world)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    # a1: one won (100), one lost for "price" (20); a2: one at Offer (300); b1: one won (4000).
    await _deal(world, world.agent_a1, "A1 won", "100", stages["Offer"], stages["Won"])
    lost = await _deal(world, world.agent_a1, "A1 lost", "20")
    status, _ = await world.call(world.agent_a1, "POST", f"/api/v1/deals/{lost['id']}/stage",
                                 {"stage_id": stages["Lost"], "lost_reason": "price"})
    assert status == 200
    await _deal(world, world.agent_a2, "A2 offer", "300", stages["Offer"])
    await _deal(world, world.agent_b1, "B1 won", "4000", stages["Won"])  # skips Offer

    async def funnel(actor: Actor, **params: str) -> tuple[int, Any]:
        return await world.call(actor, "GET", "/api/v1/reports/funnel", params={**_window(), **params})

    status, mine = await funnel(world.agent_a1)
    assert status == 200, mine
    assert [(s["name"], s["reached_deals"]) for s in mine["stages"]] == [("New", 2), ("Offer", 1), ("Won", 1), ("Lost", 1)]
    assert (mine["won_deals"], mine["won_amount"], mine["lost_deals"]) == (1, {"USD": "100.00"}, 1)
    assert mine["stages"][0]["reached_amount"] == {"USD": "120.00"} and mine["pipeline_id"] == pipeline["id"]
    assert mine["timezone"] == "Europe/Berlin"  # the agent's team's zone
    status, team = await funnel(world.sup_a)
    assert [s["reached_deals"] for s in team["stages"]] == [3, 2, 1, 1]
    assert team["stages"][1]["to_next_pct"] == 50.0 and team["won_of_reached_pct"] == round(100 / 3, 1)
    _, everyone = await funnel(world.admin, pipeline_id=str(pipeline["id"]))
    assert [s["reached_deals"] for s in everyone["stages"]] == [4, 3, 2, 1]  # b1's deal skipped Offer: still passed it
    assert everyone["stages"][1]["entered_deals"] == 2 and everyone["win_rate_pct"] == round(200 / 3, 1)
    _, b = await funnel(world.admin, team="Team B")
    assert (b["team"], b["deals"], b["won_amount"]) == ("Team B", 1, {"USD": "4000.00"})

    status, err = await funnel(world.agent_b1, team="Team A")
    assert status == 403 and err["error"]["field"] == "team"
    status, err = await funnel(world.sup_a, team="Team B")
    assert status == 403 and err["error"]["field"] == "team"
    status, same = await funnel(world.sup_a, team="Team A")
    assert status == 200 and [s["reached_deals"] for s in same["stages"]] == [3, 2, 1, 1]
    status, err = await funnel(world.admin, team="Team Z")
    assert status == 422 and err["error"]["field"] == "team"

    async def lost_reasons(actor: Actor) -> list[tuple[str | None, int, dict[str, str]]]:
        status, body = await world.call(actor, "GET", "/api/v1/reports/lost-reasons", params=_window())
        assert status == 200, body
        return [(r["reason"], r["deals"], r["amount"]) for r in body["reasons"]]

    assert await lost_reasons(world.agent_a1) == [("price", 1, {"USD": "20.00"})]
    assert await lost_reasons(world.agent_b1) == []


async def test_stuck_deals_lead_sources_and_manager_activity(world: World) -> None:
    pipeline = await _pipeline(world)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    old = await _deal(world, world.agent_a1, "Old offer", "50", stages["Offer"])
    await _deal(world, world.agent_a1, "Fresh", "60")
    theirs = await _deal(world, world.agent_b1, "B old", "70")
    now = datetime.now(timezone.utc)
    # As if "Old offer" had been made 11 days ago and moved on a day later: backdated through the model, whose writes
    # keep each stay's end and each deal's entry into its stage (a Core UPDATE of changed_at would bypass them).
    async with world.db.session() as s:
        backdated = select(DealStageChange).where(DealStageChange.deal_id.in_((old["id"], theirs["id"])))
        for change in await s.scalars(backdated):
            first = change.from_stage_id is None
            change.changed_at = now - (11 * DAY if first and change.deal_id == old["id"] else 10 * DAY)

    async def stuck(actor: Actor, **params: str) -> tuple[int, Any]:
        return await world.call(actor, "GET", "/api/v1/reports/stuck-deals", params=params)

    status, body = await stuck(world.agent_a1, days="5")
    assert status == 200, body
    assert [(d["title"], d["stage"]) for d in body["deals"]] == [("Old offer", "Offer")]
    assert body["total"] == 1 and abs(body["deals"][0]["in_stage_s"] - 10 * 86_400) < 120
    assert {s["name"]: s["stuck_deals"] for s in body["stages"]} == {"New": 0, "Offer": 1}
    _, body = await stuck(world.admin, days="5")
    assert sorted(d["title"] for d in body["deals"]) == ["B old", "Old offer"]
    _, body = await stuck(world.admin, days="11")
    assert body["deals"] == []
    # By median: New's one finished stay took a day, so 2 days make a deal stuck there; Offer has none, so no limit.
    _, body = await stuck(world.admin)
    assert {s["name"]: s["threshold_s"] for s in body["stages"]} == {"New": 2 * 86_400.0, "Offer": None}
    assert [d["title"] for d in body["deals"]] == ["B old"]

    for actor, source, channel in ((world.agent_a1, "phone", "+15550100"), (world.agent_a1, "phone", "+15550100"),
                                   (world.agent_b1, "web", "form")):
        status, _ = await world.call(actor, "POST", "/api/v1/leads", {"title": "L", "source": source, "channel": channel})
        assert status == 201
    status, leads = await world.call(world.agent_a1, "GET", "/api/v1/reports/lead-sources", params=_window())
    assert status == 200, leads
    assert [(r["source"], r["channel"], r["leads"], r["converted_pct"]) for r in leads["rows"]] == [
        ("phone", "+15550100", 2, 0.0)]
    _, leads = await world.call(world.admin, "GET", "/api/v1/reports/lead-sources", params=_window())
    assert (leads["leads"], [r["source"] for r in leads["rows"]]) == (3, ["phone", "web"])

    status, _ = await world.call(world.agent_a1, "POST", "/api/v1/activities", {"kind": "meeting", "subject": "m"})
    assert status == 201
    status, body = await world.call(world.agent_a1, "GET", "/api/v1/reports/manager-activity", params=_window())
    assert status == 200, body
    assert [(m["name"], m["meetings"]) for m in body["managers"]] == [("Alice Agent", 1)]
    _, body = await world.call(world.sup_a, "GET", "/api/v1/reports/manager-activity", params=_window())
    assert [m["name"] for m in body["managers"]] == ["Alice Agent", "Arno Agent", "Sam Supervisor"]


async def test_bad_input_is_named(world: World) -> None:
    await _pipeline(world)
    cases = [
        ("/api/v1/reports/funnel", {"pipeline_id": "987654"}, 404, "pipeline_id"),
        ("/api/v1/reports/funnel", {"pipeline_id": "abc"}, 400, "pipeline_id"),
        ("/api/v1/reports/lost-reasons", {"pipeline_id": "987654"}, 404, "pipeline_id"),
        ("/api/v1/reports/stuck-deals", {"pipeline_id": "0"}, 404, "pipeline_id"),
        ("/api/v1/reports/funnel", {"from": "yesterday"}, 400, "from"),
        ("/api/v1/reports/lead-sources", {"from": "2026-03-02", "to": "2026-03-01"}, 400, "to"),
        ("/api/v1/reports/manager-activity", {"to": "2026-03-01"}, 400, "to"),
        ("/api/v1/reports/manager-activity", {"from": "2024-01-01", "to": "2026-01-01"}, 400, "to"),
        ("/api/v1/reports/lost-reasons", {"from": "2026-13-01"}, 400, "from"),
        ("/api/v1/reports/stuck-deals", {"days": "0"}, 422, "days"),
        ("/api/v1/reports/stuck-deals", {"days": "3651"}, 422, "days"),
        ("/api/v1/reports/funnel", {"days": "-2"}, 422, "days"),
        ("/api/v1/reports/stuck-deals", {"days": "ten"}, 400, "days"),
        ("/api/v1/reports/lead-sources", {"team": "Nobody"}, 422, "team"),
    ]
    for path, params, want, field in cases:
        status, err = await world.call(world.admin, "GET", path, params=params)
        assert (status, err["error"]["field"]) == (want, field), (path, params, err)
    status, _ = await world.call(None, "GET", "/api/v1/reports/funnel")
    assert status == 401


async def test_no_pipeline_yet_is_a_404(world: World) -> None:
    status, err = await world.call(world.admin, "GET", "/api/v1/reports/funnel")
    assert status == 404 and err["error"]["field"] == "pipeline_id"
    status, body = await world.call(world.admin, "GET", "/api/v1/reports/lost-reasons")
    assert status == 200 and body["reasons"] == [] and body["lost_deals"] == 0
