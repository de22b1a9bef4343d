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


# Edge values across the API, each of which once answered 500 or is the same kind as one that did (a NUL reaching
# PostgreSQL, a 64-bit value in a 32-bit column, a report bound at the edge of the calendar): never a 5xx.
EDGE_CASES = [
    ("GET", "/api/v1/reports/team-figures?from=0001-01-01T00:00:00%2B14:00", None),
    ("GET", "/api/v1/reports/team-figures?from=9999-12-31T23:59:59-14:00&to=9999-12-31", None),
    ("GET", "/api/v1/reports/team-figures?from=0001-01-01&to=0001-01-02", None),
    ("GET", "/api/v1/reports/team-figures?from=9999-12-30&to=9999-12-31", None),
    ("GET", "/api/v1/audit?entity_id=99999999999999999999", None),
    ("GET", "/api/v1/tasks?team_id=9223372036854775807", None),
    ("GET", "/api/v1/routing/decisions?limit=99999999999999999999999", None),
    ("POST", "/api/v1/tasks", {"title": "x", "due_at": "9999-12-31T23:59:59Z"}),
    ("POST", "/api/v1/tasks", {"title": "x", "due_at": "0001-01-01T00:00:00Z"}),
    ("POST", "/api/v1/calls/1.1/disposition", {"disposition": "callback", "callback_at": "9999-12-31T23:59:59+14:00"}),
    ("POST", "/api/v1/activities", {"kind": "note", "started_at": "0001-01-01T00:00:00Z", "ended_at": "9999-12-31T23:59:59Z"}),
    ("POST", "/api/v1/deals", {"title": "x", "amount": "1e400"}),
    ("POST", "/api/v1/deals", {"title": "x", "amount": 1e308}),
    ("POST", "/api/v1/deals", {"title": "x", "amount": "NaN"}),
    ("POST", "/api/v1/deals", {"title": "x", "amount": "99999999999999999999999999999999999"}),
    ("POST", "/api/v1/users", {"name": "x", "role": "agent", "extension": "1\r\n2"}),
    ("POST", "/api/v1/users", {"name": "x", "role": "agent", "email": "a\u0000@b.c"}),
    ("POST", "/api/v1/teams", {"name": "T\u202e", "timezone": "UTC"}),
    ("PATCH", "/api/v1/teams/1", {"callback_sla_s": 1e308}),
    ("PATCH", "/api/v1/teams/1", {"name": None}),
    ("PATCH", "/api/v1/users/1", {"name": None}),
    ("PATCH", "/api/v1/users/1", {"role": None}),
    ("PUT", "/api/v1/teams/1/recording-retention", {"retention_days": 9223372036854775807}),
    ("POST", "/api/v1/custom-fields", {"entity": "contact", "key": "k", "label": "l", "field_type": "number", "position": 9223372036854775807}),
    ("POST", "/api/v1/contacts", {"last_name": "x", "custom": {"k": 1e308}}),
    ("POST", "/api/v1/pipelines", {"name": "P", "stages": [{"name": "a", "position": -9223372036854775808}]}),
    ("POST", "/api/v1/tokens", {"user_id": 1, "name": "n", "expires_at": "0001-01-01T00:00:00Z"}),
    ("POST", "/api/v1/wallboard/tokens", {"name": "n", "team_ids": [9223372036854775807]}),
    ("GET", "/api/v1/timeline?phone=%00", None),
    ("GET", "/api/v1/screen-pop?phone=%E2%80%AE123", None),
    ("POST", "/api/v1/calls/click-to-call", {"phone": "+1 212 555 0101\r\nAction: Hangup"}),
    ("POST", "/api/v1/recordings/erase-by-number", {"phone": "+12125550101", "reason": "x" * 5000}),
    ("GET", "/api/v1/transcripts/search?q=%22%22%22", None),
    ("GET", "/api/v1/transcripts/search?q=a%00b", None),
    ("GET", "/api/v1/contacts?q=%00", None),
    ("GET", "/api/v1/contacts?email=%00", None),
    ("DELETE", "/api/v1/contacts/1/phones/%00", None),
    ("GET", "/api/v1/calls/%00", None),
    ("GET", "/api/v1/calls/%00/recordings", None),
    ("GET", "/api/v1/calls/%E2%80%AE/transcript", None),
    ("POST", "/api/v1/agents/%00/pause", {"reason": "x"}),
    ("GET", "/api/v1/routing/decisions?call_id=%00", None),
    ("GET", "/api/v1/audit?entity=%00", None),
    ("GET", "/api/v1/tasks?assignee_id=-1", None),
    ("POST", "/api/v1/tasks", {"title": "x", "priority": 9223372036854775807}),
    ("POST", "/api/v1/leads", {"title": "x", "source": "\u0000"}),
    ("POST", "/api/v1/contacts", {"last_name": "x", "emails": ["a@b.c\u0000"]}),
    ("POST", "/api/v1/contacts", {"last_name": "x", "phones": [{"number": "+1 212 555 0101\u0000"}]}),
    ("POST", "/api/v1/contacts", {"last_name": "x", "custom": {"\u0000": 1}}),
    ("PATCH", "/api/v1/contacts/1", {"custom": {"k": [[[[1]]]]}}),
    ("POST", "/api/v1/deals", {"title": "x", "amount": 1e20}),
    ("POST", "/api/v1/deals", {"title": "x", "currency": "\u0000\u0000\u0000"}),
]


async def test_edge_values_anywhere_are_never_a_server_error(world: World) -> None:
    answers = [(method, path, *(await world.call(world.admin, method, path, body))) for method, path, body in EDGE_CASES]
    assert [a for a in answers if a[2] >= 500] == []
    by_path = {(m, p): (status, out) for m, p, status, out in answers}
    status, out = by_path[("GET", "/api/v1/contacts?q=%00")]
    assert status == 400 and out["error"]["field"] == "q"
    status, out = by_path[("GET", "/api/v1/reports/team-figures?from=0001-01-01T00:00:00%2B14:00")]
    assert status == 400 and out["error"]["field"] == "from"
    status, out = by_path[("GET", "/api/v1/calls/%00")]
    assert status == 404 and out["error"]["field"] == "call_id"
