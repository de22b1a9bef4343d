"""Saved-report queries on both databases: every filter type against hand-computed rows (tests/reports/saved_world.py),
the reader's scope, the keyset cursor under inserts, and bad definitions named by their path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from callcenter.reports.definition import ReportDefinition, parse_definition
from callcenter.reports.query import CursorError, columns_of, fetch_page, iter_rows, prepare
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Invalid
from crm_core.models import Activity, ActivityKind, Contact, Deal, Lead, Phone, Pipeline, PipelineStage, Task, TaskKind
from tests.reports.saved_world import NOW, World, seed


@pytest.fixture
async def world(db: Database) -> World:
    return await seed(db)


async def _rows(db: Database, who: Principal, definition: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    async with db.session() as s:
        return [row async for row in iter_rows(s, who, parse_definition(definition), now=NOW, **kw)]


async def _numbers(db: Database, world: World, who: Principal, *filters: dict[str, Any]) -> list[int]:
    rows = await _rows(db, who, {"entity": "contacts", "filters": list(filters), "columns": ["id"]})
    return world.names([r["id"] for r in rows])


def f(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).isoformat()


# Each case: a filter and the contacts (c1..c5) an admin gets, worked out from the table in saved_world.py.
CASES = [
    # text
    (f("last_name", "eq", "Beta"), [2]),
    (f("last_name", "ne", "Beta"), [1, 3, 4, 5]),
    (f("last_name", "contains", "TA"), [2, 4]),  # Beta, Delta: case-insensitive
    (f("last_name", "contains", "%"), []),  # a LIKE wildcard is matched literally
    (f("last_name", "in", ["Alpha", "Gamma"]), [1, 3]),
    (f("last_name", "not_in", ["Alpha", "Gamma"]), [2, 4, 5]),
    (f("position", "is_null"), [2, 3, 4, 5]),
    (f("position", "not_null"), [1]),
    (f("position", "ne", "CEO"), [2, 3, 4, 5]),  # "not CEO" keeps those with no position
    (f("custom.note", "eq", "=HYPERLINK(1)"), [1]),
    # choice
    (f("call_consent", "eq", "granted"), [1]),
    (f("call_consent", "in", ["granted", "refused"]), [1, 2]),
    (f("call_consent", "not_in", ["unknown"]), [1, 2]),
    (f("custom.region", "eq", "north"), [1]),
    (f("custom.region", "is_null"), [3, 4, 5]),
    (f("last_call_outcome", "eq", "missed"), [1, 2]),  # c1's latest call is b1's missed one
    (f("last_call_disposition", "eq", "sale"), []),  # the sale was on c1's earlier call
    # number (custom)
    (f("custom.score", "gt", 9), [1, 2]),
    (f("custom.score", "gte", 10), [1, 2]),
    (f("custom.score", "lt", 10), [4]),
    (f("custom.score", "lte", 10), [1, 4]),
    (f("custom.score", "between", [5, 10]), [1, 4]),
    (f("custom.score", "eq", 25.5), [2]),
    (f("custom.score", "ne", 10), [2, 3, 4, 5]),
    (f("custom.score", "in", [5, 25.5]), [2, 4]),
    (f("custom.score", "is_null"), [3, 5]),
    # datetime (computed)
    (f("last_call_at", "within_last_days", 2), [1]),  # c3's call was 50 h ago
    (f("last_call_at", "within_last_days", 3), [1, 3]),
    (f("last_call_at", "older_than_days", 5), [2, 4, 5]),  # never called counts as "not for 5 days"
    (f("last_call_at", "is_null"), [4, 5]),
    (f("last_call_at", "not_null"), [1, 2, 3]),
    (f("last_call_at", "between", [ago(days=11), ago(days=5)]), [2]),
    (f("last_call_at", "lt", ago(hours=48)), [2, 3]),
    (f("last_call_at", "gte", ago(hours=50)), [1, 3]),
    (f("last_contact_at", "older_than_days", 30), [4, 5]),  # c4's meeting was 40 days ago
    (f("last_contact_at", "within_last_days", 45), [1, 2, 3, 4]),
    (f("created_at", "older_than_days", 0), []),  # created just now, after NOW (2026-06-15)
    # date (custom)
    (f("custom.since", "within_last_days", 7), [1]),
    (f("custom.since", "older_than_days", 7), [2]),  # no date is not "old"
    (f("custom.since", "eq", "2026-01-01"), [2]),
    (f("custom.since", "gt", "2026-02-01"), [1]),
    # bool
    (f("do_not_call", "eq", True), [2]),
    (f("do_not_call", "ne", True), [1, 3, 4, 5]),
    (f("open_callback", "eq", True), [2, 3]),  # c2 by its number, c3 by its link; c5's is done
    # tags
    (f("tags", "contains", "vip"), [1, 2]),
    (f("tags", "in", ["newsletter", "nobody"]), [1, 4]),
    (f("tags", "not_in", ["vip"]), [3, 4, 5]),
    (f("tags", "is_null"), [3, 5]),
    (f("tags", "not_null"), [1, 2, 4]),
    # integer and text computed
    (f("primary_phone", "eq", "+4930555"), [5]),
    (f("owner_name", "eq", "Alice"), [1, 5]),
    (f("owner_id", "is_null"), [4]),
    (f("team_name", "eq", "A"), [1, 2, 5]),
]


async def test_each_filter_matches_the_hand_computed_rows(db: Database, world: World) -> None:
    # One seeded world for every case (seeding per case would take minutes); every mismatch is reported together.
    wrong = {}
    for filter_, expected in CASES:
        got = await _numbers(db, world, world.admin, filter_)
        if got != expected:
            wrong[f"{filter_['field']} {filter_['op']} {filter_['value']!r}"] = (got, expected)
    assert wrong == {}


async def test_integer_filters_and_filters_combine_with_and(db: Database, world: World) -> None:
    c = world.c
    assert await _numbers(db, world, world.admin, f("id", "between", [c[2], c[4]])) == [2, 3, 4]
    assert await _numbers(db, world, world.admin, f("id", "lt", c[2])) == [1]
    assert await _numbers(db, world, world.admin, f("id", "gt", c[4])) == [5]
    assert await _numbers(db, world, world.admin, f("owner_id", "eq", world.a1.user_id)) == [1, 5]
    assert await _numbers(
        db, world, world.admin, f("tags", "contains", "vip"), f("do_not_call", "eq", False)
    ) == [1]


async def test_role_scope_rows_and_computed_fields(db: Database, world: World) -> None:
    """Each reader gets only the contacts the CRM shows them, and the last call among the calls they may see."""
    definition = {"entity": "contacts", "columns": ["id", "last_call_outcome", "last_call_at", "open_callback"]}
    expected = {
        "admin": {1: ("missed", 24), 2: ("missed", 240), 3: ("answered", 50), 4: (None, None), 5: (None, None)},
        "sup_a": {1: ("answered", 72), 2: ("missed", 240), 4: (None, None), 5: (None, None)},
        "a1": {1: ("answered", 72), 5: (None, None)},
        "a2": {2: ("missed", 240)},
        "b1": {3: ("answered", 50)},
    }  # contact -> (last call's outcome, hours ago)
    for who, rows in expected.items():
        got = await _rows(db, getattr(world, who), definition)
        back = {v: k for k, v in world.c.items()}
        seen = {
            back[r["id"]]: (r["last_call_outcome"], r["last_call_at"] and (NOW - r["last_call_at"]) / timedelta(hours=1))
            for r in got
        }
        assert seen == rows, who
    # The open callback of c2 is team A's: its supervisor sees it, b1 (another team) sees c3's.
    assert await _numbers(db, world, world.sup_a, f("open_callback", "eq", True)) == [2]
    assert await _numbers(db, world, world.b1, f("open_callback", "eq", True)) == [3]
    assert await _numbers(db, world, world.a1, f("open_callback", "eq", True)) == []
    # A filter on what a reader cannot see finds nothing more: a1 cannot see b1's missed call on c1.
    assert await _numbers(db, world, world.a1, f("last_call_outcome", "eq", "missed")) == []


async def test_other_entities_are_scoped(db: Database, world: World) -> None:
    acts = await _rows(db, world.a1, {"entity": "activities", "columns": ["id", "owner_id", "kind"]})
    assert {r["owner_id"] for r in acts} == {world.a1.user_id} and len(acts) == 2  # a call and a meeting
    tasks = await _rows(db, world.sup_a, {"entity": "tasks", "columns": ["id", "primary_phone", "status"]})
    assert sorted(r["primary_phone"] for r in tasks) == ["+4930222", "+4930555"]
    assert await _rows(db, world.b1, {"entity": "deals"}) == []


async def test_calls_carry_their_report_columns(db: Database, world: World) -> None:
    """What the call analytics count a call under is a report's column and filter too (a transferred call here)."""
    meta = {"answered_by": "2001", "agents_talked": ["2001", "2002"], "queue": "support", "wrapup_s": 12.0,
            "routing": [{"team": "Team A", "reason": "owner"}]}
    async with db.session() as s:
        s.add(Activity(kind=ActivityKind.CALL, user_id=world.a1.user_id, started_at=NOW, result="answered",
                       call_meta=meta))
    rows = await _rows(db, world.a1, {
        "entity": "activities", "filters": [{"field": "transferred", "op": "eq", "value": True}],
        "columns": ["routed_team", "agent_ext", "queue", "wrapup_s", "transferred"],
    })
    assert [(r["routed_team"], r["agent_ext"], r["queue"], r["wrapup_s"], r["transferred"]) for r in rows] == [
        ("Team A", "2001", "support", 12.0, True)]


