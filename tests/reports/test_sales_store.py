"""Sales figures from the seeded world (tests/reports/sales_seed.py) on SQLite and PostgreSQL, against expectations
worked out by hand from the histories written there: skipped, revisited and reopened stages, two pipelines, changes
exactly at the period's end, several currencies, and each role's scope."""

from __future__ import annotations

from decimal import Decimal
import pytest

from callcenter.reports import sales, sales_store
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Role
from tests.reports.sales_seed import DAY_S, FROM_S, NOW_S, TO_S, Seeded, seed

USD = "USD"


def usd(amount: str) -> dict[str, Decimal]:
    return {USD: Decimal(amount)}


@pytest.fixture
async def world(db: Database) -> Seeded:
    return await seed(db)


def admin(w: Seeded) -> Principal:
    return Principal(user_id=w.admin, role=Role.ADMIN)


def sup_a(w: Seeded) -> Principal:
    return Principal(user_id=w.sup_a, role=Role.SUPERVISOR, team_id=w.team_a)


def agent(w: Seeded, user_id: int, team_id: int) -> Principal:
    return Principal(user_id=user_id, role=Role.AGENT, team_id=team_id)


async def _funnel(db: Database, w: Seeded, scope: sales_store.Scope, pipeline: int | None = None, *,
                  days: int | None = None) -> sales.Funnel:
    async with db.session() as s:
        return await sales_store.funnel_report(s, pipeline_id=pipeline or w.sales, from_s=FROM_S, to_s=TO_S,
                                               scope=scope, now_s=NOW_S, days=days)


def _rows(f: sales.Funnel) -> dict[str, sales.FunnelStage]:
    return {row.name: row for row in f.stages}


async def test_funnel_of_the_whole_pipeline(db: Database, world: Seeded) -> None:
    f = await _funnel(db, world, sales_store.owner_scope(admin(world), None))
    rows = _rows(f)
    # Furthest open/won stage entered in March: D1 Won, D4 Won, D2 Offer, D3 Qualified, D6 / D7 / D8 New; D5 none.
    assert [(n, rows[n].reached_deals) for n in ("New", "Qualified", "Offer", "Won", "Lost")] == [
        ("New", 7), ("Qualified", 4), ("Offer", 3), ("Won", 2), ("Lost", 2)]
    assert rows["New"].reached_amount == {USD: Decimal("720.00"), "EUR": Decimal("400.00")}  # D6 has no amount
    assert rows["Qualified"].reached_amount == {USD: Decimal("600.00"), "EUR": Decimal("400.00")}
    assert rows["Offer"].reached_amount == {USD: Decimal("300.00"), "EUR": Decimal("400.00")}
    assert rows["Won"].reached_amount == {USD: Decimal("100.00"), "EUR": Decimal("400.00")}
    assert rows["Lost"].reached_amount == usd("250.00")  # D2, D7; D8 lost at 1 April 00:00 is outside
    # Entered exactly (D3's two entries into New count once; D4 entered New and Qualified in February).
    assert [(n, rows[n].entered_deals) for n in ("New", "Qualified", "Offer", "Won", "Lost")] == [
        ("New", 6), ("Qualified", 2), ("Offer", 3), ("Won", 2), ("Lost", 2)]
    assert rows["Qualified"].entered_amount == usd("400.00")
    assert [rows[n].to_next_pct for n in ("New", "Qualified", "Offer", "Won", "Lost")] == [
        round(400 / 7, 1), 75.0, round(200 / 3, 1), None, None]
    assert (f.deals, f.won_deals, f.lost_deals) == (7, 2, 2)
    assert f.won_amount == {USD: Decimal("100.00"), "EUR": Decimal("400.00")} and f.lost_amount == usd("250.00")
    assert f.won_of_reached_pct == round(200 / 7, 1) and f.win_rate_pct == 50.0


async def test_time_in_stage_counts_the_stays_that_ended_in_the_period(db: Database, world: Seeded) -> None:
    rows = _rows(await _funnel(db, world, sales_store.owner_scope(admin(world), None)))
    # New: D1 2 d, D2 2 d, D3 1 d and 4 d (it came back), D7 11.5 d; D8's stay ends at 1 April: outside.
    assert rows["New"].stays == 5
    assert rows["New"].mean_in_stage_s == pytest.approx(20.5 / 5 * DAY_S, abs=0.1)
    assert rows["New"].median_in_stage_s == pytest.approx(2 * DAY_S, abs=0.1)
    # Qualified: D1 3 d, D3 2 d, D4 6 d (entered in February, left in March).
    assert (rows["Qualified"].stays, rows["Qualified"].median_in_stage_s) == (3, pytest.approx(3 * DAY_S, abs=0.1))
    assert rows["Qualified"].mean_in_stage_s == pytest.approx(11 / 3 * DAY_S, abs=0.1)
    # Offer: D1 3 d, D2 3 d, D4 1 d and 2 d: an even count, the median is the mean of the middle two.
    assert rows["Offer"].stays == 4
    assert rows["Offer"].median_in_stage_s == pytest.approx(2.5 * DAY_S, abs=0.1)
    assert rows["Offer"].mean_in_stage_s == pytest.approx(9 / 4 * DAY_S, abs=0.1)
    # Won: D4 reopened after 2 d. Lost: nobody left it.
    assert (rows["Won"].stays, rows["Won"].median_in_stage_s) == (1, pytest.approx(2 * DAY_S, abs=0.1))
    assert (rows["Lost"].stays, rows["Lost"].mean_in_stage_s, rows["Lost"].median_in_stage_s) == (0, None, None)


