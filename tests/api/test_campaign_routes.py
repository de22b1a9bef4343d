"""Dialer campaigns over HTTP (both databases): who sees and manages which campaign, the start / pause / resume / stop
state machine, the dial list's verdicts (a do-not-call entry added between two reads refuses the number on the
second), the do-not-call API and bad input."""

from __future__ import annotations

from typing import Any

from callcenter.dialer import dnc_store
from callcenter.dialer.campaign_store import _flags
from crm_core.models import CallConsent, Contact, Phone, Role
from tests.api.conftest import Actor, World
from tests.api.test_campaign_manager_role import add_user, contacts, log_in

BASE = "/api/v1/campaigns"
ALL_DAY = [{"start": "00:00", "end": "24:00"}]
WINDOWS = {day: ALL_DAY for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
REPORT = {"entity": "contacts", "columns": ["last_name"], "sort": {"field": "last_name"}}
CALLER_ID = "+442079460000"


async def managers(world: World) -> tuple[Actor, Actor]:
    cm_a = await add_user(world, Role.CAMPAIGN_MANAGER, world.agent_a1.team_id, "Cora Campaigns")
    cm_b = await add_user(world, Role.CAMPAIGN_MANAGER, world.agent_b1.team_id, "Bo Campaigns")
    return cm_a, cm_b


async def saved_report(world: World, actor: Actor, definition: dict[str, Any] | None = None) -> int:
    status, report = await world.call(actor, "POST", "/api/v1/reports/saved",
                                      {"name": "Overdue", "definition": definition or REPORT, "team_id": actor.team_id})
    assert status == 201, report
    return report["id"]


def campaign_body(report_id: int, team_id: int | None, **over: Any) -> dict[str, Any]:
    # Consent "not_refused": an unknown consent is callable (a service call), a refused one never.
    return {"name": "Overdue invoices", "saved_report_id": report_id, "team_id": team_id, "caller_id": CALLER_ID,
            "mode": "progressive", "windows": WINDOWS, "law": {"consent": "not_refused"}, **over}


async def campaign(world: World, actor: Actor, report_id: int, **over: Any) -> dict[str, Any]:
    status, body = await world.call(actor, "POST", BASE, campaign_body(report_id, actor.team_id, **over))
    assert status == 201, body
    return body


async def read_list(world: World, actor: Actor, cid: int, **params: Any) -> tuple[dict[int, dict[str, Any]], Any]:
    """Every row of the dial list, page by page (``limit``), keyed by record id; and the last page's figures."""
    rows: dict[int, dict[str, Any]] = {}
    cursor, pages = None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        status, page = await world.call(actor, "GET", f"{BASE}/{cid}/list", params=query)
        assert status == 200, page
        for row in page["rows"]:
            assert row["id"] not in rows  # the keyset cursor serves each row once
            rows[row["id"]] = row
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages


# -- scoping --------------------------------------------------------------------------------------------------------


async def test_who_sees_and_manages_which_campaign(world: World) -> None:
    await contacts(world)
    cm_a, cm_b = await managers(world)
    report_a = await saved_report(world, cm_a)
    made = await campaign(world, cm_a, report_a)
    cid = made["id"]
    assert (made["state"], made["version"], made["created_by_id"]) == ("draft", 1, cm_a.id)
    assert made["allowed_actions"] == ["start", "stop"]
    assert made["definition"]["law"]["ring_s"] == 25.0  # defaults written out
    # An agent: campaigns are not theirs at all.
    for method, path in (("GET", BASE), ("GET", f"{BASE}/{cid}"), ("GET", f"{BASE}/{cid}/list"),
                         ("POST", f"{BASE}/{cid}/pause"), ("GET", "/api/v1/dnc")):
        status, err = await world.call(world.agent_a1, method, path)
        assert status == 403, (method, path, err)
    status, err = await world.call(world.agent_a1, "POST", BASE, campaign_body(report_a, cm_a.team_id))
    assert status == 403
    # Another team's campaign manager: not found, not listed, no list, no do-not-call list.
    for path in (f"{BASE}/{cid}", f"{BASE}/{cid}/list", f"{BASE}/{cid}/list/figures"):
        status, err = await world.call(cm_b, "GET", path)
        assert status == 404 and err["error"]["field"] == "id", path
    status, listed = await world.call(cm_b, "GET", BASE)
    assert status == 200 and listed["total"] == 0
    status, err = await world.call(cm_b, "POST", f"{BASE}/{cid}/stop")
    assert status == 404
    status, err = await world.call(cm_b, "GET", "/api/v1/dnc", params={"campaign_id": cid})
    assert status == 404 and err["error"]["field"] == "campaign_id"
    status, err = await world.call(cm_b, "POST", "/api/v1/dnc", {"e164": "+442079460101", "campaign_id": cid})
    assert status == 404 and err["error"]["field"] == "campaign_id"
    # ... nor run one for team A, nor from team A's report.
    status, err = await world.call(cm_b, "POST", BASE, campaign_body(report_a, cm_a.team_id))
    assert status == 403 and err["error"]["field"] == "team_id"
    status, err = await world.call(cm_b, "POST", BASE, campaign_body(report_a, cm_b.team_id))
    assert status == 400 and err["error"]["field"] == "saved_report_id"
    # The team's supervisor reads it, and may pause / stop it but not create, edit or start one.
    status, listed = await world.call(world.sup_a, "GET", BASE)
    assert status == 200 and [c["id"] for c in listed["items"]] == [cid]
    status, err = await world.call(world.sup_a, "POST", BASE, campaign_body(report_a, cm_a.team_id))
    assert status == 403
    status, err = await world.call(world.sup_a, "PATCH", f"{BASE}/{cid}", {"version": 1, "changes": {"priority": 9}})
    assert status == 403
    status, err = await world.call(world.sup_a, "POST", f"{BASE}/{cid}/start")
    assert status == 403
    # An admin sees every campaign and may run one for any team from any report.
    status, listed = await world.call(world.admin, "GET", BASE)
    assert status == 200 and listed["total"] == 1
    status, other = await world.call(world.admin, "POST", BASE, campaign_body(report_a, cm_b.team_id))
    assert status == 201 and other["team_id"] == cm_b.team_id
    status, listed = await world.call(cm_b, "GET", BASE)
    assert [c["id"] for c in listed["items"]] == [other["id"]]


# -- the state machine -------------------------------------------------------------------------------------------------


async def test_start_pause_resume_stop(world: World) -> None:
    await contacts(world)
    cm_a, _ = await managers(world)
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a)))["id"]
    # Nobody of team A is logged in: nobody could take the calls.
    status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/start")
    assert status == 409 and err["error"]["field"] == "team_id" and "logged in" in err["error"]["message"]
    log_in(world, "1004")  # team B's agent does not count
    assert (await world.call(cm_a, "POST", f"{BASE}/{cid}/start"))[0] == 409
    log_in(world, "1002")
    status, body = await world.call(cm_a, "POST", f"{BASE}/{cid}/start")
    assert status == 200 and (body["state"], body["version"], body["allowed_actions"]) == ("running", 2, ["pause", "stop"])
    assert body["state_reason"] == f"start by user {cm_a.id}"
    status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/start")
    assert status == 409 and err["error"]["state"] == "running" and "running" in err["error"]["message"]
    assert err["error"]["allowed"] == ["pause", "stop"]
    status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/resume")
    assert status == 409 and err["error"]["field"] == "state"
    # A running campaign is not edited: pause first.
    status, err = await world.call(cm_a, "PATCH", f"{BASE}/{cid}", {"version": 2, "changes": {"priority": 9}})
    assert status == 409 and err["error"]["field"] == "state" and "pause it first" in err["error"]["message"]
    status, body = await world.call(world.sup_a, "POST", f"{BASE}/{cid}/pause")  # the floor's brake
    assert status == 200 and body["state"] == "paused"
    status, err = await world.call(world.sup_a, "POST", f"{BASE}/{cid}/resume")
    assert status == 403
    status, body = await world.call(cm_a, "PATCH", f"{BASE}/{cid}", {"version": 3, "changes": {"priority": 9}})
    assert status == 200 and (body["priority"], body["definition"]["priority"], body["version"]) == (9, 9, 4)
    status, err = await world.call(cm_a, "PATCH", f"{BASE}/{cid}", {"version": 3, "changes": {"priority": 8}})
    assert status == 409 and err["error"]["field"] == "version" and err["error"]["current_version"] == 4
    status, body = await world.call(cm_a, "POST", f"{BASE}/{cid}/resume")
    assert status == 200 and body["state"] == "running"
    status, body = await world.call(world.sup_a, "POST", f"{BASE}/{cid}/stop")
    assert status == 200 and (body["state"], body["allowed_actions"]) == ("stopped", [])
    for action in ("start", "pause", "resume", "stop"):
        status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/{action}")
        assert status == 409 and "stopped campaign is final" in err["error"]["message"], action
    status, got = await world.call(world.admin, "GET", f"{BASE}/{cid}")
    assert status == 200 and got["state"] == "stopped" and got["version"] == 6
    # Every change is in the audit log: who, and the value before and after.
    status, audit = await world.call(world.admin, "GET", "/api/v1/audit",
                                     params={"entity": "dialer_campaigns", "entity_id": str(cid), "limit": 50})
    assert status == 200
    updates = [(e["actor_id"], e["changes"].get("state"), e["changes"].get("priority"))
               for e in reversed(audit["items"]) if e["action"] == "update"]
    assert updates == [(cm_a.id, ["draft", "running"], None), (world.sup_a.id, ["running", "paused"], None),
                       (cm_a.id, None, [5, 9]), (cm_a.id, ["paused", "running"], None),
                       (world.sup_a.id, ["running", "stopped"], None)]


