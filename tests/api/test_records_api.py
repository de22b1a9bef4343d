"""Contacts, companies and leads over HTTP: CRUD, search, duplicates, validation and every error path."""

from __future__ import annotations

import pytest

from tests.api.conftest import World


async def test_health_and_openapi_need_no_token(world: World) -> None:
    status, body = await world.call(None, "GET", "/healthz")
    assert status == 200 and body["status"] == "ok"
    status, body = await world.call(None, "GET", "/readyz")
    assert status == 200 and body["checks"] == {"database": "ok"}
    status, spec = await world.call(None, "GET", "/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/v1/contacts"]
    body_ref = spec["paths"]["/api/v1/contacts"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.rsplit("/", 1)[-1] in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "send an API token"),
        ({"Authorization": "Basic abc"}, "send an API token"),
        ({"Authorization": "Bearer nope"}, "unknown API token"),
        ({"Authorization": "Bearer " + "x" * 300}, "malformed"),
    ],
)
async def test_routes_refuse_missing_or_bad_tokens(world: World, headers: dict[str, str], message: str) -> None:
    resp = await world.client.get("/api/v1/contacts", headers=headers)
    assert resp.status == 401
    assert message in (await resp.json())["error"]["message"]


async def test_revoked_and_expired_tokens_stop_working(world: World) -> None:
    status, created = await world.call(world.admin, "POST", "/api/v1/tokens", {"user_id": world.agent_a1.id, "name": "t"})
    assert status == 201 and created["token"].startswith("cc_")
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert (await world.client.get("/api/v1/contacts", headers=headers)).status == 200
    status, _ = await world.call(world.admin, "DELETE", f"/api/v1/tokens/{created['id']}")
    assert status == 200
    resp = await world.client.get("/api/v1/contacts", headers=headers)
    assert resp.status == 401 and "revoked" in (await resp.json())["error"]["message"]

    status, old = await world.call(
        world.admin, "POST", "/api/v1/tokens", {"user_id": world.agent_a1.id, "name": "old", "expires_at": "2020-01-01T00:00:00Z"}
    )
    resp = await world.client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {old['token']}"})
    assert resp.status == 401 and "expired" in (await resp.json())["error"]["message"]


async def test_tokens_are_stored_only_as_hashes(world: World) -> None:
    from sqlalchemy import select

    from crm_core.models import ApiToken

    _, created = await world.call(world.admin, "POST", "/api/v1/tokens", {"user_id": world.admin.id, "name": "h"})
    async with world.db.session() as s:
        stored = await s.scalar(select(ApiToken).where(ApiToken.id == created["id"]))
    assert stored is not None
    assert created["token"] not in (stored.token_hash, stored.prefix)
    assert len(stored.token_hash) == 64


async def test_contact_crud_and_lookup_by_any_format(world: World) -> None:
    agent = world.agent_a1
    status, contact = await world.call(
        agent,
        "POST",
        "/api/v1/contacts",
        {"first_name": "Jo", "last_name": "Doe", "phones": [{"number": "(212) 555-0101", "kind": "mobile"}], "emails": ["Jo@Example.com"]},
    )
    assert status == 201
    assert contact["responsible_id"] == agent.id
    assert contact["phones"] == [{"e164": "+12125550101", "extension": "", "raw": "(212) 555-0101", "kind": "mobile"}]
    assert contact["emails"] == [{"address": "jo@example.com"}]

    for form in ("+1 212 555 0101", "212.555.0101", "+12125550101"):
        status, found = await world.call(agent, "GET", "/api/v1/lookup", params={"phone": form})
        assert status == 200 and (found["entity"], found["id"]) == ("contact", contact["id"])
        status, page = await world.call(agent, "GET", "/api/v1/contacts", params={"phone": form})
        assert [c["id"] for c in page["items"]] == [contact["id"]]

    status, changed = await world.call(agent, "PATCH", f"/api/v1/contacts/{contact['id']}", {"position": "CTO"})
    assert status == 200 and changed["position"] == "CTO" and changed["last_name"] == "Doe"
    status, page = await world.call(agent, "GET", "/api/v1/contacts", params={"q": "do"})
    assert page["total"] == 1

    status, with_phone = await world.call(agent, "POST", f"/api/v1/contacts/{contact['id']}/phones", {"number": "+1 212 555 0199"})
    assert status == 201 and len(with_phone["phones"]) == 2
    status, without = await world.call(agent, "DELETE", f"/api/v1/contacts/{contact['id']}/phones/+12125550199")
    assert status == 200 and len(without["phones"]) == 1

    status, _ = await world.call(agent, "DELETE", f"/api/v1/contacts/{contact['id']}")
    assert status == 204
    status, err = await world.call(agent, "GET", f"/api/v1/contacts/{contact['id']}")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, _ = await world.call(agent, "GET", "/api/v1/lookup", params={"phone": "2125550101"})
    assert status == 404


