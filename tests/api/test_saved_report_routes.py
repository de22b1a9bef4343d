"""Saved reports over HTTP: save, share with a team, versions, rows in the reader's scope, cursor, exports, bad input."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from crm_core.models import Contact, CustomFieldDef, Entity, FieldType
from tests.api.conftest import World

BASE = "/api/v1/reports"


async def _contacts(world: World) -> dict[str, int]:
    """Contacts: two of a1's, one of a2's, one of b1's, one in the pool (no owner)."""
    made = {}
    async with world.db.session() as s:
        s.add(CustomFieldDef(entity=Entity.CONTACT, key="score", label="Score", field_type=FieldType.NUMBER))
        for key, owner, name in [("a1_1", world.agent_a1, "=Evil"), ("a1_2", world.agent_a1, "Able"),
                                 ("a2", world.agent_a2, "Baker"), ("b1", world.agent_b1, "Carter"), ("pool", None, "Doe")]:
            contact = Contact(last_name=name, responsible_id=owner and owner.id, custom={"score": len(made)})
            s.add(contact)
            await s.flush()
            made[key] = contact.id
    return made


DEFINITION = {"entity": "contacts", "columns": ["last_name", "custom.score"], "sort": {"field": "last_name"}}


async def _ids(world: World, actor: Any, report_id: int) -> list[int]:
    status, body = await world.call(actor, "GET", f"{BASE}/saved/{report_id}/rows")
    assert status == 200, body
    return sorted(r["id"] for r in body["rows"])


async def test_fields_catalogue(world: World) -> None:
    await _contacts(world)
    status, body = await world.call(world.agent_a1, "GET", f"{BASE}/fields?entity=contacts")
    assert status == 200
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["custom.score"]["type"] == "number" and fields["custom.score"]["label"] == "Score"
    assert fields["tags"]["ops"] == sorted(["contains", "in", "not_in", "is_null", "not_null"])
    assert fields["last_call_outcome"]["computed"] and "missed" in fields["last_call_outcome"]["choices"]
    assert {"do_not_call", "call_consent", "primary_phone", "open_callback", "last_contact_at"} <= set(fields)
    for query, field in [("", "entity"), ("?entity=people", "entity")]:
        status, body = await world.call(world.agent_a1, "GET", f"{BASE}/fields{query}")
        assert status == 400 and body["error"]["field"] == field