async def test_a_report_that_matches_nothing_is_not_started(world: World) -> None:
    await contacts(world)
    cm_a, _ = await managers(world)
    nothing = {**REPORT, "filters": [{"field": "last_name", "op": "eq", "value": "Nobody"}]}
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a, nothing)))["id"]
    log_in(world, "1002")
    status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/start")
    assert status == 409 and err["error"]["field"] == "saved_report_id" and "matches no record" in err["error"]["message"]
    status, got = await world.call(cm_a, "GET", f"{BASE}/{cid}")
    assert got["state"] == "draft"
    status, page = await world.call(cm_a, "GET", f"{BASE}/{cid}/list")
    assert status == 200 and page["rows"] == [] and page["next_cursor"] is None


# -- the dial list ---------------------------------------------------------------------------------------------------


async def test_dial_list_verdicts_follow_the_lists_between_two_reads(world: World) -> None:
    c = await contacts(world)
    cm_a, _ = await managers(world)
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a)))["id"]

    def verdicts(rows: dict[int, dict[str, Any]]) -> dict[str, str | None]:
        return {key: rows[rid]["reason"] for key, rid in c.items() if rid in rows}

    first, pages = await read_list(world, cm_a, cid, limit=2)
    assert pages == 3  # six rows of team A (and its pool), two a page
    # The creator's scope: team B's contact is not on team A's list.
    assert verdicts(first) == {"ok": None, "unknown": None, "refused": "no_consent", "flagged": "dnc_record",
                               "bad": "invalid_number", "none": "invalid_number"}
    assert first[c["ok"]]["e164"] == "+442079460101" and first[c["ok"]]["values"] == {"last_name": "C-ok"}
    assert first[c["ok"]]["permitted"] and first[c["ok"]]["until_s"] is not None
    assert first[c["none"]]["e164"] is None and "no phone" in first[c["none"]]["detail"]
    status, figures = await world.call(cm_a, "GET", f"{BASE}/{cid}/list/figures")
    assert status == 200, figures
    assert (figures["rows"], figures["permitted"]) == (6, 2)
    assert figures["refused"] == {"no_consent": 1, "dnc_record": 1, "invalid_number": 2}

    # The campaign's own list, then the system-wide one: the next read refuses the numbers.
    status, entry = await world.call(cm_a, "POST", "/api/v1/dnc",
                                     {"e164": "+44 20 7946 0101", "campaign_id": cid, "reason": "asked on the phone"})
    assert status == 201 and (entry["e164"], entry["campaign_id"], entry["added_by_id"]) == ("+442079460101", cid, cm_a.id)
    status, err = await world.call(cm_a, "POST", "/api/v1/dnc", {"e164": "+442079460102"})
    assert status == 403 and err["error"]["field"] == "campaign_id"  # system-wide: admins only
    status, _ = await world.call(world.admin, "POST", "/api/v1/dnc", {"e164": "+442079460102"})
    assert status == 201
    second, _ = await read_list(world, cm_a, cid, limit=1000)
    assert verdicts(second) == {**verdicts(first), "ok": "dnc_campaign", "unknown": "dnc_system"}
    status, figures = await world.call(world.sup_a, "GET", f"{BASE}/{cid}/list/figures")
    assert figures["permitted"] == 0 and figures["refused"]["dnc_campaign"] == 1

    # Reading and removing entries.
    status, listed = await world.call(world.sup_a, "GET", "/api/v1/dnc", params={"campaign_id": cid})
    assert status == 200 and [e["e164"] for e in listed["items"]] == ["+442079460101"]
    status, listed = await world.call(cm_a, "GET", "/api/v1/dnc", params={"e164": "+442079460102"})
    assert status == 200 and [e["campaign_id"] for e in listed["items"]] == [None]
    status, _ = await world.call(world.sup_a, "DELETE", "/api/v1/dnc", params={"e164": "+442079460101", "campaign_id": cid})
    assert status == 403  # a supervisor reads the campaign's list, its managers change it
    status, _ = await world.call(cm_a, "DELETE", "/api/v1/dnc", params={"e164": "+442079460101", "campaign_id": cid})
    assert status == 204
    status, err = await world.call(cm_a, "DELETE", "/api/v1/dnc", params={"e164": "+442079460101", "campaign_id": cid})
    assert status == 404 and err["error"]["field"] == "e164"
    third, _ = await read_list(world, cm_a, cid)
    assert third[c["ok"]]["permitted"]