async def test_values_sort_and_columns(db: Database, world: World) -> None:
    rows = await _rows(db, world.admin, {
        "entity": "contacts", "columns": ["last_name", "tags", "custom.score", "primary_phone", "do_not_call"],
        "sort": {"field": "custom.score", "direction": "desc"},
    })
    # Nulls last, ties (c3, c5 have no score) by id in the sort's direction.
    assert [world.names([r["id"]])[0] for r in rows] == [2, 1, 4, 5, 3]
    assert rows[0] == {"id": world.c[2], "last_name": "Beta", "tags": ["vip"], "custom.score": pytest.approx(25.5),
                       "primary_phone": "+4930222", "do_not_call": True}
    async with db.session() as s:
        checked = await prepare(s, parse_definition({"entity": "contacts", "columns": ["custom.score", "tags"]}))
    assert [(c.name, c.label, c.type) for c in columns_of(checked)] == [("custom.score", "Score", "number"),
                                                                        ("tags", "Tags", "tags")]


async def _all_pages(db: Database, who: Principal, definition: ReportDefinition, limit: int, between: Any = None) -> list[dict]:
    seen, cursor = [], None
    while True:
        async with db.session() as s:
            page = await fetch_page(s, who, definition, cursor=cursor, limit=limit, now=NOW)
        seen += page.rows
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
        if between:
            await between()


