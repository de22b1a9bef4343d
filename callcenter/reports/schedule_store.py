"""Report schedules in the database: who may see and change which, and every input checked with its field named.

A schedule belongs to the user who made it; its owner and admins read, change, delete and run it now. It runs with
its owner's rights at run time (callcenter.reports.scheduler), so making one needs only read access to the report.
A webhook target is an admin's to set: it makes the service call a URL of the caller's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from callcenter.mail.addresses import AddressError, check_address
from callcenter.reports.saved import get_saved
from callcenter.reports.schedule import ScheduleError, next_run, recurrence
from crm_core.access import Principal
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.mail_models import MailMessage, ReportSchedule
from crm_core.paging import Page, paginate

MAX_RECIPIENTS = 50


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    saved_report_id: int
    name: str
    cadence: str
    time: str
    timezone: str
    format: str
    recipients: list[str]
    weekday: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    active: bool = True


def _owned(principal: Principal) -> object:
    if principal.is_admin and principal.scope is None:
        return ReportSchedule.id.is_not(None)
    return ReportSchedule.owner_id == principal.user_id


def _checked(principal: Principal, spec: ScheduleSpec) -> list[str]:
    """The recipients as stored; raises Invalid/Forbidden naming the field."""
    try:
        recurrence(spec.cadence, spec.time, spec.timezone, spec.weekday)
    except ScheduleError as exc:
        raise Invalid(str(exc), field=exc.field) from None
    if spec.format not in ("csv", "xlsx"):
        raise Invalid(f"format {spec.format!r} must be csv or xlsx", field="format")
    recipients = []
    for i, address in enumerate(spec.recipients):
        try:
            recipients.append(check_address(address))
        except AddressError as exc:
            raise Invalid(f"recipient {exc}", field=f"recipients[{i}]") from None
    if len(set(recipients)) != len(recipients):
        raise Invalid("an address is listed twice", field="recipients")
    if not recipients and not spec.webhook_url:
        raise Invalid("give recipients (e-mail) or a webhook_url, or both", field="recipients")
    if spec.webhook_url:
        if not principal.is_admin:
            raise Forbidden("only an admin sends reports to a webhook", field="webhook_url")
        if not spec.webhook_secret:
            raise Invalid("a webhook needs a secret (16 characters or more) to sign it", field="webhook_secret")
    return recipients


async def create_schedule(
    session: AsyncSession, principal: Principal, spec: ScheduleSpec, *, now: datetime
) -> ReportSchedule:
    if principal.user_id is None or principal.scope is not None:
        raise Forbidden("only a user schedules reports")
    recipients = _checked(principal, spec)
    await get_saved(session, principal, spec.saved_report_id)  # NotFound unless the caller may read it
    rule = recurrence(spec.cadence, spec.time, spec.timezone, spec.weekday)
    row = ReportSchedule(
        saved_report_id=spec.saved_report_id, owner_id=principal.user_id, name=spec.name, cadence=spec.cadence,
        weekday=spec.weekday, local_time=spec.time, timezone=spec.timezone, format=spec.format,
        recipients=recipients, webhook_url=spec.webhook_url or None,
        webhook_secret=spec.webhook_secret if spec.webhook_url else None,
        active=spec.active, next_run_at=next_run(rule, now), created_at=now, updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get_schedule(session: AsyncSession, principal: Principal, schedule_id: int) -> ReportSchedule:
    """The owner's or (for an admin) any schedule; else NotFound, with no hint that it exists."""
    row = await session.scalar(select(ReportSchedule).where(ReportSchedule.id == schedule_id, _owned(principal)))
    if row is None:
        raise NotFound(f"report schedule {schedule_id} not found", field="id")
    return row


async def list_schedules(session: AsyncSession, principal: Principal, *, limit: int, offset: int) -> Page[ReportSchedule]:
    query = select(ReportSchedule).where(_owned(principal)).order_by(ReportSchedule.id)
    return await paginate(session, query, limit=limit, offset=offset)


async def update_schedule(
    session: AsyncSession, principal: Principal, schedule_id: int, spec: ScheduleSpec, *, now: datetime
) -> ReportSchedule:
    row = await get_schedule(session, principal, schedule_id)
    recipients = _checked(principal, spec)
    if spec.saved_report_id != row.saved_report_id:
        await get_saved(session, principal, spec.saved_report_id)
    if spec.webhook_url and spec.webhook_url != row.webhook_url and not spec.webhook_secret:
        raise Invalid("a new webhook_url needs its webhook_secret", field="webhook_secret")
    rule = recurrence(spec.cadence, spec.time, spec.timezone, spec.weekday)
    row.saved_report_id, row.name, row.cadence, row.weekday = spec.saved_report_id, spec.name, spec.cadence, spec.weekday
    row.local_time, row.timezone, row.format, row.recipients = spec.time, spec.timezone, spec.format, recipients
    row.webhook_secret = (spec.webhook_secret or row.webhook_secret) if spec.webhook_url else None
    row.webhook_url = spec.webhook_url or None
    row.active = spec.active
    row.next_run_at = next_run(rule, now)
    row.updated_at = now
    if spec.active and row.last_status == "stopped":
        row.last_status, row.last_error = None, None
    await session.flush()
    return row


async def delete_schedule(session: AsyncSession, principal: Principal, schedule_id: int) -> None:
    row = await get_schedule(session, principal, schedule_id)
    await session.delete(row)
    await session.flush()


async def run_now(session: AsyncSession, principal: Principal, schedule_id: int, *, now: datetime) -> ReportSchedule:
    """Due now: the scheduler claims it at once, then goes on with the usual next slot."""
    row = await get_schedule(session, principal, schedule_id)
    if not row.active:
        raise Invalid("the schedule is paused (active is false); activate it first", field="active")
    row.next_run_at = now
    await session.flush()
    return row


async def deliveries(session: AsyncSession, principal: Principal, schedule_id: int, *, limit: int, offset: int) -> Page[MailMessage]:
    """The schedule's e-mails, newest first: status, attempts, last error (the attachment is not read)."""
    await get_schedule(session, principal, schedule_id)
    query = (
        select(MailMessage).options(defer(MailMessage.attachment))
        .where(MailMessage.schedule_id == schedule_id).order_by(MailMessage.id.desc())
    )
    return await paginate(session, query, limit=limit, offset=offset)