async def test_the_lists_batched_flags_are_number_flags(world: World) -> None:
    """The list reads the lists and flags a page at a time: the same answer as the check before each dial."""
    c = await contacts(world)
    cm_a, _ = await managers(world)
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a)))["id"]
    async with world.db.session() as s:
        await dnc_store.add(s, "+442079460103", campaign_id=cid)
        await dnc_store.add(s, "+442079460199")
        # A second record on a number: its refusal wins for every record with that number.
        s.add(Contact(last_name="Twin", call_consent=CallConsent.REFUSED, phones=[Phone(e164="+442079460101",
                                                                                         extension="9", raw="x")]))
    wanted = [("+442079460101", c["ok"], None), ("+442079460102", c["unknown"], None),
              ("+442079460103", c["refused"], None), ("+442079460104", None, None), ("+442079460199", None, None),
              ("+442079460198", None, None), ("+442079460102", None, None)]
    async with world.db.session() as s:
        batched = await _flags(s, cid, wanted)
        one_by_one = [await dnc_store.number_flags(s, e, cid, contact_id=ct, lead_id=ld) for e, ct, ld in wanted]
    assert batched == one_by_one
    assert batched[0].consent is CallConsent.REFUSED and batched[2].on_campaign_dnc and batched[4].on_system_dnc