async def test_saved_shared_versioned_and_scoped(world: World) -> None:
    c = await _contacts(world)
    team_a = world.agent_a1.team_id
    status, report = await world.call(world.agent_a1, "POST", f"{BASE}/saved",
                                      {"name": "My calls", "definition": DEFINITION, "team_id": team_a})
    assert status == 201 and report["version"] == 1 and report["owner_id"] == world.agent_a1.id and report["can_edit"]
    rid = report["id"]
    # Each reader of the shared report sees their own rows only: a2 its one, the supervisor the team's and the pool.
    assert await _ids(world, world.agent_a1, rid) == sorted([c["a1_1"], c["a1_2"]])
    assert await _ids(world, world.agent_a2, rid) == [c["a2"]]
    assert await _ids(world, world.sup_a, rid) == sorted([c["a1_1"], c["a1_2"], c["a2"], c["pool"]])
    assert await _ids(world, world.admin, rid) == sorted(c.values())
    # Another team's agent does not see the report at all.
    for path in ("", "/rows", "/versions", "/export"):
        status, body = await world.call(world.agent_b1, "GET", f"{BASE}/saved/{rid}{path}")
        assert status == 404 and body["error"]["field"] == "id", path
    status, listed = await world.call(world.agent_b1, "GET", f"{BASE}/saved")
    assert status == 200 and listed["total"] == 0
    status, listed = await world.call(world.agent_a2, "GET", f"{BASE}/saved")
    assert [r["id"] for r in listed["items"]] == [rid] and not listed["items"][0]["can_edit"]
    # The team reads; only the owner or an admin changes it.
    changed = {"name": "My calls v2", "definition": {**DEFINITION, "columns": ["last_name"]}, "team_id": team_a}
    status, body = await world.call(world.agent_a2, "PUT", f"{BASE}/saved/{rid}", changed)
    assert status == 403
    status, body = await world.call(world.agent_a2, "DELETE", f"{BASE}/saved/{rid}")
    assert status == 403
    status, body = await world.call(world.agent_a1, "PUT", f"{BASE}/saved/{rid}", changed)
    assert status == 200 and body["version"] == 2 and body["name"] == "My calls v2"
    status, body = await world.call(world.admin, "PUT", f"{BASE}/saved/{rid}", {**changed, "team_id": None})
    assert status == 200 and body["version"] == 3
    assert (await world.call(world.agent_a2, "GET", f"{BASE}/saved/{rid}"))[0] == 404  # no longer shared
    status, versions = await world.call(world.agent_a1, "GET", f"{BASE}/saved/{rid}/versions")
    assert status == 200
    assert [(v["version"], v["name"], v["changed_by_id"], v["team_id"]) for v in versions] == [
        (3, "My calls v2", world.admin.id, None), (2, "My calls v2", world.agent_a1.id, team_a),
        (1, "My calls", world.agent_a1.id, team_a)]
    assert versions[2]["definition"]["columns"] == DEFINITION["columns"]
    assert versions[0]["definition"]["columns"] == ["last_name"]
    status, _ = await world.call(world.agent_a1, "DELETE", f"{BASE}/saved/{rid}")
    assert status == 204
    assert (await world.call(world.agent_a1, "GET", f"{BASE}/saved/{rid}"))[0] == 404


async def test_sharing_is_limited_to_the_own_team(world: World) -> None:
    await _contacts(world)
    body = {"name": "x", "definition": DEFINITION, "team_id": world.agent_b1.team_id}
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/saved", body)
    assert status == 403 and err["error"]["field"] == "team_id"
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/saved", {**body, "team_id": 999999})
    assert status == 422 and err["error"]["field"] == "team_id"
    status, report = await world.call(world.admin, "POST", f"{BASE}/saved", body)
    assert status == 201 and report["team_id"] == world.agent_b1.team_id


async def test_run_pages_with_a_cursor(world: World) -> None:
    c = await _contacts(world)
    seen, cursor = [], None
    while True:
        status, page = await world.call(world.admin, "POST", f"{BASE}/run",
                                        {"definition": DEFINITION, "cursor": cursor, "limit": 2})
        assert status == 200, page
        seen += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["last_name"] for r in seen] == ["=Evil", "Able", "Baker", "Carter", "Doe"]
    assert [r["custom.score"] for r in seen] == [0, 1, 2, 3, 4]
    assert page["columns"] == [{"name": "last_name", "label": "Last name", "type": "text"},
                               {"name": "custom.score", "label": "Score", "type": "number"}]
    assert sorted(r["id"] for r in seen) == sorted(c.values())