async def test_cursor_pages_each_row_once_under_inserts(db: Database, world: World) -> None:
    async with db.session() as s:
        s.add_all(Contact(first_name=f"p{i}", last_name=f"Name{i % 4}", responsible_id=world.a1.user_id) for i in range(23))
    inserted = []

    async def insert() -> None:
        async with db.session() as s:
            for name in ("Aaa", "Name2", "Zzz"):  # before, among and after the rows already paged
                contact = Contact(first_name="new", last_name=name, responsible_id=world.a1.user_id)
                s.add(contact)
                await s.flush()
                inserted.append(contact.id)

    for sort in ({"field": "last_name", "direction": "asc"}, {"field": "last_name", "direction": "desc"},
                 {"field": "id", "direction": "desc"}, {"field": "last_call_at", "direction": "asc"}):
        definition = parse_definition({"entity": "contacts", "columns": ["id", "last_name"], "sort": sort})
        before = [r["id"] for r in await _rows(db, world.a1, definition.model_dump())]
        paged = [r["id"] for r in await _all_pages(db, world.a1, definition, 4, insert)]
        assert len(paged) == len(set(paged)), sort  # nothing twice
        assert set(before) <= set(paged), sort  # everything that was there, once
        assert set(paged) - set(before) <= set(inserted), sort
        # In order: the paged rows are the sort of what they are.
        rows = {r["id"]: r for r in await _rows(db, world.admin, {"entity": "contacts", "columns": ["last_name"]})}
        if sort["field"] == "last_name":
            keys = [(rows[i]["last_name"], i) for i in paged]
            assert keys == sorted(keys, reverse=sort["direction"] == "desc"), sort


async def test_iter_rows_streams_in_batches_and_the_limit_caps(db: Database, world: World) -> None:
    definition = {"entity": "contacts", "columns": ["id"], "sort": {"field": "last_name"}}
    whole = await _rows(db, world.admin, definition)
    assert [r["id"] for r in await _rows(db, world.admin, definition, batch_size=2)] == [r["id"] for r in whole]
    # Paged by a custom number (whole and fractional values, nulls) and by a computed date: the same rows as at once.
    for sort in ({"field": "custom.score", "direction": "desc"}, {"field": "last_contact_at"}):
        by = {**definition, "sort": sort}
        at_once = [r["id"] for r in await _rows(db, world.admin, by)]
        assert [r["id"] for r in await _rows(db, world.admin, by, batch_size=1)] == at_once, sort
    top = parse_definition({**definition, "limit": 3})
    assert [r["id"] for r in await _all_pages(db, world.admin, top, 2)] == [r["id"] for r in whole[:3]]


