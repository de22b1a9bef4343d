"""Scheduled reports end to end on real databases and a real SMTP server: the owner's rows (as the owner may see
them at run time) arrive attached as XLSX or CSV; two schedulers racing run a slot once; a deactivated owner's
schedule stops; a webhook target gets the file, signed."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree

import aiohttp
from sqlalchemy import select

from callcenter.automation.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, verify
from callcenter.mail.sender import MailSender
from callcenter.mail.settings import MailSettings
from callcenter.reports.definition import ReportDefinition
from callcenter.reports.saved import create_saved
from callcenter.reports.schedule_store import ScheduleSpec, create_schedule
from callcenter.reports.scheduler import ReportScheduler, webhook_secret_lookup
from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.mail_models import MailMessage, ReportSchedule
from crm_core.models import Entity, Role, User, WebhookDelivery
from crm_core.report_models import SavedReport
from crm_core.records import PhoneRules
from crm_core.schemas import ContactIn, TeamIn, UserIn
from crm_core.users import create_team, create_user
from tests.automation.receiver import SECRET, Receiver, receiver  # noqa: F401  (fixture)
from tests.mail.smtp import SmtpServer, attachments, smtp  # noqa: F401  (fixture)

UTC = timezone.utc
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's cells as text (shared, inline and number cells), read with the standard library."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared: list[str] = []
    if "xl/sharedStrings.xml" in book.namelist():
        root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        shared = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in root.findall("m:si", NS)]
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    out = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        cells = []
        for cell in row.findall("m:c", NS):
            kind, value = cell.get("t"), cell.find("m:v", NS)
            if kind == "s":
                cells.append(shared[int(value.text)])  # type: ignore[union-attr, arg-type]
            elif kind == "inlineStr":
                cells.append("".join(t.text or "" for t in cell.iter(f"{{{NS['m']}}}t")))
            else:
                cells.append(value.text if value is not None else "")  # type: ignore[arg-type]
        out.append(cells)
    return out


async def seed(db: Database) -> dict[str, Any]:
    """Team A: Alice (agent) owns Ann Zed and Bob Young; Bea (team B) owns Cid Xu. Alice saves a contacts report."""
    system = Principal.system()
    async with db.session() as s:
        team_a = await create_team(s, system, TeamIn(name="A"))
        team_b = await create_team(s, system, TeamIn(name="B"))
        alice = await create_user(s, system, UserIn(name="Alice", role=Role.AGENT, team_id=team_a.id))
        bea = await create_user(s, system, UserIn(name="Bea", role=Role.AGENT, team_id=team_b.id))
        admin = await create_user(s, system, UserIn(name="Ada", role=Role.ADMIN))
        rules = PhoneRules.build(region="US", own_numbers=[])
        for first, last, owner in (("Ann", "Zed", alice), ("Bob", "Young", alice), ("Cid", "Xu", bea)):
            await records.create(s, system, rules, Entity.CONTACT,
                                 ContactIn(first_name=first, last_name=last, responsible_id=owner.id))
        as_alice = Principal(user_id=alice.id, role=Role.AGENT, team_id=team_a.id)
        definition = ReportDefinition.model_validate(
            {"entity": "contacts", "columns": ["first_name", "last_name"], "sort": {"field": "last_name"}}
        )
        report = await create_saved(s, as_alice, name="My contacts", definition=definition, team_id=None)
    return {"alice": alice, "as_alice": as_alice, "admin": admin, "report_id": report.id}


async def schedule(db: Database, principal: Principal, report_id: int, *, now: datetime, **spec: Any) -> int:
    values: dict[str, Any] = {"saved_report_id": report_id, "name": "daily", "cadence": "daily", "time": "09:00",
                              "timezone": "Europe/Berlin", "format": "xlsx", "recipients": ["ops@example.com"]}
    async with db.session() as s:
        row = await create_schedule(s, principal, ScheduleSpec(**(values | spec)), now=now)
        return row.id


def mail_settings(server: SmtpServer) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=server.port, security="none", from_address="reports@example.com")


async def test_scheduled_xlsx_arrives_with_the_owners_rows(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    created = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    schedule_id = await schedule(db, world["as_alice"], world["report_id"], now=created)
    first_slot = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 CET
    scheduler = ReportScheduler(db=db)
    assert await scheduler.run_due(now=first_slot - timedelta(seconds=1)) == 0  # not due yet
    assert await scheduler.run_due(now=first_slot + timedelta(seconds=5)) == 1
    assert await scheduler.run_due(now=first_slot + timedelta(seconds=6)) == 0  # that slot is done
    assert await MailSender(db=db, settings=mail_settings(smtp)).send_due() == 1
    [(envelope, message)] = smtp.inbox.messages
    assert envelope == ["ops@example.com"]
    assert message["Subject"] == "Report: My contacts (2026-03-28)"
    [(filename, content_type, data)] = attachments(message)
    assert (filename, content_type) == ("My-contacts-2026-03-28.xlsx", XLSX)
    # Alice's own contacts only (not Bea's Cid Xu), sorted by last name.
    assert xlsx_rows(data) == [["First name", "Last name"], ["Bob", "Young"], ["Ann", "Zed"]]
    async with db.session() as s:
        row = await s.get(ReportSchedule, schedule_id)
    assert row is not None
    assert (row.last_status, row.last_row_count, row.last_error) == ("queued", 2, None)
    assert row.next_run_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST: DST began in between


async def test_csv_is_evaluated_with_the_owners_scope_at_run_time(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    await schedule(db, world["as_alice"], world["report_id"], now=now, format="csv", cadence="weekly", weekday="monday",
                   time="15:00", timezone="UTC")
    # Alice becomes an admin after the schedule was made: the run sees what she may see then (every contact).
    async with db.session() as s:
        alice = await s.get(User, world["alice"].id)
        assert alice is not None
        alice.role = Role.ADMIN
    assert await ReportScheduler(db=db).run_due(now=datetime(2026, 6, 1, 15, 0, tzinfo=UTC)) == 1
    assert await MailSender(db=db, settings=mail_settings(smtp)).send_due() == 1
    [(_, message)] = smtp.inbox.messages
    [(filename, content_type, data)] = attachments(message)
    assert (filename, content_type) == ("My-contacts-2026-06-01.csv", "text/csv")
    text = data.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [["First name", "Last name"], ["Cid", "Xu"], ["Bob", "Young"],
                                                   ["Ann", "Zed"]]


async def test_two_schedulers_racing_run_a_slot_once(db_url: str, db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    now = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    await schedule(db, world["as_alice"], world["report_id"], now=now)
    other = Database.from_url(db_url)  # a second service instance: its own engine and connections
    try:
        slot_passed = datetime(2026, 1, 5, 8, 0, 30, tzinfo=UTC)
        ran = await asyncio.gather(ReportScheduler(db=db).run_due(now=slot_passed),
                                   ReportScheduler(db=other).run_due(now=slot_passed))
    finally:
        await other.dispose()
    assert sorted(ran) == [0, 1]
    async with db.session() as s:
        assert len(list(await s.scalars(select(MailMessage)))) == 1
    assert await MailSender(db=db, settings=mail_settings(smtp)).send_due() == 1
    assert len(smtp.inbox.messages) == 1


async def test_deactivated_owners_schedule_stops(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    now = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    schedule_id = await schedule(db, world["as_alice"], world["report_id"], now=now)
    async with db.session() as s:
        alice = await s.get(User, world["alice"].id)
        assert alice is not None
        alice.active = False
    assert await ReportScheduler(db=db).run_due(now=datetime(2026, 1, 5, 8, 1, tzinfo=UTC)) == 1
    async with db.session() as s:
        row = await s.get(ReportSchedule, schedule_id)
        assert row is not None and (row.active, row.last_status) == (False, "stopped")
        assert row.last_error and "deactivated" in row.last_error
        assert list(await s.scalars(select(MailMessage))) == []
    # Stopped: later slots do not run.
    assert await ReportScheduler(db=db).run_due(now=datetime(2026, 1, 9, 8, 1, tzinfo=UTC)) == 0


async def test_webhook_target_gets_the_file_signed(db: Database, receiver: tuple[Receiver, str]) -> None:
    recv, url = receiver
    world = await seed(db)
    admin = Principal(user_id=world["admin"].id, role=Role.ADMIN)
    now = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    await schedule(db, admin, world["report_id"], now=now, format="csv", recipients=[], webhook_url=url,
                   webhook_secret=SECRET)
    assert await ReportScheduler(db=db).run_due(now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) == 1
    sender = WebhookSender(db=db, secrets={}, secret_of=webhook_secret_lookup(db))
    async with aiohttp.ClientSession() as http:
        assert await sender.deliver_due(http) == 1
    async with db.session() as s:
        [row] = list(await s.scalars(select(WebhookDelivery)))
    assert row.last_error is None and row.response_status == 204
    [received] = recv.received
    headers = received["headers"]
    assert verify(SECRET, int(headers[TIMESTAMP_HEADER]), received["body"], headers[SIGNATURE_HEADER])
    payload = json.loads(received["body"])
    assert (payload["event"], payload["filename"], payload["rows"]) == ("report.scheduled", "My-contacts-2026-01-05.csv", 3)
    rows = list(csv.reader(io.StringIO(base64.b64decode(payload["file_base64"]).decode("utf-8-sig"))))
    assert rows == [["First name", "Last name"], ["Cid", "Xu"], ["Bob", "Young"], ["Ann", "Zed"]]


async def test_a_run_whose_runner_died_is_taken_over_once(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    schedule_id = await schedule(db, world["as_alice"], world["report_id"], now=datetime(2026, 1, 5, 7, 0, tzinfo=UTC))
    slot = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    dying = ReportScheduler(db=db, claim_lease_s=3600)
    assert await dying.claim(schedule_id, slot, now=slot)  # ... and its process is killed before the export
    other = ReportScheduler(db=db, claim_lease_s=3600)
    assert await other.run_due(now=slot + timedelta(minutes=59)) == 0  # the claim still holds
    assert await other.run_due(now=slot + timedelta(minutes=60)) == 1  # taken over, for that slot
    assert await other.run_due(now=slot + timedelta(minutes=61)) == 0
    # The first runner was only slow, not dead: its run of the same slot sends nothing more.
    await dying.run_one(schedule_id, slot, now=slot + timedelta(minutes=62))
    async with db.session() as s:
        row = await s.get(ReportSchedule, schedule_id)
        assert row is not None
        assert (row.claimed_slot_at, row.claimed_until, row.last_status) == (None, None, "queued")
        assert row.next_run_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
        assert len(list(await s.scalars(select(MailMessage)))) == 1
    assert await MailSender(db=db, settings=mail_settings(smtp)).send_due() == 1
    [(_, message)] = smtp.inbox.messages
    assert message["Subject"] == "Report: My contacts (2026-01-05)"


async def test_a_report_no_longer_shared_with_the_owner_fails_the_run_with_the_reason(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    system = Principal.system()
    async with db.session() as s:
        arno = await create_user(s, system, UserIn(name="Arno", role=Role.AGENT, team_id=world["alice"].team_id))
        report = await s.get(SavedReport, world["report_id"])
        assert report is not None
        report.team_id = world["alice"].team_id  # Alice shares it with her team ...
    as_arno = Principal(user_id=arno.id, role=Role.AGENT, team_id=arno.team_id)
    schedule_id = await schedule(db, as_arno, world["report_id"], now=datetime(2026, 1, 5, 7, 0, tzinfo=UTC))
    async with db.session() as s:
        report = await s.get(SavedReport, world["report_id"])
        assert report is not None
        report.team_id = None  # ... and takes the share back
    assert await ReportScheduler(db=db).run_due(now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) == 1
    async with db.session() as s:
        row = await s.get(ReportSchedule, schedule_id)
        assert row is not None and (row.active, row.last_status) == (True, "failed")
        assert row.last_error == f"the report cannot run as its owner: saved report {world['report_id']} not found"
        assert row.claimed_slot_at is None
        assert list(await s.scalars(select(MailMessage))) == []
