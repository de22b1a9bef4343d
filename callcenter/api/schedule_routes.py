"""Scheduled reports: a saved report delivered daily or weekly by e-mail or webhook.

Anyone signed in schedules a report they may read; the schedule is theirs (its owner and admins see, change, delete
and run it now; nobody else learns it exists). It runs with its owner's rights at run time. A webhook target is for
admins only (it makes the service call a URL of the caller's choice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from callcenter.api.framework import Api, Call
from callcenter.reports import schedule_store
from callcenter.reports.schedule import WEEKDAYS
from callcenter.app_keys import REPORT_SCHEDULER
from crm_core.input_rules import check_text
from crm_core.mail_models import MailMessage, ReportSchedule
from crm_core.paging import Page
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"
TAG = "reports"
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
assert WEEKDAYS == Weekday.__args__  # type: ignore[attr-defined]  (one list of weekday names)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    saved_report_id: int = Field(ge=1, le=2**63 - 1)
    name: str = Field(default="", max_length=200)
    cadence: Literal["daily", "weekly"]
    # Weekly only: the day it runs on.
    weekday: Weekday | None = None
    # Local time in `timezone`, HH:MM (24-hour clock).
    time: str = Field(min_length=1, max_length=5, examples=["08:00"])
    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Berlin"])
    format: Literal["csv", "xlsx"] = "xlsx"
    # Bare e-mail addresses (ops@example.com); the file is attached.
    recipients: list[str] = Field(default_factory=list, max_length=schedule_store.MAX_RECIPIENTS)
    # Admins only: POSTed the file (base64) in a signed JSON body, like the automation webhooks.
    webhook_url: HttpUrl | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return check_text(value, multiline=False)

    @field_validator("recipients")
    @classmethod
    def _lengths(cls, value: list[str]) -> list[str]:
        if any(len(address) > 320 for address in value):
            raise ValueError("an address is longer than 320 characters")
        return value

    def spec(self) -> schedule_store.ScheduleSpec:
        return schedule_store.ScheduleSpec(
            saved_report_id=self.saved_report_id, name=self.name, cadence=self.cadence, weekday=self.weekday,
            time=self.time, timezone=self.timezone, format=self.format, recipients=list(self.recipients),
            webhook_url=str(self.webhook_url) if self.webhook_url else None, webhook_secret=self.webhook_secret,
            active=self.active,
        )


class ScheduleOut(BaseModel):
    id: int
    saved_report_id: int
    owner_id: int
    name: str
    cadence: str
    weekday: str | None
    time: str
    timezone: str
    format: str
    recipients: list[str]
    webhook_url: str | None
    has_webhook_secret: bool  # the secret itself is never shown
    active: bool
    next_run_at: datetime
    next_run_local: str  # the same instant in the schedule's zone
    last_run_at: datetime | None
    # running (claimed, being exported), queued (in the outbox: see /deliveries), failed (last_error says why),
    # stopped (its owner was deactivated)
    last_status: str | None
    last_error: str | None
    last_row_count: int | None
    created_at: datetime
    updated_at: datetime


class ScheduleDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    to_addrs: list[str]
    subject: str
    attachment_name: str | None
    status: str  # pending (being tried), delivered, dead (given up)
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _out(row: ReportSchedule) -> dict[str, Any]:
    return {
        "id": row.id, "saved_report_id": row.saved_report_id, "owner_id": row.owner_id, "name": row.name,
        "cadence": row.cadence, "weekday": row.weekday, "time": row.local_time, "timezone": row.timezone,
        "format": row.format, "recipients": list(row.recipients or []), "webhook_url": row.webhook_url,
        "has_webhook_secret": bool(row.webhook_secret), "active": row.active, "next_run_at": row.next_run_at,
        "next_run_local": row.next_run_at.astimezone(ZoneInfo(row.timezone)).isoformat(),
        "last_run_at": row.last_run_at, "last_status": row.last_status, "last_error": row.last_error,
        "last_row_count": row.last_row_count, "created_at": row.created_at, "updated_at": row.updated_at,
    }


def _delivery(row: MailMessage) -> dict[str, Any]:
    return {
        "id": row.id, "to_addrs": list(row.to_addrs), "subject": row.subject, "attachment_name": row.attachment_name,
        "status": row.status.value, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error, "created_at": row.created_at, "sent_at": row.sent_at,
    }


def _wake_scheduler(call: Call) -> None:
    scheduler = call.request.app.get(REPORT_SCHEDULER)
    if scheduler is not None:
        call.after_commit.append(scheduler.wakeup.set)


@api.route("POST", V1 + "/reports/schedules", summary="Schedule a saved report (daily or weekly, e-mail and/or "
           "webhook); it runs with your rights at run time", body=ScheduleIn, response=ScheduleOut, status=201, tag=TAG)
async def create_schedule(call: Call) -> Any:
    row = await schedule_store.create_schedule(call.session, call.principal, call.body.spec(), now=utcnow())
    return _out(row)


@api.route("GET", V1 + "/reports/schedules", summary="Your report schedules (an admin's: everyone's)",
           response=ScheduleOut, query=("limit", "offset"), tag=TAG)
async def list_schedules(call: Call) -> Any:
    limit, offset = call.page
    page = await schedule_store.list_schedules(call.session, call.principal, limit=limit, offset=offset)
    return Page(items=[_out(row) for row in page.items], total=page.total, limit=page.limit, offset=page.offset)


@api.route("GET", V1 + "/reports/schedules/{id}", summary="A report schedule, with its next run and last result",
           response=ScheduleOut, tag=TAG)
async def get_schedule(call: Call) -> Any:
    return _out(await schedule_store.get_schedule(call.session, call.principal, call.path_int("id")))


@api.route("PUT", V1 + "/reports/schedules/{id}", summary="Replace a report schedule (the next run is computed "
           "again; a webhook secret left out is kept)", body=ScheduleIn, response=ScheduleOut, tag=TAG)
async def update_schedule(call: Call) -> Any:
    row = await schedule_store.update_schedule(call.session, call.principal, call.path_int("id"), call.body.spec(),
                                               now=utcnow())
    return _out(row)


@api.route("DELETE", V1 + "/reports/schedules/{id}", summary="Delete a report schedule", status=204, tag=TAG)
async def delete_schedule(call: Call) -> None:
    await schedule_store.delete_schedule(call.session, call.principal, call.path_int("id"))


@api.route("POST", V1 + "/reports/schedules/{id}/run-now", summary="Run a schedule now (once, besides its usual "
           "runs); its result shows in last_status and /deliveries", response=ScheduleOut, tag=TAG)
async def run_now(call: Call) -> Any:
    row = await schedule_store.run_now(call.session, call.principal, call.path_int("id"), now=utcnow())
    _wake_scheduler(call)
    return _out(row)


@api.route("GET", V1 + "/reports/schedules/{id}/deliveries", summary="A schedule's e-mails, newest first: status, "
           "attempts, last error", response=ScheduleDeliveryOut, query=("limit", "offset"), tag=TAG)
async def schedule_deliveries(call: Call) -> Any:
    limit, offset = call.page
    page = await schedule_store.deliveries(call.session, call.principal, call.path_int("id"), limit=limit,
                                           offset=offset)
    return Page(items=[_delivery(row) for row in page.items], total=page.total, limit=page.limit, offset=page.offset)
