"""The scheduled-report loop: claim due schedules, evaluate the saved report as its owner at run time, export it,
and put the file in the e-mail outbox (and/or a webhook delivery).

Safe with several service instances: a schedule's run is claimed by a conditional UPDATE that moves ``next_run_at``
from the slot it read to the next slot; only one instance's UPDATE changes the row, the others see no row changed.
The claim also records the slot and a lease (``claimed_slot_at``, ``claimed_until``): a run whose process died
between the claim and the outbox (killed mid-export) is taken over, for the same slot, once the lease has passed.
The outbox rows are keyed by (schedule, slot), so a slot taken over after all, or run twice by any other accident,
still sends once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.outbox import insert_once, run_until_cancelled
from callcenter.mail.addresses import AddressError
from callcenter.mail.outbox import Attachment, queue_mail
from callcenter.reports.export import write_csv, write_xlsx
from callcenter.reports.query import columns_of, iter_rows, prepare
from callcenter.reports.saved import definition_of, get_saved
from callcenter.reports.schedule import next_run, parse_zone, recurrence
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import CrmError
from crm_core.mail_models import ReportSchedule
from crm_core.models import User, WebhookDelivery
from crm_core.types import utcnow

log = logging.getLogger("callcenter.reports.scheduler")

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
WRITERS = {"csv": write_csv, "xlsx": write_xlsx}
WEBHOOK_RULE_PREFIX = "schedule:"
WEBHOOK_EVENT = "report.scheduled"
# A claimed run not finished within this long is taken to have died with its process, and is run again.
CLAIM_LEASE_S = 3600.0
SPOOL_BYTES = 8 * 1024 * 1024  # an export larger than this goes to a temporary file while it is written


@dataclass(frozen=True, slots=True)
class ReportFile:
    report_name: str
    filename: str
    content_type: str
    data: bytes | None  # None: larger than the attachment limit
    size_bytes: int
    rows: int


def file_stem(name: str) -> str:
    """An ASCII file name from a report's name (no path, quote or control character survives)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-._")[:80] or "report"


def one_line(text: str) -> str:
    return " ".join(text.split())


def slot_key(schedule_id: int, slot: datetime) -> str:
    return f"schedule:{schedule_id}:{slot.isoformat()}"


async def export_report(
    db: Database, principal: Principal, report_id: int, fmt: str, *, local_date: str, max_bytes: int
) -> ReportFile:
    """The saved report as ``principal`` sees it now, written as CSV or XLSX (raises NotFound when the report is
    gone or no longer readable by them, Invalid when its fields no longer exist)."""
    rows_seen = 0
    async with db.read_session() as session:
        report = await get_saved(session, principal, report_id)
        checked = await prepare(session, definition_of(report))
        columns = columns_of(checked)

        async def counted() -> AsyncIterator[dict[str, Any]]:
            nonlocal rows_seen
            async for row in iter_rows(session, principal, checked):
                rows_seen += 1
                yield row

        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
            await WRITERS[fmt](counted(), columns, out)
            size = out.tell()
            out.seek(0)
            data = out.read() if size <= max_bytes else None
        name = report.name
    return ReportFile(
        report_name=name, filename=f"{file_stem(name)}-{local_date}.{fmt}", content_type=CONTENT_TYPES[fmt],
        data=data, size_bytes=size, rows=rows_seen,
    )