async def test_stuck_deals_by_days_and_by_median(db: Database, world: Seeded) -> None:
    scope = sales_store.owner_scope(admin(world), None)
    # Open deals now (1 April): D3 in Qualified since 12 March (20 d), D5 since 15 February (45 d), D6 in
    # Qualified from 2 April (not yet). Median rule: Qualified's stays in March are 2, 3, 6 d -> more than 6 d.
    by_median = _rows(await _funnel(db, world, scope))
    assert {n: r.stuck_deals for n, r in by_median.items()} == {"New": 0, "Qualified": 2, "Offer": 0, "Won": 0, "Lost": 0}
    by_days = _rows(await _funnel(db, world, scope, days=30))
    assert by_days["Qualified"].stuck_deals == 1
    async with db.session() as s:
        stages = await sales_store.stages_of(s, world.sales)
        thresholds = await sales_store.stuck_limits(s, stages, pipeline_id=world.sales, days=None,
                                                    from_s=FROM_S - 28 * DAY_S, to_s=TO_S, scope=scope)
        # February and March: New's stays 1, 2, 2, 4, 5 (D4), 5 (D5), 11.5 d -> median 4 d; Won is closed.
        assert thresholds == {world.stage["New"]: pytest.approx(8 * DAY_S, abs=0.2),
                              world.stage["Qualified"]: pytest.approx(6 * DAY_S, abs=0.2),
                              world.stage["Offer"]: pytest.approx(5 * DAY_S, abs=0.2)}
        by_days = await sales_store.stuck_limits(s, stages, pipeline_id=world.sales, days=3, from_s=0, to_s=1,
                                                 scope=scope)
        assert set(by_days.values()) == {3 * DAY_S} and len(by_days) == 3
        listed = await sales_store.stuck_deals(s, pipeline_id=world.sales, thresholds_s=thresholds, now_s=NOW_S,
                                               scope=scope, limit=10)
    assert [(d.deal_id, d.in_stage_s) for d in listed] == [
        (world.deal["D5"], pytest.approx(45 * DAY_S)), (world.deal["D3"], pytest.approx(20 * DAY_S))]


async def test_the_other_pipeline_is_its_own_funnel(db: Database, world: Seeded) -> None:
    f = await _funnel(db, world, sales_store.owner_scope(admin(world), None), world.other)
    rows = _rows(f)
    assert [(n, rows[n].reached_deals, rows[n].to_next_pct) for n in ("Open", "Done", "Dropped")] == [
        ("Open", 2, 50.0), ("Done", 1, None), ("Dropped", 1, None)]
    assert (f.won_deals, f.won_amount, f.lost_deals, f.lost_amount) == (1, usd("1000.00"), 1, usd("10.00"))


async def test_funnel_in_each_role_scope(db: Database, world: Seeded) -> None:
    # Agent a1 owns D1, D2, D5, D7: furthest D1 Won, D2 Offer, D7 New.
    f = await _funnel(db, world, sales_store.owner_scope(agent(world, world.a1, world.team_a), None))
    assert [r.reached_deals for r in f.stages] == [3, 2, 2, 1, 2]
    assert (f.won_deals, f.lost_deals, f.won_amount) == (1, 2, usd("100.00"))
    # Supervisor of team A: a1's and a2's (D3, D6, D8), never b1's D4.
    f = await _funnel(db, world, sales_store.owner_scope(sup_a(world), None))
    assert [r.reached_deals for r in f.stages] == [6, 3, 2, 1, 2]
    assert all("EUR" not in r.reached_amount for r in f.stages)
    # An admin asking for team B: D4 only (reached Won; reopened, won again).
    f = await _funnel(db, world, sales_store.owner_scope(admin(world), world.team_b))
    assert [r.reached_deals for r in f.stages] == [1, 1, 1, 1, 0]
    assert [r.entered_deals for r in f.stages] == [0, 0, 1, 1, 0]
    assert f.won_amount == {"EUR": Decimal("400.00")}


async def _lead_sources(db: Database, scope: sales_store.Scope) -> sales.LeadSources:
    async with db.session() as s:
        return await sales_store.lead_sources_report(s, from_s=FROM_S, to_s=TO_S, scope=scope)


