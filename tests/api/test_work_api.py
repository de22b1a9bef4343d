"""Permissions per role, deals and pipelines, custom fields, tasks and counters, the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.api.conftest import World


async def _pipeline(world: World) -> dict:
    status, pipeline = await world.call(
        world.admin,
        "POST",
        "/api/v1/pipelines",
        {"name": "Sales", "is_default": True, "stages": [{"name": "New"}, {"name": "Offer"}, {"name": "Contract"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]},
    )
    assert status == 201
    return pipeline


async def test_agents_see_only_their_own_records_and_supervisors_their_team(world: World) -> None:
    _, mine = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "Mine"})
    _, b_contact = await world.call(world.agent_b1, "POST", "/api/v1/contacts", {"last_name": "Theirs"})
    _, pool = await world.call(world.admin, "POST", "/api/v1/contacts", {"last_name": "Pool"})
    assert pool["responsible_id"] is None

    visible = {}
    for name in ("agent_a1", "agent_a2", "agent_b1", "sup_a", "admin"):
        _, page = await world.call(getattr(world, name), "GET", "/api/v1/contacts")
        visible[name] = {c["last_name"] for c in page["items"]}
    assert visible == {
        "agent_a1": {"Mine"},
        "agent_a2": set(),
        "agent_b1": {"Theirs"},
        "sup_a": {"Mine", "Pool"},
        "admin": {"Mine", "Theirs", "Pool"},
    }
    # Another team's record is invisible by id too, for reading, changing and deleting.
    for method, body in (("GET", None), ("PATCH", {"position": "x"}), ("DELETE", None)):
        status, _ = await world.call(world.agent_a1, method, f"/api/v1/contacts/{b_contact['id']}", body)
        assert status == 404
        status, _ = await world.call(world.sup_a, method, f"/api/v1/contacts/{b_contact['id']}", body)
        assert status == 404
    status, _ = await world.call(world.agent_a1, "GET", f"/api/v1/contacts/{b_contact['id']}/timeline")
    assert status == 404


async def test_handing_records_over_is_limited_by_role(world: World) -> None:
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "X", "responsible_id": world.agent_a2.id})
    assert status == 403 and err["error"]["field"] == "responsible_id"
    status, ok = await world.call(world.sup_a, "POST", "/api/v1/contacts", {"last_name": "Y", "responsible_id": world.agent_a2.id})
    assert status == 201 and ok["responsible_id"] == world.agent_a2.id
    status, _ = await world.call(world.sup_a, "PATCH", f"/api/v1/contacts/{ok['id']}", {"responsible_id": world.agent_b1.id})
    assert status == 403
    status, moved = await world.call(world.admin, "PATCH", f"/api/v1/contacts/{ok['id']}", {"responsible_id": world.agent_b1.id})
    assert status == 200 and moved["responsible_id"] == world.agent_b1.id


async def test_admin_only_routes(world: World) -> None:
    for path, body in (
        ("/api/v1/pipelines", {"name": "P", "stages": [{"name": "a"}]}),
        ("/api/v1/teams", {"name": "T"}),
        ("/api/v1/users", {"name": "U"}),
        ("/api/v1/custom-fields", {"entity": "contact", "key": "k", "label": "K", "field_type": "string"}),
    ):
        for actor in (world.agent_a1, world.sup_a):
            status, err = await world.call(actor, "POST", path, body)
            assert status == 403, (path, err)
    status, _ = await world.call(world.sup_a, "GET", "/api/v1/audit")
    assert status == 403
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/tokens", {"user_id": world.agent_a2.id, "name": "steal"})
    assert status == 403
    _, users = await world.call(world.sup_a, "GET", "/api/v1/users")
    assert {u["id"] for u in users} == {world.sup_a.id, world.agent_a1.id, world.agent_a2.id}
    status, _ = await world.call(world.sup_a, "GET", f"/api/v1/users/{world.agent_b1.id}")
    assert status == 404


async def test_users_and_teams_validation(world: World) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/teams", {"name": "Team A"})
    assert status == 409
    status, err = await world.call(world.admin, "POST", "/api/v1/teams", {"name": "Mars", "timezone": "Mars/Olympus"})
    assert status == 422 and err["error"]["field"] == "timezone"
    status, err = await world.call(world.admin, "POST", "/api/v1/users", {"name": "Dup", "extension": "1002"})
    assert status == 409
    status, err = await world.call(world.admin, "POST", "/api/v1/users", {"name": "Bad", "extension": "12a"})
    assert status == 422 and err["error"]["field"] == "extension"
    status, err = await world.call(world.admin, "POST", "/api/v1/users", {"name": "Lost", "team_id": 4242})
    assert status == 404 and err["error"]["field"] == "team_id"
    status, user = await world.call(world.admin, "PATCH", f"/api/v1/users/{world.agent_a2.id}", {"active": False})
    assert status == 200 and user["active"] is False
    resp = await world.client.get("/api/v1/contacts", headers=world.agent_a2.headers)
    assert resp.status == 401
    status, err = await world.call(world.sup_a, "POST", "/api/v1/contacts", {"last_name": "Z", "responsible_id": world.agent_a2.id})
    assert status == 422 and "deactivated" in err["error"]["message"]


async def test_deals_move_through_stages_with_history(world: World) -> None:
    pipeline = await _pipeline(world)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    agent = world.agent_a1
    status, deal = await world.call(agent, "POST", "/api/v1/deals", {"title": "Fleet", "amount": "999.50", "products": [{"name": "Seat", "quantity": "3", "unit_price": "333.17"}]})
    assert status == 201
    assert (deal["pipeline_id"], deal["stage_id"], deal["status"], deal["responsible_id"]) == (pipeline["id"], stages["New"], "open", agent.id)
    assert deal["products"][0]["name"] == "Seat"
    for name in ("Offer", "Won"):
        status, deal = await world.call(agent, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stages[name]})
        assert status == 200
    assert deal["status"] == "won" and deal["closed_at"]
    _, history = await world.call(agent, "GET", f"/api/v1/deals/{deal['id']}/history")
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [(None, stages["New"]), (stages["New"], stages["Offer"]), (stages["Offer"], stages["Won"])]
    assert all(h["changed_by_id"] == agent.id for h in history)
    assert history[0]["changed_at"] <= history[1]["changed_at"] <= history[2]["changed_at"]
    _, reopened = await world.call(agent, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stages["New"]})
    assert reopened["status"] == "open" and reopened["closed_at"] is None

    _, other = await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Support", "stages": [{"name": "Open"}]})
    status, err = await world.call(agent, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": other["stages"][0]["id"]})
    assert status == 422 and err["error"]["field"] == "stage_id"
    status, err = await world.call(agent, "POST", "/api/v1/deals", {"title": "x", "pipeline_id": 777})
    assert status == 404 and err["error"]["field"] == "pipeline_id"
    status, err = await world.call(agent, "POST", "/api/v1/deals", {"title": "x", "amount": "-1"})
    assert status == 422 and err["error"]["field"] == "amount"
    status, err = await world.call(agent, "POST", "/api/v1/deals", {"title": "x", "currency": "euro"})
    assert status == 422 and err["error"]["field"] == "currency"
    status, err = await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Sales", "stages": [{"name": "a"}]})
    assert status == 409
    status, err = await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Twice", "stages": [{"name": "a"}, {"name": "a"}]})
    assert status == 422
    _, page = await world.call(agent, "GET", "/api/v1/deals", params={"status": "open", "pipeline_id": str(pipeline["id"])})
    assert [d["id"] for d in page["items"]] == [deal["id"]]
    status, _ = await world.call(world.agent_b1, "GET", f"/api/v1/deals/{deal['id']}")
    assert status == 404


async def test_no_pipeline_yet_is_a_clear_error(world: World) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/deals", {"title": "x"})
    assert status == 422 and "no pipeline" in err["error"]["message"]


async def test_custom_fields_are_typed_and_required_rules_apply(world: World) -> None:
    pipeline = await _pipeline(world)
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    for body in (
        {"entity": "contact", "key": "segment", "label": "Segment", "field_type": "choice", "choices": ["smb", "enterprise"], "required": True},
        {"entity": "contact", "key": "seats", "label": "Seats", "field_type": "number"},
        {"entity": "contact", "key": "birthday", "label": "Birthday", "field_type": "date"},
        {"entity": "deal", "key": "contract_no", "label": "Contract no.", "field_type": "string", "required_from_stage_id": stages["Contract"]},
    ):
        status, _ = await world.call(world.admin, "POST", "/api/v1/custom-fields", body)
        assert status == 201
    status, err = await world.call(world.admin, "POST", "/api/v1/custom-fields", {"entity": "contact", "key": "seats", "label": "again", "field_type": "number"})
    assert status == 409
    status, err = await world.call(world.admin, "POST", "/api/v1/custom-fields", {"entity": "lead", "key": "c", "label": "c", "field_type": "choice"})
    assert status == 422 and err["error"]["field"] == "choices"
    status, err = await world.call(world.admin, "POST", "/api/v1/custom-fields", {"entity": "lead", "key": "Bad Key", "label": "c", "field_type": "string"})
    assert status == 422 and err["error"]["field"] == "key"

    admin = world.admin
    for custom, field in (
        ({}, "custom.segment"),
        ({"segment": "huge"}, "custom.segment"),
        ({"segment": "smb", "seats": "many"}, "custom.seats"),
        ({"segment": "smb", "birthday": "31.12.1990"}, "custom.birthday"),
    ):
        status, err = await world.call(admin, "POST", "/api/v1/contacts", {"last_name": "C", "custom": custom})
        assert status == 422 and err["error"]["field"] == field, err
    status, contact = await world.call(admin, "POST", "/api/v1/contacts", {"last_name": "C", "custom": {"segment": "smb", "seats": "12", "birthday": "1990-12-31"}})
    assert status == 201 and contact["custom"] == {"segment": "smb", "seats": 12, "birthday": "1990-12-31"}
    status, err = await world.call(admin, "PATCH", f"/api/v1/contacts/{contact['id']}", {"custom": {"segment": None}})
    assert status == 422 and err["error"]["field"] == "custom.segment"

    _, deal = await world.call(admin, "POST", "/api/v1/deals", {"title": "D"})
    status, _ = await world.call(admin, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stages["Offer"]})
    assert status == 200
    status, err = await world.call(admin, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stages["Contract"]})
    assert status == 422 and err["error"]["field"] == "custom.contract_no"
    await world.call(admin, "PATCH", f"/api/v1/deals/{deal['id']}", {"custom": {"contract_no": "K-17"}})
    status, moved = await world.call(admin, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": stages["Contract"]})
    assert status == 200 and moved["custom"] == {"contract_no": "K-17"}


async def test_tasks_and_counters(world: World) -> None:
    agent = world.agent_a1
    now = datetime.now(timezone.utc)
    plans = [
        ("late task", "task", now - timedelta(hours=2)),
        ("late call", "callback", now - timedelta(minutes=5)),
        ("soon call", "callback", now + timedelta(minutes=1)),
        ("next week", "task", now + timedelta(days=7)),
    ]
    ids = {}
    for title, kind, due in plans:
        status, task = await world.call(agent, "POST", "/api/v1/tasks", {"title": title, "kind": kind, "due_at": due.isoformat()})
        assert status == 201 and task["assignee_id"] == agent.id
        ids[title] = task
    assert ids["late task"]["overdue"] is True and ids["next week"]["overdue"] is False
    _, counters = await world.call(agent, "GET", "/api/v1/me/counters")
    assert counters["tasks"]["overdue"] == 1 and counters["calls"]["overdue"] == 1
    # "soon call" is due later today unless the team's day (Europe/Berlin) ends within the minute.
    assert counters["calls"]["due_today"] in (0, 1) and counters["tasks"]["due_today"] == 0
    _, done = await world.call(agent, "PATCH", f"/api/v1/tasks/{ids['late task']['id']}", {"status": "done"})
    assert done["completed_at"] and done["overdue"] is False
    _, counters = await world.call(agent, "GET", "/api/v1/me/counters")
    assert counters["tasks"]["overdue"] == 0
    _, page = await world.call(agent, "GET", "/api/v1/tasks", params={"overdue": "true"})
    assert [t["title"] for t in page["items"]] == ["late call"]
    _, same = await world.call(world.sup_a, "GET", f"/api/v1/users/{agent.id}/counters")
    assert same == counters
    status, _ = await world.call(world.agent_b1, "GET", f"/api/v1/users/{agent.id}/counters")
    assert status == 404
    status, err = await world.call(agent, "POST", "/api/v1/tasks", {"title": "naive", "due_at": "2026-01-01T09:00:00"})
    assert status == 422 and err["error"]["field"] == "due_at"
    status, _ = await world.call(world.agent_b1, "GET", f"/api/v1/tasks/{ids['late call']['id']}")
    assert status == 404


async def test_activities(world: World) -> None:
    agent = world.agent_a1
    _, contact = await world.call(agent, "POST", "/api/v1/contacts", {"last_name": "Met"})
    status, meeting = await world.call(
        agent, "POST", "/api/v1/activities",
        {"kind": "meeting", "subject": "Demo", "contact_id": contact["id"], "started_at": "2026-11-20T10:00:00Z", "ended_at": "2026-11-20T11:00:00Z"},
    )
    assert status == 201 and meeting["user_id"] == agent.id
    status, err = await world.call(agent, "POST", "/api/v1/activities", {"kind": "call"})
    assert status == 422 and err["error"]["field"] == "kind"
    status, err = await world.call(agent, "POST", "/api/v1/activities", {"kind": "note", "started_at": "2026-11-20T10:00:00Z", "ended_at": "2026-11-20T09:00:00Z"})
    assert status == 422 and err["error"]["field"] == "ended_at"
    status, err = await world.call(agent, "POST", "/api/v1/activities", {"kind": "note", "contact_id": 98765})
    assert status == 404 and err["error"]["field"] == "contact_id"
    _, page = await world.call(agent, "GET", "/api/v1/activities", params={"contact_id": str(contact["id"])})
    assert [a["id"] for a in page["items"]] == [meeting["id"]]
    status, _ = await world.call(world.agent_a2, "GET", f"/api/v1/activities/{meeting['id']}")
    assert status == 404
    _, profile = await world.call(agent, "GET", f"/api/v1/contacts/{contact['id']}/timeline")
    assert profile["timeline"][0]["type"] == "activity" and profile["timeline"][0]["data"]["subject"] == "Demo"


async def test_every_change_is_audited_with_who_and_what(world: World) -> None:
    _, contact = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "Audited", "phones": [{"number": "+1 212 555 0177"}]})
    await world.call(world.agent_a1, "PATCH", f"/api/v1/contacts/{contact['id']}", {"last_name": "Renamed"})
    await world.call(world.agent_a1, "DELETE", f"/api/v1/contacts/{contact['id']}")
    _, page = await world.call(world.admin, "GET", "/api/v1/audit", params={"entity": "contacts", "entity_id": str(contact["id"])})
    entries = list(reversed(page["items"]))
    assert [e["action"] for e in entries] == ["create", "update", "delete"]
    assert all(e["actor_id"] == world.agent_a1.id for e in entries)
    assert entries[1]["changes"] == {"last_name": ["Audited", "Renamed"]}
    _, phones = await world.call(world.admin, "GET", "/api/v1/audit", params={"entity": "phones"})
    assert {e["action"] for e in phones["items"]} == {"create", "delete"}