class ReportScheduler:
    def __init__(
        self,
        *,
        db: Database,
        max_attachment_bytes: int = 20 * 1024 * 1024,
        on_mail_queued: Callable[[], None] | None = None,
        on_webhook_queued: Callable[[], None] | None = None,
        batch: int = 20,
        claim_lease_s: float = CLAIM_LEASE_S,
    ) -> None:
        self.db = db
        self.claim_lease_s = claim_lease_s
        self.max_attachment_bytes = max_attachment_bytes
        self.on_mail_queued = on_mail_queued
        self.on_webhook_queued = on_webhook_queued
        self.batch = batch
        self.wakeup = asyncio.Event()

    async def run_due(self, *, now: datetime | None = None) -> int:
        """Run every schedule due at ``now`` that this instance claims (and every abandoned run it takes over);
        returns how many it ran."""
        now = now or utcnow()
        abandoned = and_(ReportSchedule.claimed_slot_at.is_not(None), ReportSchedule.claimed_until <= now)
        async with self.db.read_session() as session:
            due = (
                await session.execute(
                    select(ReportSchedule.id, ReportSchedule.next_run_at, ReportSchedule.claimed_slot_at,
                           ReportSchedule.claimed_until)
                    .where(ReportSchedule.active.is_(True), or_(ReportSchedule.next_run_at <= now, abandoned))
                    .order_by(ReportSchedule.next_run_at, ReportSchedule.id)
                    .limit(self.batch)
                )
            ).all()
        ran = 0
        for schedule_id, next_slot, claimed_slot, claimed_until in due:
            if claimed_slot is not None and claimed_until is not None and claimed_until <= now:
                if await self.take_over(schedule_id, claimed_slot, claimed_until, now=now):
                    log.warning("report schedule %d: taking over the run of %s (its runner stopped)", schedule_id,
                                claimed_slot.isoformat())
                    await self.run_one(schedule_id, claimed_slot, now=now)
                    ran += 1
            elif next_slot <= now and await self.claim(schedule_id, next_slot, now=now):
                await self.run_one(schedule_id, next_slot, now=now)
                ran += 1
        return ran

    async def claim(self, schedule_id: int, slot: datetime, *, now: datetime) -> bool:
        """Move the schedule from ``slot`` to its next slot after now; True only for the instance whose UPDATE did."""
        async with self.db.session() as session:
            row = await session.get(ReportSchedule, schedule_id)
            if row is None:
                return False
            following = next_run(recurrence(row.cadence, row.local_time, row.timezone, row.weekday), max(now, slot))
            result = await session.execute(
                update(ReportSchedule)
                .where(ReportSchedule.id == schedule_id, ReportSchedule.next_run_at == slot,
                       ReportSchedule.active.is_(True))
                .values(next_run_at=following, last_run_at=now, last_status="running", last_error=None,
                        claimed_slot_at=slot, claimed_until=now + timedelta(seconds=self.claim_lease_s))
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def take_over(self, schedule_id: int, slot: datetime, until: datetime, *, now: datetime) -> bool:
        """Renew an expired claim on ``slot``; True only for the instance whose UPDATE did."""
        async with self.db.session() as session:
            result = await session.execute(
                update(ReportSchedule)
                .where(ReportSchedule.id == schedule_id, ReportSchedule.claimed_slot_at == slot,
                       ReportSchedule.claimed_until == until, ReportSchedule.active.is_(True))
                .values(claimed_until=now + timedelta(seconds=self.claim_lease_s), last_run_at=now,
                        last_status="running")
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    async def _release(session: AsyncSession, schedule_id: int, slot: datetime) -> None:
        """The slot's run is over (sent, failed or stopped): its claim goes, unless a later slot's replaced it."""
        await session.execute(
            update(ReportSchedule)
            .where(ReportSchedule.id == schedule_id, ReportSchedule.claimed_slot_at == slot)
            .values(claimed_slot_at=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )

    async def run_one(self, schedule_id: int, slot: datetime, *, now: datetime) -> None:
        async with self.db.session() as session:
            schedule = await session.get(ReportSchedule, schedule_id)
            if schedule is None:
                return
            owner = await session.get(User, schedule.owner_id)
            if owner is None or not owner.active:
                # Its owner's rights are gone: it stops rather than run as nobody (an admin may hand it on).
                schedule.active, schedule.last_status = False, "stopped"
                schedule.last_error = f"owner (user {schedule.owner_id}) is deactivated; the schedule stopped"
                log.warning("report schedule %d stopped: its owner is deactivated", schedule_id)
                await session.flush()
                await self._release(session, schedule_id, slot)
                return
            principal = Principal(user_id=owner.id, role=owner.role, team_id=owner.team_id)
            report_id, fmt, zone = schedule.saved_report_id, schedule.format, schedule.timezone
            recipients, url = list(schedule.recipients or []), schedule.webhook_url
        local_date = slot.astimezone(parse_zone(zone)).date().isoformat()
        try:
            report = await export_report(self.db, principal, report_id, fmt, local_date=local_date,
                                         max_bytes=self.max_attachment_bytes)
        except CrmError as exc:
            await self._failed(schedule_id, slot, f"the report cannot run as its owner: {exc.message}")
            return
        except Exception as exc:  # the database away mid-export: record it; the next slot tries again
            log.exception("report schedule %d failed", schedule_id)
            await self._failed(schedule_id, slot, f"{exc.__class__.__name__}: {exc}")
            return
        queued_mail = queued_hook = False
        refused: str | None = None
        async with self.db.session() as session:
            key = slot_key(schedule_id, slot)
            if recipients:
                try:
                    queued_mail = await queue_mail(
                        session, source="schedule", dedupe_key=key, to=recipients, schedule_id=schedule_id,
                        subject=one_line(f"Report: {report.report_name} ({local_date})"),
                        body=self._body(report, local_date),
                        attachment=Attachment(report.filename, report.content_type, report.data)
                        if report.data is not None else None,
                    )
                except AddressError as exc:  # checked when saved: kept as the run's failure, never a crash
                    refused = f"recipients: {exc}"
            if url:
                queued_hook = await insert_once(session, self._webhook(schedule_id, url, key, report, slot),
                                                WebhookDelivery.dedupe_key, key)
            schedule = await session.get(ReportSchedule, schedule_id)
            if schedule is not None:
                schedule.last_status, schedule.last_row_count = ("failed" if refused else "queued"), report.rows
                schedule.last_error = refused
                await session.flush()
            await self._release(session, schedule_id, slot)
        if queued_mail and self.on_mail_queued is not None:
            self.on_mail_queued()
        if queued_hook and self.on_webhook_queued is not None:
            self.on_webhook_queued()

    async def _failed(self, schedule_id: int, slot: datetime, error: str) -> None:
        async with self.db.session() as session:
            schedule = await session.get(ReportSchedule, schedule_id)
            if schedule is not None:
                schedule.last_status, schedule.last_error = "failed", error[:500]
                await session.flush()
            await self._release(session, schedule_id, slot)

    def _body(self, report: ReportFile, local_date: str) -> str:
        lines = [f"The report \"{report.report_name}\" for {local_date}: {report.rows} rows."]
        if report.data is None:
            lines.append(
                f"The file ({report.size_bytes} bytes) is larger than the attachment limit "
                f"({self.max_attachment_bytes} bytes): export it in the service instead."
            )
        else:
            lines.append(f"Attached: {report.filename}.")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _webhook(schedule_id: int, url: str, key: str, report: ReportFile, slot: datetime) -> WebhookDelivery:
        payload = {
            "event": WEBHOOK_EVENT,
            "schedule_id": schedule_id,
            "report_name": report.report_name,
            "slot": slot.isoformat(),
            "rows": report.rows,
            "filename": report.filename,
            "content_type": report.content_type,
            "size_bytes": report.size_bytes,
            # The file itself, base64; null when larger than mail.max_attachment_bytes.
            "file_base64": base64.b64encode(report.data).decode() if report.data is not None else None,
        }
        return WebhookDelivery(rule=f"{WEBHOOK_RULE_PREFIX}{schedule_id}", url=url, event=WEBHOOK_EVENT,
                               dedupe_key=key, payload=payload)

    async def run(self, *, interval_s: float = 30.0) -> None:
        await run_until_cancelled(self.run_due, wakeup=self.wakeup, idle_s=interval_s, log=log, what="report scheduler")


def webhook_secret_lookup(db: Database) -> Callable[[str], Any]:
    """For the webhook sender: a schedule's delivery is signed with that schedule's secret (None: gone)."""

    async def secret_of(rule: str) -> str | None:
        if not rule.startswith(WEBHOOK_RULE_PREFIX) or not rule[len(WEBHOOK_RULE_PREFIX):].isdigit():
            return None
        async with db.read_session() as session:
            return await session.scalar(
                select(ReportSchedule.webhook_secret).where(ReportSchedule.id == int(rule[len(WEBHOOK_RULE_PREFIX):]))
            )

    return secret_of