async def test_duplicate_phone_or_email_returns_409_with_the_existing_record(world: World) -> None:
    admin = world.admin
    _, first = await world.call(admin, "POST", "/api/v1/contacts", {"last_name": "One", "phones": [{"number": "+1 212 555 0101"}], "emails": ["a@b.io"]})
    status, err = await world.call(admin, "POST", "/api/v1/leads", {"title": "Again", "phones": [{"number": "(212) 555-0101"}]})
    assert status == 409
    assert err["error"]["existing"] == {"entity": "contact", "id": first["id"]}
    assert err["error"]["field"] == "phones"
    status, err = await world.call(admin, "POST", "/api/v1/companies", {"name": "X", "emails": ["A@B.IO"]})
    assert status == 409 and err["error"]["existing"]["id"] == first["id"] and err["error"]["field"] == "emails"
    _, other = await world.call(admin, "POST", "/api/v1/contacts", {"last_name": "Two"})
    status, err = await world.call(admin, "POST", f"/api/v1/contacts/{other['id']}/phones", {"number": "212-555-0101"})
    assert status == 409 and err["error"]["existing"]["id"] == first["id"]
    # The same number with another extension is another line (a desk behind a switchboard).
    status, _ = await world.call(admin, "POST", "/api/v1/contacts", {"last_name": "Desk", "phones": [{"number": "+1 212 555 0101 ext. 9"}]})
    assert status == 201


async def test_company_numbers_never_become_records(world: World) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/leads", {"title": "Us", "phones": [{"number": "(212) 555-0100"}]})
    assert status == 422
    assert err["error"]["field"] == "phones[0].number" and "own numbers" in err["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"first_name": 5}, 422, "first_name"),
        ({"last_name": "x", "nickname": "y"}, 422, "nickname"),
        ({"last_name": "x", "phones": [{"number": "not a number"}]}, 422, "phones[0].number"),
        ({"last_name": "x", "phones": [{"number": "12"}]}, 422, "phones[0].number"),
        ({"last_name": "x", "phones": [{"number": "+1 212 555 0101", "kind": "pager"}]}, 422, "phones.0.kind"),
        ({"last_name": "x", "emails": ["nope"]}, 422, "emails"),
        ({"last_name": "x", "responsible_id": 999999}, 422, "responsible_id"),
        ({"last_name": "x", "company_id": 999999}, 404, "company_id"),
        ({}, 422, "last_name"),
        ({"last_name": "x", "custom": {"nope": 1}}, 422, "custom.nope"),
        ({"last_name": "x" * 201}, 422, "last_name"),
    ],
)
async def test_bad_contact_bodies_name_the_field(world: World, body: dict, status: int, field: str) -> None:
    got, err = await world.call(world.admin, "POST", "/api/v1/contacts", body)
    assert got == status, err
    assert err["error"]["field"] == field


async def test_malformed_requests(world: World) -> None:
    headers = {**world.admin.headers, "Content-Type": "application/json"}
    for raw, message in ((b"{not json", "not valid JSON"), (b"", "JSON body is required"), (b"\xff\xfe", "not valid JSON")):
        resp = await world.client.post("/api/v1/contacts", data=raw, headers=headers)
        assert resp.status == 400
        assert message in (await resp.json())["error"]["message"]
    resp = await world.client.post("/api/v1/contacts", data=b"[1,2]", headers=headers)
    assert resp.status == 422
    resp = await world.client.post("/api/v1/contacts", data=b"x" * (1024 * 1024 + 10), headers=headers)
    assert resp.status in (400, 413)
    for path, status in (("/api/v1/contacts/abc", 400), ("/api/v1/contacts/0", 404), ("/api/v1/contacts/99999999999999999999", 404)):
        resp = await world.client.get(path, headers=headers)
        assert resp.status == status
    for params, field in (({"limit": "0"}, "limit"), ({"limit": "5000"}, "limit"), ({"offset": "-1"}, "offset"), ({"limit": "x"}, "limit")):
        resp = await world.client.get("/api/v1/contacts", params=params, headers=headers)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field
    resp = await world.client.get("/api/v1/leads", params={"status": "weird"}, headers=headers)
    assert resp.status == 400 and "must be one of" in (await resp.json())["error"]["message"]
    resp = await world.client.get("/api/v1/contacts", params={"phone": "garbage"}, headers=headers)
    assert resp.status == 422
    resp = await world.client.get("/api/v1/nowhere", headers=headers)
    assert resp.status == 404
    resp = await world.client.put("/api/v1/contacts", headers=headers)
    assert resp.status == 405


