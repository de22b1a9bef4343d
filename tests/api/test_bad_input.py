"""Bad input from outside gets a 4xx naming the field, never a 500 (the outside probe found 73 of them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import World

BIG = 2**63


async def _raw(world: World, method: str, path: str, data: bytes, content_type: str | None = "application/json") -> tuple[int, Any]:
    headers = dict(world.admin.headers)
    if content_type:
        headers["Content-Type"] = content_type
    resp = await world.client.request(method, path, data=data, headers=headers)
    return resp.status, await resp.json()


async def test_json_nested_5000_deep_is_a_400(world: World) -> None:
    body = b'{"first_name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, err = await _raw(world, "POST", "/api/v1/contacts", body)
    assert status == 400 and err["error"]["field"]
    status, err = await _raw(world, "POST", "/api/v1/contacts", b"[" * 5000 + b"]" * 5000)
    assert status == 400 and err["error"]["field"] == "body"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/contacts", {"last_name": "Big", "responsible_id": BIG}, "responsible_id"),
        ("/api/v1/contacts", {"last_name": "Big", "company_id": -BIG - 1}, "company_id"),
        ("/api/v1/tasks", {"title": "Big", "contact_id": BIG}, "contact_id"),
        ("/api/v1/deals", {"title": "Big", "amount": 1, "pipeline_id": 10**30}, "pipeline_id"),
    ],
)
async def test_integers_beyond_64_bits_in_a_body_are_a_422(world: World, path: str, body: Any, field: str) -> None:
    status, err = await world.call(world.admin, "POST", path, body)
    assert status == 422 and err["error"]["field"] == field, err


async def test_integers_beyond_64_bits_anywhere_are_a_4xx_naming_the_field(world: World) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/activities", {"kind": "note", "contact_id": BIG})
    assert status == 422 and err["error"]["field"] == "contact_id", err
    for path in ("/api/v1/contacts/9223372036854775808", "/api/v1/tasks/18446744073709551616"):
        status, err = await world.call(world.admin, "GET", path)
        assert status == 404 and err["error"]["field"] == "id"
    for param in ("responsible_id", "limit", "offset"):
        status, err = await world.call(world.admin, "GET", f"/api/v1/contacts?{param}={BIG}")
        assert status == 400 and err["error"]["field"] == param


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_date_time_that_does_not_exist_in_utc_is_a_422(world: World, when: str) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "Old", "due_at": when})
    assert status == 422 and err["error"]["field"] == "due_at", err
    status, err = await world.call(world.admin, "POST", "/api/v1/tokens", {"user_id": world.admin.id, "name": "x", "expires_at": when})
    assert status == 422 and err["error"]["field"] == "expires_at", err


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users", {"name": "Eve\r\nAction: Originate", "role": "agent"}, "name"),
        ("/api/v1/users", {"name": "Eve\x00", "role": "agent"}, "name"),
        ("/api/v1/contacts", {"first_name": "Jo\u202eeoD"}, "first_name"),
        ("/api/v1/contacts", {"last_name": "Jo\u2066x\u2069"}, "last_name"),
        ("/api/v1/companies", {"name": "ACME\x1b[31m"}, "name"),
        ("/api/v1/leads", {"title": "Lead", "person_name": "A\nB"}, "person_name"),
    ],
)
async def test_control_and_bidi_characters_in_names_are_a_422(world: World, path: str, body: Any, field: str) -> None:
    status, err = await world.call(world.admin, "POST", path, body)
    assert status == 422 and err["error"]["field"] == field, err


async def test_line_breaks_stay_allowed_in_free_text(world: World) -> None:
    status, task = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "Call", "description": "line 1\nline 2"})
    assert status == 201 and task["description"] == "line 1\nline 2"


async def test_null_for_a_required_field_is_a_422_naming_it(world: World) -> None:
    status, contact = await world.call(world.admin, "POST", "/api/v1/contacts", {"last_name": "Null"})
    assert status == 201
    for field in ("first_name", "last_name"):
        status, err = await world.call(world.admin, "PATCH", f"/api/v1/contacts/{contact['id']}", {field: None})
        assert status == 422 and err["error"]["field"] == field, err
    status, task = await world.call(world.admin, "POST", "/api/v1/tasks", {"title": "T"})
    status, err = await world.call(world.admin, "PATCH", f"/api/v1/tasks/{task['id']}", {"title": None})
    assert status == 422 and err["error"]["field"] == "title", err


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_a_415(world: World, content_type: str | None) -> None:
    status, err = await _raw(world, "POST", "/api/v1/contacts", b'{"last_name": "Form"}', content_type)
    assert status == 415 and err["error"]["field"] == "Content-Type"


async def test_a_405_says_what_is_allowed(world: World) -> None:
    resp = await world.client.request("PUT", "/api/v1/contacts", headers=world.admin.headers)
    assert resp.status == 405 and "GET" in resp.headers["Allow"] and "POST" in resp.headers["Allow"]


async def test_the_openapi_document_has_every_status_the_api_answers(world: World) -> None:
    status, doc = await world.call(None, "GET", "/openapi.json")
    assert status == 200
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert {"429", "503"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= set(operation["responses"]), (method, path)
    assert doc["paths"]["/api/v1/auth/login"]["post"]["security"] == []


async def test_arabic_indic_digits_are_not_taken_as_a_us_number(world: World) -> None:
    status, err = await world.call(world.admin, "POST", "/api/v1/contacts", {"last_name": "Digits", "phones": [{"number": "٢١٢٥٥٥٠١٠١"}]})
    assert status == 422 and err["error"]["field"] == "phones[0].number" and "international" in err["error"]["message"]
    status, contact = await world.call(world.admin, "POST", "/api/v1/contacts", {"last_name": "Digits", "phones": [{"number": "+١ ٢١٢ ٥٥٥ ٠١٠١"}]})
    assert status == 201 and contact["phones"][0]["e164"] == "+12125550101"