# -- bad input -------------------------------------------------------------------------------------------------------


async def test_bad_input_is_refused_naming_the_field(world: World) -> None:
    await contacts(world)
    cm_a, cm_b = await managers(world)
    report_a = await saved_report(world, cm_a)
    report_b = await saved_report(world, cm_b)
    team = cm_a.team_id
    cases = [
        ({**campaign_body(report_a, team), "colour": "red"}, 400, "colour"),
        ({**campaign_body(report_a, team), "law": {"ring_s": 10.0}}, 400, "law.ring_s"),
        ({**campaign_body(report_a, team), "windows": {"mon": [{"start": "18:00", "end": "09:00"}]}}, 400,
         "windows.mon[0].end"),
        ({**campaign_body(report_a, team), "caller_id": "anonymous"}, 400, "caller_id"),
        (campaign_body(report_b, team), 400, "saved_report_id"),  # a saved report of another team
        (campaign_body(2**63, team), 422, "saved_report_id"),  # beyond 64 bits
        (campaign_body(2**63 - 1, team), 400, "saved_report_id"),
        (campaign_body(report_a, 2**63 - 1), 400, "team_id"),
        (campaign_body(report_a, team, mode="robocall"), 400, "mode"),
    ]
    for body, status_wanted, field in cases:
        status, err = await world.call(cm_a, "POST", BASE, body)
        assert (status, err["error"]["field"]) == (status_wanted, field), (body, err)
    status, err = await world.call(cm_a, "POST", BASE, [campaign_body(report_a, team)])
    assert status == 400 and err["error"]["field"] == "body"
    activities = await saved_report(world, cm_a, {"entity": "activities"})
    status, err = await world.call(cm_a, "POST", BASE, campaign_body(activities, team))
    assert status == 400 and err["error"]["field"] == "saved_report_id" and "contacts" in err["error"]["message"]

    cid = (await campaign(world, cm_a, report_a))["id"]
    for path in (f"{BASE}/{2**63}", f"{BASE}/{2**64}/list", f"{BASE}/99999999/start"):
        method = "POST" if path.endswith("start") else "GET"
        status, err = await world.call(cm_a, method, path)
        assert status == 404 and err["error"]["field"] == "id", path
    patches = [
        ({"version": 1, "changes": {"colour": "red"}}, 400, "changes.colour"),
        ({"version": 1, "changes": {"law": {"abandon": {"cap_pct": 5.0}}}}, 400, "changes.law.abandon.cap_pct"),
        ({"version": 1, "changes": {"saved_report_id": report_b}}, 400, "changes.saved_report_id"),
        ({"version": 1, "changes": {"team_id": cm_b.team_id}}, 403, "changes.team_id"),
        ({"version": 1, "changes": {}}, 422, "changes"),
        ({"version": 1, "changes": {"priority": 2}, "force": True}, 422, "force"),
        ({"version": 2**63, "changes": {"priority": 2}}, 422, "version"),
    ]
    for body, status_wanted, field in patches:
        status, err = await world.call(cm_a, "PATCH", f"{BASE}/{cid}", body)
        assert (status, err["error"]["field"]) == (status_wanted, field), (body, err)
    status, err = await world.call(cm_a, "GET", f"{BASE}/{cid}/list", params={"cursor": "bm90LWEtY3Vyc29y.eA"})
    assert status == 400 and err["error"]["field"] == "cursor"
    status, err = await world.call(cm_a, "GET", f"{BASE}/{cid}/list", params={"limit": "1001"})
    assert status == 400 and err["error"]["field"] == "limit"
    for number in ("12345", "+44 20 7946 0101 ext. 12", "+1 555", "not a number"):
        status, err = await world.call(cm_a, "POST", "/api/v1/dnc", {"e164": number, "campaign_id": cid})
        assert status == 400 and err["error"]["field"] == "e164", (number, err)
    status, err = await world.call(cm_a, "POST", "/api/v1/dnc", {"e164": "+442079460101", "campaign_id": 2**63})
    assert status == 422 and err["error"]["field"] == "campaign_id"
    status, err = await world.call(cm_a, "DELETE", "/api/v1/dnc", params={"campaign_id": str(cid)})
    assert status == 400 and err["error"]["field"] == "e164"
    status, err = await world.call(cm_a, "GET", "/api/v1/dnc", params={"campaign_id": str(2**63)})
    assert status == 400 and err["error"]["field"] == "campaign_id"


async def test_a_campaign_whose_report_is_unshared_has_no_list(world: World) -> None:
    """The list is its creator's view: when they may no longer read the report, the campaign says so (409)."""
    await contacts(world)
    cm_a, _ = await managers(world)
    report = await saved_report(world, world.sup_a)  # the supervisor's, shared with team A
    cid = (await campaign(world, cm_a, report))["id"]
    status, _ = await world.call(world.sup_a, "PUT", f"/api/v1/reports/saved/{report}",
                                 {"name": "mine now", "definition": REPORT, "team_id": None})
    assert status == 200
    status, err = await world.call(cm_a, "GET", f"{BASE}/{cid}/list")
    assert status == 409 and err["error"]["field"] == "saved_report_id"
    log_in(world, "1002")
    status, err = await world.call(cm_a, "POST", f"{BASE}/{cid}/start")
    assert status == 409 and err["error"]["field"] == "saved_report_id"