async def test_pagination(world: World) -> None:
    for i in range(7):
        await world.call(world.admin, "POST", "/api/v1/companies", {"name": f"Co {i}"})
    _, page = await world.call(world.admin, "GET", "/api/v1/companies", params={"limit": "3", "offset": "5"})
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 5
    assert [c["name"] for c in page["items"]] == ["Co 1", "Co 0"]


async def test_lead_conversion_keeps_history_and_moves_numbers(world: World) -> None:
    agent = world.agent_a1
    await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Sales", "is_default": True, "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}]})
    _, lead = await world.call(
        agent, "POST", "/api/v1/leads",
        {"title": "Website inquiry", "person_name": "Mia Park", "company_name": "Park GmbH", "phones": [{"number": "+1 212 555 0142"}], "emails": ["mia@park.io"], "product_interest": "Pro plan",
         "do_not_call": True, "call_consent": "refused", "tags": ["vip"]},
    )
    _, note = await world.call(agent, "POST", "/api/v1/activities", {"kind": "note", "body": "asked for a quote", "lead_id": lead["id"]})
    status, converted = await world.call(
        agent, "POST", f"/api/v1/leads/{lead['id']}/convert", {"create_contact": True, "create_company": True, "deal": {"title": "Pro plan for Park", "amount": "1200.00"}}
    )
    assert status == 200, converted
    assert converted["status"] == "converted" and converted["converted_at"]
    assert converted["phones"] == [] and converted["emails"] == []
    contact_id, company_id, deal_id = converted["converted_contact_id"], converted["converted_company_id"], converted["converted_deal_id"]
    _, contact = await world.call(agent, "GET", f"/api/v1/contacts/{contact_id}")
    assert (contact["first_name"], contact["last_name"], contact["company_id"]) == ("Mia", "Park", company_id)
    assert contact["phones"][0]["e164"] == "+12125550142" and contact["responsible_id"] == agent.id
    # Who asked not to be called stays uncalled as a contact (a dialer reads these flags).
    assert (contact["do_not_call"], contact["call_consent"], contact["tags"]) == (True, "refused", ["vip"])
    _, deal = await world.call(agent, "GET", f"/api/v1/deals/{deal_id}")
    assert (deal["lead_id"], deal["contact_id"], deal["company_id"], deal["amount"]) == (lead["id"], contact_id, company_id, "1200.00")
    _, found = await world.call(agent, "GET", "/api/v1/lookup", params={"phone": "212 555 0142"})
    assert (found["entity"], found["id"]) == ("contact", contact_id)
    # The single client profile: the lead's note and the deal are on the contact's timeline.
    _, profile = await world.call(agent, "GET", "/api/v1/timeline", params={"phone": "+12125550142"})
    assert profile["entity"] == "contact" and profile["id"] == contact_id
    kinds = {(item["type"], item["id"]) for item in profile["timeline"]}
    assert ("activity", note["id"]) in kinds and ("deal", deal_id) in kinds
    status, err = await world.call(agent, "POST", f"/api/v1/leads/{lead['id']}/convert", {})
    assert status == 422 and "already converted" in err["error"]["message"]
    status, err = await world.call(agent, "PATCH", f"/api/v1/leads/{lead['id']}", {"status": "converted"})
    assert status == 422 and err["error"]["field"] == "status"


async def test_openapi_document_is_valid_and_lists_every_route(world: World) -> None:
    from openapi_spec_validator import validate

    from callcenter.app import API_MODULES

    _, spec = await world.call(None, "GET", "/openapi.json")
    validate(spec)
    declared = {(r.path, r.method.lower()) for m in API_MODULES for r in m.api.routes}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert declared == documented
    # Record ids are integers; call ids ("1700000000.12") and extensions are strings.
    types = {p["name"]: p["schema"]["type"] for ops in spec["paths"].values() for op in ops.values()
             for p in op["parameters"] if p["in"] == "path"}
    assert types == {"id": "integer", "call_id": "string", "agent": "string", "e164": "string"}


async def test_agent_extensions_never_become_records(world: World) -> None:
    # "1002" is Alice's desk phone; in some regions those digits would pass as a short national number.
    status, err = await world.call(world.admin, "POST", "/api/v1/contacts", {"last_name": "Desk", "phones": [{"number": "1002"}]})
    assert status == 422 and err["error"]["field"] == "phones[0].number" and "extension" in err["error"]["message"]
