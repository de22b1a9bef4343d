"""Report schedules through the running service: CRUD with role checks, bad input named, run-now delivering the
file to a real SMTP server, and the automation's stage-change e-mail sent by the service's own mail loop."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.reports.definition import ReportDefinition
from callcenter.reports.saved import create_saved
from crm_core.access import Principal
from crm_core.models import Role
from tests.mail.smtp import SmtpServer, attachments, smtp  # noqa: F401  (fixture)

BASE = "/api/v1/reports/schedules"


def mail_env(server: SmtpServer) -> dict[str, str]:
    return {"CALLCENTER_MAIL__HOST": "127.0.0.1", "CALLCENTER_MAIL__PORT": str(server.port),
            "CALLCENTER_MAIL__SECURITY": "none", "CALLCENTER_MAIL__FROM_ADDRESS": "reports@example.com"}


async def saved_report(world: Any, actor: Any, name: str = "Contacts") -> int:
    definition = ReportDefinition.model_validate({"entity": "contacts", "columns": ["first_name", "last_name"],
                                                  "sort": {"field": "last_name"}})
    async with world.db.session() as s:
        role = Role.ADMIN if actor is world.admin else Role.AGENT
        principal = Principal(user_id=actor.id, role=role, team_id=actor.team_id)
        report = await create_saved(s, principal, name=name, definition=definition, team_id=None)
        return report.id


def body(report_id: int, **overrides: Any) -> dict[str, Any]:
    return {"saved_report_id": report_id, "name": "Morning", "cadence": "weekly", "weekday": "monday",
            "time": "08:00", "timezone": "Europe/Berlin", "format": "csv", "recipients": ["ops@example.com"]} | overrides


async def test_owner_and_admin_only(world: Any) -> None:
    report_id = await saved_report(world, world.agent_a1)
    status, created = await world.call(world.agent_a1, "POST", BASE, body(report_id))
    assert status == 201, created
    assert (created["owner_id"], created["time"], created["weekday"], created["has_webhook_secret"]) == (
        world.agent_a1.id, "08:00", "monday", False)
    assert created["next_run_local"].endswith("T08:00:00+01:00") or created["next_run_local"].endswith("T08:00:00+02:00")
    path = f"{BASE}/{created['id']}"
    for other in (world.agent_a2, world.sup_a, world.agent_b1):
        assert (await world.call(other, "GET", path))[0] == 404
        assert (await world.call(other, "PUT", path, body(report_id)))[0] == 404
        assert (await world.call(other, "POST", f"{path}/run-now"))[0] == 404
        assert (await world.call(other, "DELETE", path))[0] == 404
        _, page = await world.call(other, "GET", BASE)
        assert page["total"] == 0
    _, page = await world.call(world.admin, "GET", BASE)
    assert [item["id"] for item in page["items"]] == [created["id"]]
    status, changed = await world.call(world.admin, "PUT", path, body(report_id, cadence="daily", weekday=None,
                                                                      time="18:30", timezone="UTC"))
    assert status == 200 and (changed["cadence"], changed["time"]) == ("daily", "18:30")
    assert changed["next_run_local"].endswith("T18:30:00+00:00")
    assert (await world.call(world.agent_a1, "DELETE", path))[0] == 204
    assert (await world.call(world.agent_a1, "GET", path))[0] == 404
    assert (await world.call(None, "GET", BASE))[0] == 401


async def test_a_report_you_cannot_read_cannot_be_scheduled(world: Any) -> None:
    report_id = await saved_report(world, world.agent_b1)
    status, error = await world.call(world.agent_a1, "POST", BASE, body(report_id))
    assert status == 404 and error["error"]["field"] == "id"
    status, error = await world.call(world.agent_a1, "POST", BASE, body(2**40))
    assert status == 404


@pytest.mark.parametrize(
    ("overrides", "status", "field", "says"),
    [
        ({"recipients": ["not-an-address"]}, 422, "recipients[0]", "not an e-mail address"),
        ({"recipients": ["ops@example.com", "x@example.com\r\nBcc: all@example.com"]}, 422, "recipients[1]", "CR or LF"),
        ({"recipients": ["Ops <ops@example.com>"]}, 422, "recipients[0]", "bare e-mail address"),
        ({"recipients": ["ops@example.com", "ops@example.com"]}, 422, "recipients", "twice"),
        ({"recipients": []}, 422, "recipients", "webhook_url"),
        ({"cadence": "hourly"}, 422, "cadence", ""),
        ({"weekday": None}, 422, "weekday", "weekday"),
        ({"weekday": "someday"}, 422, "weekday", ""),
        ({"cadence": "daily"}, 422, "weekday", "no weekday"),
        ({"time": "8:00"}, 422, "time", "HH:MM"),
        ({"time": "25:00"}, 422, "time", "HH:MM"),
        ({"timezone": "Europe/Atlantis"}, 422, "timezone", "unknown time zone"),
        ({"format": "pdf"}, 422, "format", ""),
        ({"name": "Morning\r\nBcc: all@example.com"}, 422, "name", "CR or LF"),
        ({"webhook_url": "https://example.com/hook", "webhook_secret": "0123456789abcdef"}, 403, "webhook_url", "admin"),
        ({"surprise": 1}, 422, "surprise", ""),
    ],
)
async def test_bad_input_is_named(world: Any, overrides: dict[str, Any], status: int, field: str, says: str) -> None:
    report_id = await saved_report(world, world.agent_a1)
    got, error = await world.call(world.agent_a1, "POST", BASE, body(report_id, **overrides))
    assert got == status, error
    assert error["error"]["field"] == field
    assert says in error["error"]["message"]


async def test_admin_webhook_needs_a_secret(world: Any) -> None:
    report_id = await saved_report(world, world.admin)
    status, error = await world.call(world.admin, "POST", BASE, body(report_id, webhook_url="https://example.com/h"))
    assert status == 422 and error["error"]["field"] == "webhook_secret"
    status, created = await world.call(world.admin, "POST", BASE, body(
        report_id, recipients=[], webhook_url="https://example.com/h", webhook_secret="0123456789abcdef"))
    assert status == 201 and created["has_webhook_secret"] is True and "webhook_secret" not in created


async def test_run_now_mails_the_report_and_shows_its_status(make_world: Any, smtp: SmtpServer) -> None:
    world = await make_world(**mail_env(smtp))
    for first, last in (("Ann", "Zed"), ("Bob", "Young")):
        status, _ = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"first_name": first, "last_name": last})
        assert status == 201
    await world.call(world.agent_b1, "POST", "/api/v1/contacts", {"first_name": "Cid", "last_name": "Xu"})
    report_id = await saved_report(world, world.agent_a1, name="My contacts")
    _, created = await world.call(world.agent_a1, "POST", BASE, body(report_id))
    path = f"{BASE}/{created['id']}"
    status, ran = await world.call(world.agent_a1, "POST", f"{path}/run-now")
    assert status == 200 and ran["next_run_at"] <= created["next_run_at"]
    await smtp.wait_for(1)
    [(envelope, message)] = smtp.inbox.messages
    assert envelope == ["ops@example.com"] and message["Subject"].startswith("Report: My contacts (")
    [(filename, content_type, data)] = attachments(message)
    assert filename.startswith("My-contacts-") and filename.endswith(".csv") and content_type == "text/csv"
    assert data.decode("utf-8-sig").splitlines() == ["First name,Last name", "Bob,Young", "Ann,Zed"]
    _, after = await world.call(world.agent_a1, "GET", path)
    assert (after["last_status"], after["last_row_count"]) == ("queued", 2)
    assert after["next_run_at"] == created["next_run_at"]  # the usual slot is still next
    _, deliveries = await world.call(world.agent_a1, "GET", f"{path}/deliveries")
    [delivery] = deliveries["items"]
    assert delivery["to_addrs"] == ["ops@example.com"] and delivery["attachment_name"] == filename
    assert delivery["status"] in ("pending", "delivered")  # the sender records it just after the server's 250
    assert (await world.call(world.agent_a2, "GET", f"{path}/deliveries"))[0] == 404


async def test_stage_change_email_through_the_service(make_world: Any, smtp: SmtpServer, tmp_path: Any) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text(
        '[[automation.rules]]\nname = "thanks"\nwhen = "deal.stage_changed"\nthen = "email"\nif_status = ["won"]\n'
        'subject = "Thank you, $contact_first_name"\nbody = "Dear $contact_name, thank you for $deal_title."\n'
    )
    world = await make_world(config, **mail_env(smtp))
    _, contact = await world.call(world.admin, "POST", "/api/v1/contacts",
                                  {"first_name": "Ann", "last_name": "Zed", "emails": ["ann@example.com"]})
    _, pipeline = await world.call(world.admin, "POST", "/api/v1/pipelines", {
        "name": "P", "is_default": True, "stages": [{"name": "new"}, {"name": "won", "kind": "won"}]})
    _, deal = await world.call(world.admin, "POST", "/api/v1/deals", {"title": "Fleet", "contact_id": contact["id"]})
    status, _ = await world.call(world.admin, "POST", f"/api/v1/deals/{deal['id']}/stage",
                                 {"stage_id": pipeline["stages"][1]["id"]})
    assert status == 200
    await smtp.wait_for(1)
    [(envelope, message)] = smtp.inbox.messages
    assert envelope == ["ann@example.com"] and message["Subject"] == "Thank you, Ann"
    assert message.get_body(("plain",)).get_content().strip() == "Dear Ann Zed, thank you for Fleet."  # type: ignore[union-attr]
