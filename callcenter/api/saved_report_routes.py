"""Saved reports: build, save, share, version, evaluate with a cursor, export (CSV, XLSX).

Everyone signed in may build and run reports: each reader sees only the rows the CRM shows them (agents their own,
supervisors their team's, admins all), shared reports included. Only a report's owner or an admin changes it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.api.framework import Api, BadRequest, Call, enum_schema
from callcenter.reports import export, saved
from callcenter.reports.definition import Checked, ReportDefinition, ReportEntity
from callcenter.reports.query import (
    MAX_CURSOR_CHARS,
    MAX_PAGE_ROWS,
    CursorError,
    columns_of,
    fetch_page,
    iter_rows,
    load_catalogue,
    prepare,
)
from callcenter.app_keys import DATABASE
from crm_core.errors import Invalid
from crm_core.input_rules import check_text

api = Api()
V1 = "/api/v1"
TAG = "reports"
SPOOL_BYTES = 8 * 1024 * 1024  # an export up to this size stays in memory, a larger one goes to a temporary file
STREAM_CHUNK_BYTES = 64 * 1024


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportFieldOut(BaseModel):
    name: str
    label: str
    type: str
    ops: list[str]
    choices: list[str]
    computed: bool


class ReportFieldsOut(BaseModel):
    entity: ReportEntity
    fields: list[ReportFieldOut]


class SavedReportIn(_In):
    name: str = Field(min_length=1, max_length=200)
    definition: ReportDefinition
    # Share with this team (its members read and run it); null: only the owner (and admins).
    team_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class SavedReportOut(BaseModel):
    id: int
    name: str
    owner_id: int
    team_id: int | None
    entity: ReportEntity
    definition: ReportDefinition
    version: int
    created_at: datetime
    updated_at: datetime
    can_edit: bool


class ReportVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    name: str
    team_id: int | None
    definition: ReportDefinition
    changed_by_id: int | None
    changed_at: datetime


class ReportColumnOut(BaseModel):
    name: str
    label: str
    type: str


class ReportRowsOut(BaseModel):
    columns: list[ReportColumnOut]
    # Keyed by column name, plus "id" (the record's) always.
    rows: list[dict[str, Any]]
    # Pass back as `cursor` for the next page; null: this was the last page.
    next_cursor: str | None


class ReportRunIn(_In):
    definition: ReportDefinition
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_CHARS)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE_ROWS)


_ROWS_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_ROWS}
# A cursor is base64url text and a dot (callcenter.reports.query.encode_cursor).
_CURSOR = {"type": "string", "maxLength": MAX_CURSOR_CHARS, "pattern": "^[A-Za-z0-9_.-]*$"}
_FORMATS = ("csv", "xlsx")


def _report_out(report: Any, principal: Any) -> dict[str, Any]:
    return {
        "id": report.id, "name": report.name, "owner_id": report.owner_id, "team_id": report.team_id,
        "entity": report.entity, "definition": report.definition, "version": report.version,
        "created_at": report.created_at, "updated_at": report.updated_at, "can_edit": saved.may_edit(principal, report),
    }


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _page(call: Call, definition: ReportDefinition, cursor: str | None, limit: int) -> dict[str, Any]:
    checked = await prepare(call.session, definition)
    try:
        page = await fetch_page(call.session, call.principal, checked, cursor=cursor, limit=limit)
    except CursorError as exc:
        raise BadRequest(exc.message, field="cursor") from None
    return {
        "columns": [{"name": c.name, "label": c.label, "type": c.type} for c in columns_of(checked)],
        "rows": [{k: _json(v) for k, v in row.items()} for row in page.rows],
        "next_cursor": page.next_cursor,
    }


@api.route(
    "GET", V1 + "/reports/fields",
    summary="The fields a report on an entity may filter, show and sort by: own, custom (custom.<key>) and computed "
    "(last call, not contacted since, open callback, consent, tags, phone), each with its type and operators",
    response=ReportFieldsOut, query=("entity",), tag=TAG, query_schemas={"entity": enum_schema(ReportEntity)},
)
async def report_fields(call: Call) -> Any:
    entity = call.query_enum("entity", ReportEntity)
    if entity is None:
        raise BadRequest("query parameter entity is required", field="entity")
    known = await load_catalogue(call.session, entity)
    return {
        "entity": entity,
        "fields": [
            {"name": s.name, "label": s.label, "type": s.kind.value, "ops": sorted(op.value for op in s.ops),
             "choices": list(s.choices), "computed": s.computed}
            for s in known.fields.values()
        ],
    }


@api.route(
    "POST", V1 + "/reports/run",
    summary="Evaluate a report definition now: a page of rows the caller may see, and the cursor of the next page",
    body=ReportRunIn, response=ReportRowsOut, tag=TAG,
)
async def run_report(call: Call) -> Any:
    body: ReportRunIn = call.body
    return await _page(call, body.definition, body.cursor, body.limit)


@api.route(
    "POST", V1 + "/reports/saved", summary="Save a report (version 1), optionally shared with a team",
    body=SavedReportIn, response=SavedReportOut, status=201, tag=TAG,
)
async def create_saved_report(call: Call) -> Any:
    body: SavedReportIn = call.body
    report = await saved.create_saved(
        call.session, call.principal, name=_name(body.name), definition=body.definition, team_id=body.team_id
    )
    return _report_out(report, call.principal)


@api.route(
    "GET", V1 + "/reports/saved", summary="Saved reports the caller may read: their own, their team's, all for admins",
    response=SavedReportOut, query=("limit", "offset"), tag=TAG,
)
async def list_saved_reports(call: Call) -> Any:
    limit, offset = call.page
    page = await saved.list_saved(call.session, call.principal, limit=limit, offset=offset)
    return type(page)(
        items=[_report_out(r, call.principal) for r in page.items], total=page.total, limit=page.limit,
        offset=page.offset,
    )


@api.route("GET", V1 + "/reports/saved/{id}", summary="A saved report", response=SavedReportOut, tag=TAG)
async def get_saved_report(call: Call) -> Any:
    return _report_out(await saved.get_saved(call.session, call.principal, call.path_int("id")), call.principal)


@api.route(
    "PUT", V1 + "/reports/saved/{id}",
    summary="Replace a saved report's name, definition and share (owner or admin): a new version, the old kept",
    body=SavedReportIn, response=SavedReportOut, tag=TAG,
)
async def update_saved_report(call: Call) -> Any:
    body: SavedReportIn = call.body
    report = await saved.update_saved(
        call.session, call.principal, call.path_int("id"), name=_name(body.name), definition=body.definition,
        team_id=body.team_id,
    )
    return _report_out(report, call.principal)


@api.route("DELETE", V1 + "/reports/saved/{id}", summary="Delete a saved report and its versions (owner or admin)",
           status=204, tag=TAG)
async def delete_saved_report(call: Call) -> Any:
    await saved.delete_saved(call.session, call.principal, call.path_int("id"))


@api.route(
    "GET", V1 + "/reports/saved/{id}/versions",
    summary="Every version of a saved report, newest first: who, when, what",
    response=ReportVersionOut, many=True, tag=TAG,
)
async def saved_report_versions(call: Call) -> Any:
    return await saved.versions(call.session, call.principal, call.path_int("id"))


@api.route(
    "GET", V1 + "/reports/saved/{id}/rows",
    summary="Evaluate a saved report now (the caller's scope): a page of rows and the cursor of the next page",
    response=ReportRowsOut, query=("cursor", "limit"), tag=TAG, query_schemas={"limit": _ROWS_LIMIT, "cursor": _CURSOR},
)
async def saved_report_rows(call: Call) -> Any:
    report = await saved.get_saved(call.session, call.principal, call.path_int("id"))
    cursor = call.query_str("cursor", max_length=MAX_CURSOR_CHARS)
    limit = call.query_int("limit", default=100, low=1, high=MAX_PAGE_ROWS) or 100
    return await _page(call, saved.definition_of(report), cursor, limit)


@api.route(
    "GET", V1 + "/reports/saved/{id}/export",
    summary="Download every row of a saved report the caller may see, as CSV or XLSX (streamed)",
    query=("format",), tag=TAG, query_schemas={"format": {"type": "string", "enum": list(_FORMATS)}},
    media=(export.CSV_MEDIA_TYPE.split(";")[0], export.XLSX_MEDIA_TYPE),
)
async def export_saved_report(call: Call) -> Any:
    kind = call.request.query.get("format", "csv")
    if kind not in _FORMATS:
        raise BadRequest("query parameter format must be csv or xlsx", field="format")
    # A read-only transaction of its own, not the request's: on SQLite the request's takes the writer lock, which a
    # long export must not hold while the call events wait to be written.
    async with call.request.app[DATABASE].read_session() as session:
        report = await saved.get_saved(session, call.principal, call.path_int("id"))
        checked = await prepare(session, saved.definition_of(report))  # a bad definition is a 422 before any byte
        return await _stream_export(call, report.name, kind, checked, session)


async def _stream_export(
    call: Call, name: str, kind: str, checked: Checked, session: AsyncSession
) -> web.StreamResponse:
    columns = columns_of(checked)
    rows = iter_rows(session, call.principal, checked)
    response = web.StreamResponse(headers={
        "Content-Type": export.CSV_MEDIA_TYPE if kind == "csv" else export.XLSX_MEDIA_TYPE,
        "Content-Disposition": export.content_disposition(name, kind),
        "Cache-Control": "no-store",
    })
    if kind == "csv":
        await response.prepare(call.request)
        async for chunk in export.csv_chunks(rows, columns):
            await response.write(chunk)
    else:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            await export.write_xlsx(rows, columns, spool)  # type: ignore[arg-type]
            response.content_length = spool.tell()
            spool.seek(0)
            await response.prepare(call.request)
            while chunk := spool.read(STREAM_CHUNK_BYTES):
                await response.write(chunk)
    await response.write_eof()
    return response


def _name(name: str) -> str:
    try:
        check_text(name.strip(), multiline=False)
    except ValueError as exc:
        raise Invalid(f"name {exc}", field="name") from None
    if not name.strip():
        raise Invalid("must not be blank", field="name")
    return name.strip()
