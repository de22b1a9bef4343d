"""Saved reports: kept per user, shared with a team, every save a new version (who, when, what).

Who may do what: the owner and admins read, change and delete a report; the members of the team it is shared with
read and run it. Running it always applies the runner's own scope (callcenter.reports.query), so sharing a report
shares its definition, never its owner's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.reports.definition import ReportDefinition, parse_definition
from callcenter.reports.query import prepare
from crm_core.access import Principal
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Team
from crm_core.paging import Page, paginate
from crm_core.report_models import SavedReport, SavedReportVersion
from crm_core.types import utcnow


def _readable(principal: Principal) -> Any:
    if principal.scope is not None or principal.user_id is None and not principal.is_admin:
        return SavedReport.id.is_(None)  # nothing
    if principal.is_admin:
        return SavedReport.id.is_not(None)
    mine = SavedReport.owner_id == principal.user_id
    return or_(mine, SavedReport.team_id == principal.team_id) if principal.team_id is not None else mine


def may_edit(principal: Principal, report: SavedReport) -> bool:
    return principal.scope is None and (principal.is_admin or report.owner_id == principal.user_id)


def definition_of(report: SavedReport) -> ReportDefinition:
    """The stored definition (checked when saved; checked again against today's fields when run)."""
    return parse_definition(report.definition)


async def get_saved(session: AsyncSession, principal: Principal, report_id: int) -> SavedReport:
    """A report ``principal`` may read (owner, its team, admins), else NotFound (no hint that it exists)."""
    report = await session.scalar(select(SavedReport).where(SavedReport.id == report_id, _readable(principal)))
    if report is None:
        raise NotFound(f"saved report {report_id} not found", field="id")
    return report


async def list_saved(session: AsyncSession, principal: Principal, *, limit: int, offset: int) -> Page[SavedReport]:
    query = select(SavedReport).where(_readable(principal)).order_by(SavedReport.name, SavedReport.id)
    return await paginate(session, query, limit=limit, offset=offset)


async def _check_share(session: AsyncSession, principal: Principal, team_id: int | None) -> None:
    if team_id is None:
        return
    if await session.get(Team, team_id) is None:
        raise Invalid(f"team {team_id} does not exist", field="team_id")
    if not principal.is_admin and team_id != principal.team_id:
        raise Forbidden("you may share a report with your own team only", field="team_id")


def _version(report: SavedReport, principal: Principal) -> SavedReportVersion:
    return SavedReportVersion(
        report_id=report.id, version=report.version, name=report.name, team_id=report.team_id,
        definition=report.definition, changed_by_id=principal.user_id, changed_at=report.updated_at,
    )


async def create_saved(
    session: AsyncSession, principal: Principal, *, name: str, definition: ReportDefinition, team_id: int | None
) -> SavedReport:
    if principal.user_id is None or principal.scope is not None:
        raise Forbidden("only a user saves reports")
    await prepare(session, definition)  # refuse what would not run (names the field)
    await _check_share(session, principal, team_id)
    now = utcnow()
    report = SavedReport(
        name=name, owner_id=principal.user_id, team_id=team_id, entity=definition.entity.value,
        definition=definition.model_dump(mode="json"), version=1, created_at=now, updated_at=now,
    )
    session.add(report)
    await session.flush()
    session.add(_version(report, principal))
    await session.flush()
    return report


async def update_saved(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    *,
    name: str,
    definition: ReportDefinition,
    team_id: int | None,
) -> SavedReport:
    """Replace the report's name, definition and share: a new version, the old one kept."""
    report = await get_saved(session, principal, report_id)
    if not may_edit(principal, report):
        raise Forbidden("only the report's owner or an admin changes it", field="id")
    await prepare(session, definition)
    if team_id != report.team_id:
        await _check_share(session, principal, team_id)
    # Row lock on PostgreSQL (SQLite's writer lock serialises anyway), so two saves never take the same version.
    await session.refresh(report, with_for_update=True)
    report.name, report.team_id = name, team_id
    report.entity, report.definition = definition.entity.value, definition.model_dump(mode="json")
    report.version += 1
    report.updated_at = utcnow()
    session.add(_version(report, principal))
    await session.flush()
    return report


async def delete_saved(session: AsyncSession, principal: Principal, report_id: int) -> None:
    report = await get_saved(session, principal, report_id)
    if not may_edit(principal, report):
        raise Forbidden("only the report's owner or an admin deletes it", field="id")
    await session.delete(report)
    await session.flush()


async def versions(session: AsyncSession, principal: Principal, report_id: int) -> list[SavedReportVersion]:
    """Every saved version, newest first (anyone who may read the report reads its history)."""
    await get_saved(session, principal, report_id)
    rows = await session.scalars(
        select(SavedReportVersion).where(SavedReportVersion.report_id == report_id)
        .order_by(SavedReportVersion.version.desc())
    )
    return list(rows)