async def test_bad_definitions_name_the_path(db: Database, world: World) -> None:
    async def error(definition: dict[str, Any]) -> str | None:
        with pytest.raises(Invalid) as caught:
            await _rows(db, world.admin, definition)
        return caught.value.field

    assert await error({"entity": "contacts", "filters": [f("last_name", "eq", "x"), f("nope", "eq", 1)]}) == "filters[1].field"
    assert await error({"entity": "contacts", "filters": [f("id", "contains", "1")]}) == "filters[0].op"
    assert await error({"entity": "contacts", "filters": [f("id", "eq", "1")]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("id", "between", [3, 1])]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("custom.score", "in", [1, "x"])]}) == "filters[0].value[1]"
    assert await error({"entity": "contacts", "filters": [f("custom.region", "eq", "west")]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("last_call_at", "gt", "2026-01-01T00:00:00")]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("last_call_at", "within_last_days", -1)]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("tags", "contains", 'a"b')]}) == "filters[0].value"
    assert await error({"entity": "contacts", "filters": [f("position", "is_null", "x")]}) == "filters[0].value"
    assert await error({"entity": "contacts", "columns": ["id", "nope"]}) == "columns[1]"
    assert await error({"entity": "contacts", "sort": {"field": "tags"}}) == "sort.field"
    assert await error({"entity": "contacts", "sort": {"field": "nope"}}) == "sort.field"
    assert await error({"entity": "contacts", "filters": [{"field": "id", "op": "like", "value": 1}]}) == "filters[0].op"
    assert await error({"entity": "contacts", "colour": "red"}) == "colour"
    assert await error({"entity": "companies", "filters": [f("do_not_call", "eq", True)]}) == "filters[0].field"


async def test_bad_cursors_are_refused(db: Database, world: World) -> None:
    by_name = parse_definition({"entity": "contacts", "sort": {"field": "last_name"}})
    async with db.session() as s:
        page = await fetch_page(s, world.admin, by_name, limit=2, now=NOW)
        assert page.next_cursor is not None
        body, mac = page.next_cursor.split(".")
        other = parse_definition({"entity": "contacts", "sort": {"field": "id"}})
        for cursor, definition in [
            ("garbage", by_name),
            (page.next_cursor + "x", by_name),
            (body[:-2] + "AA." + mac, by_name),  # the position changed: the check fails
            (page.next_cursor, other),  # another report's cursor
        ]:
            with pytest.raises(CursorError) as caught:
                await fetch_page(s, world.admin, definition, cursor=cursor, limit=2, now=NOW)
            assert caught.value.field == "cursor"


async def test_deals_and_leads_computed_fields(db: Database, world: World) -> None:
    """A deal is dialled through its contact (its numbers, its do-not-call) and sees the calls and callbacks linked to
    it; a lead carries its own flags and tags."""
    async with db.session() as s:
        pipeline = Pipeline(name="P")
        s.add(pipeline)
        await s.flush()
        stage = PipelineStage(pipeline_id=pipeline.id, name="Offer", position=1)
        s.add(stage)
        await s.flush()
        deals = [Deal(title=t, pipeline_id=pipeline.id, stage_id=stage.id, contact_id=c, responsible_id=world.a1.user_id,
                      amount=a, custom={}) for t, c, a in [("to c2", world.c[2], 100), ("to c5", world.c[5], 250.5),
                                                              ("nobody", None, None)]]
        s.add_all(deals)
        lead = Lead(title="L", responsible_id=world.a2.user_id, tags=["vip"], do_not_call=True, custom={})
        s.add(lead)
        await s.flush()
        s.add(Phone(e164="+4930777", raw="x", lead_id=lead.id))
        s.add(Activity(kind=ActivityKind.CALL, deal_id=deals[1].id, user_id=world.a1.user_id,
                       started_at=NOW - timedelta(hours=5), result="busy", call_meta={}))
        s.add(Task(title="cb", kind=TaskKind.CALLBACK, callback_e164="+4930777", team_id=world.a2.team_id,
                   assignee_id=world.a2.user_id))
    rows = await _rows(db, world.admin, {"entity": "deals", "columns": [
        "title", "stage_name", "amount", "primary_phone", "do_not_call", "last_call_outcome", "last_call_at"]})
    got = {r["title"]: (r["stage_name"], r["amount"], r["primary_phone"], r["do_not_call"], r["last_call_outcome"])
           for r in rows}
    assert got == {
        "to c2": ("Offer", 100, "+4930222", True, None),
        "to c5": ("Offer", Decimal("250.50"), "+4930555", False, "busy"),
        "nobody": ("Offer", None, None, False, None),
    }
    assert [r["title"] for r in await _rows(db, world.admin, {
        "entity": "deals", "columns": ["title"], "filters": [f("amount", "gt", 150)]})] == ["to c5"]
    leads = await _rows(db, world.a2, {"entity": "leads",
                                       "columns": ["tags", "do_not_call", "primary_phone", "open_callback"]})
    assert [(r["tags"], r["do_not_call"], r["primary_phone"], r["open_callback"]) for r in leads] == [
        (["vip"], True, "+4930777", True)]
    assert await _rows(db, world.a1, {"entity": "leads"}) == []
    # a1 sees only their own call on c1, whose disposition was a sale.
    assert await _numbers(db, world, world.a1, f("last_call_disposition", "eq", "sale")) == [1]