async def test_bad_input_is_named(world: World) -> None:
    await _contacts(world)
    cases = [
        ({"definition": {**DEFINITION, "filters": [{"field": "nope", "op": "eq", "value": 1}]}}, 422, "filters[0].field"),
        ({"definition": {**DEFINITION, "filters": [{"field": "id", "op": "contains", "value": "1"}]}}, 422, "filters[0].op"),
        ({"definition": {**DEFINITION, "filters": [{"field": "id", "op": "eq", "value": "x"}]}}, 422, "filters[0].value"),
        ({"definition": {**DEFINITION, "sort": {"field": "tags"}}}, 422, "sort.field"),
        ({"definition": {**DEFINITION, "columns": ["id", "nope"]}}, 422, "columns[1]"),
        ({"definition": DEFINITION, "cursor": "not-a-cursor"}, 400, "cursor"),
    ]
    for body, status, field in cases:
        got, err = await world.call(world.agent_a1, "POST", f"{BASE}/run", body)
        assert (got, err["error"]["field"]) == (status, field), body
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/saved", {"name": " ", "definition": DEFINITION})
    assert status == 422 and err["error"]["field"] == "name"
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/saved",
                                   {"name": "x", "definition": {**DEFINITION, "columns": ["nope"]}})
    assert status == 422 and err["error"]["field"] == "columns[0]"
    status, report = await world.call(world.agent_a1, "POST", f"{BASE}/saved", {"name": "x", "definition": DEFINITION})
    for query, field in [("?cursor=abc", "cursor"), ("?limit=0", "limit"), ("?limit=5000", "limit")]:
        status, err = await world.call(world.agent_a1, "GET", f"{BASE}/saved/{report['id']}/rows{query}")
        assert status == 400 and err["error"]["field"] == field, query
    status, err = await world.call(world.agent_a1, "GET", f"{BASE}/saved/{report['id']}/export?format=pdf")
    assert status == 400 and err["error"]["field"] == "format"


async def test_exports_stream_the_readers_rows(world: World) -> None:
    c = await _contacts(world)
    status, report = await world.call(world.agent_a1, "POST", f"{BASE}/saved",
                                      {"name": "Zoë's \"list\"", "definition": DEFINITION})
    resp = await world.client.get(f"{BASE}/saved/{report['id']}/export?format=csv", headers=world.agent_a1.headers)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="Zoe_s _list.csv"')
    lines = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert lines == [["Last name", "Score"], ["'=Evil", "0"], ["Able", "1"]]  # a1's two contacts only
    resp = await world.client.get(f"{BASE}/saved/{report['id']}/export?format=xlsx", headers=world.admin.headers)
    assert resp.status == 200 and resp.headers["Content-Type"].endswith("spreadsheetml.sheet")
    data = await resp.read()
    assert len(data) == int(resp.headers["Content-Length"])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert sheet.count("<row ") == 1 + len(c)  # the admin's export: every contact


async def test_crm_api_sets_the_calling_flags_a_report_filters_on(world: World) -> None:
    status, vip = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {
        "last_name": "Vip", "tags": ["vip", "B2B"], "call_consent": "granted"})
    assert status == 201 and vip["tags"] == ["vip", "B2B"] and vip["do_not_call"] is False
    status, blocked = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "Blocked", "tags": ["vip"]})
    status, patched = await world.call(world.agent_a1, "PATCH", f"/api/v1/contacts/{blocked['id']}", {"do_not_call": True})
    assert status == 200 and patched["do_not_call"] is True and patched["call_consent"] == "unknown"
    status, lead = await world.call(world.agent_a1, "POST", "/api/v1/leads", {"title": "L", "do_not_call": True})
    assert status == 201 and lead["do_not_call"] is True and lead["tags"] == []
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "X", "tags": ['a"b']})
    assert status == 422 and err["error"]["field"].startswith("tags")
    dialable = {"entity": "contacts", "columns": ["last_name"], "filters": [
        {"field": "tags", "op": "contains", "value": "vip"}, {"field": "do_not_call", "op": "eq", "value": False}]}
    status, page = await world.call(world.agent_a1, "POST", f"{BASE}/run", {"definition": dialable})
    assert status == 200 and [r["last_name"] for r in page["rows"]] == ["Vip"]


async def test_shape_errors_name_the_dotted_path(world: World) -> None:
    body = {"definition": {**DEFINITION, "filters": [{"field": "id", "op": "like", "value": 1}]}}
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/run", body)
    assert status == 422 and err["error"]["field"] == "definition.filters.0.op"
    status, err = await world.call(world.agent_a1, "POST", f"{BASE}/run", {"definition": {**DEFINITION, "x": 1}})
    assert status == 422 and err["error"]["field"] == "definition.x"