async def test_lead_sources(db: Database, world: Seeded) -> None:
    got = await _lead_sources(db, sales_store.owner_scope(admin(world), None))
    table = [(r.source, r.channel, r.leads, r.converted, r.converted_pct, r.won_deals, r.won_amount,
              r.median_to_convert_s) for r in got.rows]
    assert table == [
        # L1 (2 d to convert, D1 won), L2 (6 h, D2 lost), L3: median of 2 d and 0.25 d.
        ("phone", "+15550100", 3, 2, round(200 / 3, 1), 1, usd("100.00"), pytest.approx(1.125 * DAY_S, abs=0.1)),
        ("campaign", None, 1, 0, 0.0, 0, {}, None),
        ("phone", "+15550199", 1, 0, 0.0, 0, {}, None),
        # L5 -> D4 won in EUR; L6 (created in February) is not in the period.
        ("web", "contact-form", 1, 1, 100.0, 1, {"EUR": Decimal("400.00")}, pytest.approx(10 * DAY_S, abs=0.1)),
    ]
    assert (got.leads, got.converted, got.converted_pct, got.won_deals) == (6, 3, 50.0, 2)
    assert got.won_amount == {USD: Decimal("100.00"), "EUR": Decimal("400.00")}

    mine = await _lead_sources(db, sales_store.owner_scope(agent(world, world.a1, world.team_a), None))
    assert [(r.source, r.channel, r.leads, r.converted, r.won_deals) for r in mine.rows] == [
        ("phone", "+15550100", 2, 2, 1)]
    team = await _lead_sources(db, sales_store.owner_scope(sup_a(world), None))
    # Team A's L1, L2, L3 and the unassigned L7; never b1's L4, L5.
    assert [(r.source, r.channel, r.leads) for r in team.rows] == [("phone", "+15550100", 3), ("campaign", None, 1)]


async def _managers(db: Database, scope: sales_store.Scope) -> dict[str, sales.ManagerRow]:
    async with db.session() as s:
        rows = await sales_store.manager_report(s, from_s=FROM_S, to_s=TO_S, scope=scope)
    return {r.name: r for r in rows}


async def test_activity_per_manager(db: Database, world: Seeded) -> None:
    rows = await _managers(db, sales_store.owner_scope(admin(world), None))
    # Ida Gone (deactivated, idle) is left out; Bob Gone (deactivated, wrote a note) stays.
    assert sorted(rows) == ["Ada Admin", "Alice Agent", "Arno Agent", "Bea Agent", "Bob Gone", "Sam Supervisor"]
    alice = rows["Alice Agent"]
    assert (alice.calls_inbound, alice.calls_inbound_answered, alice.calls_outbound, alice.calls_outbound_answered) == (
        2, 1, 1, 1)
    assert alice.talk_s == 90.5  # 60 + 30.5: the internal call and February's are not counted
    assert (alice.meetings, alice.emails, alice.notes, alice.tasks_done, alice.callbacks_done) == (1, 2, 1, 1, 1)
    assert (alice.deals_won, alice.won_amount) == (2, usd("1100.00"))  # D1 and D9 (both pipelines)
    arno = rows["Arno Agent"]
    assert (arno.notes, arno.tasks_done, arno.deals_won) == (1, 0, 0)  # the note at 1 April 00:00 is outside
    bea = rows["Bea Agent"]
    assert (bea.calls_outbound, bea.calls_outbound_answered, bea.talk_s) == (1, 0, 0.0)
    assert (bea.deals_won, bea.won_amount) == (1, {"EUR": Decimal("400.00")})
    assert rows["Bob Gone"].notes == 1 and rows["Sam Supervisor"].idle()

    mine = await _managers(db, sales_store.owner_scope(agent(world, world.a1, world.team_a), None))
    assert list(mine) == ["Alice Agent"]
    team = await _managers(db, sales_store.owner_scope(sup_a(world), None))
    assert sorted(team) == ["Alice Agent", "Arno Agent", "Bob Gone", "Sam Supervisor"]
    b = await _managers(db, sales_store.owner_scope(admin(world), world.team_b))
    assert list(b) == ["Bea Agent"]


async def _lost(db: Database, scope: sales_store.Scope, pipeline: int | None) -> list[sales.LostReasonRow]:
    async with db.session() as s:
        return await sales_store.lost_reasons_report(s, pipeline_id=pipeline, from_s=FROM_S, to_s=TO_S, scope=scope)


async def test_lost_reasons(db: Database, world: Seeded) -> None:
    everyone = sales_store.owner_scope(admin(world), None)
    # D2 "price" 200 and D10 "price" 10 (the other pipeline), D7 no reason; D8 closed at 1 April: outside.
    assert [(r.reason, r.deals, r.amount, r.share_pct) for r in await _lost(db, everyone, None)] == [
        ("price", 2, usd("210.00"), round(200 / 3, 1)), (None, 1, usd("50.00"), round(100 / 3, 1))]
    assert [(r.reason, r.deals) for r in await _lost(db, everyone, world.sales)] == [("price", 1), (None, 1)]
    b1 = sales_store.owner_scope(agent(world, world.b1, world.team_b), None)
    assert [(r.reason, r.deals, r.amount) for r in await _lost(db, b1, None)] == [("price", 1, usd("10.00"))]
    assert await _lost(db, sales_store.owner_scope(agent(world, world.a2, world.team_a), None), None) == []
