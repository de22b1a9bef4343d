"""Campaigns in the database (adapter): who may see and manage which, create / edit / start-pause-resume-stop, and the
dial list as of now (the saved report re-evaluated, each row's number judged by compliance.may_dial).

Who may do what (docs/dialer.md "Campaign API and roles"):
- admins: every campaign, and the system-wide do-not-call list;
- campaign managers: their team's campaigns (create, edit, start, pause, resume, stop) and those campaigns'
  do-not-call lists;
- supervisors: read their team's campaigns, and pause or stop them (the floor's brake when its agents are swamped),
  never create, edit, start or resume one;
- agents and restricted tokens: none (403: campaigns are not theirs at all).
A campaign of another team is "not found" (404), so ids tell nothing about other teams.
"""

from __future__ import annotations

import asyncio

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import json

from sqlalchemy import ARRAY, BigInteger, ColumnElement, String, any_, bindparam, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.dialer import dispositions, lifecycle
from callcenter.dialer.campaign import CampaignDefinition, parse_campaign
from callcenter.dialer.compliance import DialFacts, DialRules, PastAttempt, may_dial
from callcenter.dialer.dnc_store import NumberFlags
from callcenter.dialer.lifecycle import Action
from callcenter.dialer.outcomes import AttemptOutcome, CampaignMode, CampaignState
from callcenter.dialer.script_store import check_custom_fields
from callcenter.dialer.verdict import Permit, Reason, Refusal
from callcenter.reports import saved
from callcenter.reports.definition import DEFAULT_COLUMNS, MAX_COLUMNS, Checked, ReportEntity
from callcenter.reports.query import Page, fetch_page, prepare
from crm_core.access import Principal
from crm_core.dialer_models import AttemptState, Campaign, CampaignAttempt, DncEntry
from crm_core.errors import Conflict, Forbidden, Invalid, NotFound
from crm_core.models import CallConsent, Contact, Lead, Phone, Role, Team, User
from crm_core.report_models import SavedReport
from crm_core.types import utcnow

__all__ = [
    "DIALABLE", "ListPage", "ListRow", "create", "creator_scope", "dial_list_figures", "dial_list_page", "edit",
    "get_campaign", "list_campaigns", "may_manage", "may_read", "may_use_dnc_of", "team_extensions", "transition",
]

# Records a campaign can call: those with numbers of their own (or, for a deal, its contact's / company's).
DIALABLE = frozenset({ReportEntity.CONTACTS, ReportEntity.LEADS, ReportEntity.DEALS, ReportEntity.COMPANIES})
# The column every dial-list row carries (callcenter.reports.query: a record's first number, as E.164).
PHONE_COLUMN = "primary_phone"
_READERS = frozenset({Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR})
_MANAGERS = frozenset({Role.ADMIN, Role.CAMPAIGN_MANAGER})
# What a supervisor may do to a campaign of their team.
_SUPERVISOR_ACTIONS = frozenset({Action.PAUSE, Action.STOP})


# -- who -------------------------------------------------------------------------------------------------------------


def may_read(principal: Principal) -> None:
    """Forbidden unless the caller's role reads campaigns at all."""
    if principal.scope is not None or principal.role not in _READERS:
        raise Forbidden("campaigns are for campaign managers, supervisors and admins")


def may_manage(principal: Principal) -> None:
    if principal.scope is not None or principal.role not in _MANAGERS:
        raise Forbidden("only a campaign manager or an admin creates, changes and starts campaigns")


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    if principal.team_id is None:
        return false()  # a manager of no team manages nothing (``== None`` would match every team-less campaign)
    return Campaign.team_id == principal.team_id


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: int, *, for_update: bool = False
) -> Campaign:
    may_read(principal)
    query = select(Campaign).where(Campaign.id == campaign_id, _visible(principal))
    if for_update:
        # Row lock on PostgreSQL (SQLite's writer lock serialises anyway): two clicks never both start it.
        query = query.with_for_update()
    campaign = await session.scalar(query)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", field="id")
    return campaign


async def list_campaigns(session: AsyncSession, principal: Principal) -> Any:
    may_read(principal)
    return select(Campaign).where(_visible(principal)).order_by(Campaign.id.desc())


async def may_use_dnc_of(session: AsyncSession, principal: Principal, campaign_id: int, *, write: bool) -> Campaign:
    """The campaign whose do-not-call list the caller reads (its readers) or changes (its managers)."""
    campaign = await get_campaign(session, principal, campaign_id)
    if write:
        may_manage(principal)
    return campaign


# -- create and edit -------------------------------------------------------------------------------------------------


async def _check_sources(session: AsyncSession, principal: Principal, definition: CampaignDefinition,
                         *, prefix: str = "") -> None:
    """The team exists and is the caller's own (an admin: any); the caller may read the report, which lists records
    with numbers. ``prefix``: where these fields are in the request (``changes.`` for an edit)."""
    if await session.get(Team, definition.team_id) is None:
        raise Invalid(f"team {definition.team_id} does not exist", field=prefix + "team_id")
    if not principal.is_admin and definition.team_id != principal.team_id:
        raise Forbidden("a campaign manager runs campaigns for their own team only", field=prefix + "team_id")
    try:
        report = await saved.get_saved(session, principal, definition.saved_report_id)
    except NotFound:
        raise Invalid(f"no saved report {definition.saved_report_id} that you may read",
                      field=prefix + "saved_report_id") from None
    if ReportEntity(report.entity) not in DIALABLE:
        raise Invalid(f"a campaign calls contacts, leads, deals or companies; this report lists {report.entity}",
                      field=prefix + "saved_report_id")


def _columns_from(campaign: Campaign, definition: CampaignDefinition) -> None:
    campaign.name, campaign.saved_report_id, campaign.team_id = (
        definition.name, definition.saved_report_id, definition.team_id)
    campaign.mode, campaign.priority = definition.mode, definition.priority
    campaign.definition = definition.to_json()


async def create(session: AsyncSession, principal: Principal, definition: CampaignDefinition) -> Campaign:
    may_manage(principal)
    await _check_sources(session, principal, definition)
    await dispositions.check_references(session, definition)
    await check_custom_fields(session, definition.script, field="script")
    campaign = Campaign(state=CampaignState.DRAFT, created_by_id=principal.user_id, version=1)
    _columns_from(campaign, definition)
    session.add(campaign)
    await session.flush()
    return campaign


async def edit(
    session: AsyncSession, principal: Principal, campaign_id: int, *, version: int, changes: dict[str, Any]
) -> Campaign:
    """Replace top-level fields of the definition (a whole ``law`` or ``windows`` at a time), checked as a new
    definition; ``version`` must be the one the editor read, so an edit made on a stale copy is refused."""
    may_manage(principal)
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    if campaign.version != version:
        raise Conflict(f"the campaign changed meanwhile: it is at version {campaign.version}; read it again",
                       field="version", current_version=campaign.version)
    if campaign.state not in lifecycle.EDITABLE:
        raise Conflict(f"a {campaign.state.value} campaign cannot be changed"
                       + (" (pause it first)" if campaign.state is CampaignState.RUNNING else ""),
                       field="state", state=campaign.state.value)
    try:
        definition = parse_campaign({**campaign.definition, **changes})
    except Invalid as exc:
        raise Invalid(exc.message, field=f"changes.{exc.field}" if exc.field else "changes") from None
    if (definition.team_id, definition.saved_report_id) != (campaign.team_id, campaign.saved_report_id):
        await _check_sources(session, principal, definition, prefix="changes.")
    if "dispositions" in changes or "team_id" in changes:
        await dispositions.check_references(session, definition, prefix="changes.")
    if "script" in changes:
        await check_custom_fields(session, definition.script, field="changes.script")
    _columns_from(campaign, definition)
    campaign.version += 1
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


# -- the dial list ---------------------------------------------------------------------------------------------------


async def creator_scope(session: AsyncSession, campaign: Campaign) -> tuple[Principal, SavedReport]:
    """Whose scope the list is evaluated in (the campaign's creator, as they are now) and the report, or Conflict with
    why the campaign has no list: the creator or the report is gone, or the creator may no longer read the report."""
    creator = None if campaign.created_by_id is None else await session.get(User, campaign.created_by_id)
    if creator is None or not creator.active:
        raise Conflict("the campaign's creator is gone or deactivated: its list has no scope; create it again",
                       field="created_by_id")
    principal = Principal(user_id=creator.id, role=creator.role, team_id=creator.team_id)
    if campaign.saved_report_id is None:
        raise Conflict("the campaign's saved report was deleted: it has no list", field="saved_report_id")
    try:
        report = await saved.get_saved(session, principal, campaign.saved_report_id)
    except NotFound:
        raise Conflict("the campaign's creator may no longer read its saved report", field="saved_report_id") from None
    return principal, report


async def _checked_list(session: AsyncSession, report: SavedReport) -> Checked:
    """The report as a dial list: its filters and sort (so its keyset cursor), its columns with the number first."""
    definition = saved.definition_of(report)
    shown = [c for c in (definition.columns or DEFAULT_COLUMNS[definition.entity]) if c != PHONE_COLUMN]
    columns = [PHONE_COLUMN, *shown][:MAX_COLUMNS]
    return await prepare(session, definition.model_copy(update={"columns": columns}))


@dataclass(frozen=True, slots=True)
class ListRow:
    record_id: int
    e164: str | None
    verdict: Permit | Refusal
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListPage:
    entity: ReportEntity
    checked: Checked
    rows: list[ListRow]
    next_cursor: str | None
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def permitted(self) -> int:
        return sum(1 for row in self.rows if row.verdict)


def _epoch_s(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite gives back naive UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _one_of(dialect: str, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` as ONE bound parameter: PostgreSQL ``= ANY($1)`` over an array, SQLite ``IN (SELECT value
    FROM json_each(?))``; both probe the column's index per value. A plain ``in_`` of a page's 1,000 numbers renders
    1,000 parameters into the statement on every execution (a new statement text per list length): SQLAlchemy spent
    ~35 ms a statement building them, a third of a page's time, and PostgreSQL planned each one afresh."""
    if dialect == "postgresql":
        kind = BigInteger() if values and isinstance(values[0], int) else String()
        return column == any_(bindparam(None, list(values), type_=ARRAY(kind)))
    each = func.json_each(bindparam(None, json.dumps(list(values)), type_=String())).table_valued("value")
    return column.in_(select(each.c.value))


async def _core(session: AsyncSession, statement: Any) -> Any:
    """A statement of plain columns run on the session's connection (its transaction), skipping the ORM's result
    processing: ~3 ms of a page's five statements of 1,000 rows each."""
    return await (await session.connection()).execute(statement)


async def _flags(
    session: AsyncSession, campaign_id: int, wanted: Sequence[tuple[str, int | None, int | None]]
) -> list[NumberFlags]:
    """dnc_store.number_flags for a page of (e164, contact_id, lead_id) in four statements instead of one per row,
    with the same meaning (tests/api/test_campaign_routes.py compares them). The check immediately before a dial
    stays dnc_store's; this is the list's view of it."""
    dialect = session.get_bind().dialect.name
    numbers = sorted({e164 for e164, _, _ in wanted})
    # Every entry of these numbers (the e164 index), the other campaigns' left out here: with "campaign_id IS NULL OR
    # campaign_id = ?" in the statement SQLite walked the campaign_id index through the whole system-wide list.
    listed = (await _core(session,
        select(DncEntry.e164, DncEntry.campaign_id).where(_one_of(dialect, DncEntry.e164, numbers))
    )).all()
    system = {e for e, c in listed if c is None}
    on_campaign = {e for e, c in listed if c == campaign_id}
    owners: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for e164, contact_id, lead_id in (await _core(session,
        select(Phone.e164, Phone.contact_id, Phone.lead_id).where(_one_of(dialect, Phone.e164, numbers))
    )).all():
        if contact_id is not None:
            owners[e164].add(("c", contact_id))
        if lead_id is not None:
            owners[e164].add(("l", lead_id))
    contact_ids = {i for rows in owners.values() for k, i in rows if k == "c"} | {c for _, c, _ in wanted if c}
    lead_ids = {i for rows in owners.values() for k, i in rows if k == "l"} | {lead for _, _, lead in wanted if lead}
    records: dict[tuple[str, int], tuple[bool, CallConsent]] = {}
    for kind, model, ids in (("c", Contact, contact_ids), ("l", Lead, lead_ids)):
        if ids:
            for rid, flagged, consent in (await _core(session,
                select(model.id, model.do_not_call, model.call_consent).where(_one_of(dialect, model.id, sorted(ids)))
            )).all():
                # The column type gives the enum already (no second lookup per row); a raw string becomes one.
                consent = consent if type(consent) is CallConsent else CallConsent(consent)
                records[(kind, rid)] = (bool(flagged), consent)
    # A row's records are its number's owners plus its own record, which is nearly always one of them: the flags of
    # the owners alone are then computed once per number.
    per_number: dict[str, NumberFlags] = {}
    out = []
    for e164, contact_id, lead_id in wanted:
        owned = owners.get(e164, ())
        own = [k for k in (("c", contact_id), ("l", lead_id)) if k[1] is not None and k not in owned]
        if own:
            out.append(_strictest(e164 in system, e164 in on_campaign, [*owned, *own], records))
            continue
        flags = per_number.get(e164)
        if flags is None:
            flags = per_number[e164] = _strictest(e164 in system, e164 in on_campaign, owned, records)
        out.append(flags)
    return out


def _strictest(system: bool, on_campaign: bool, keys: Any,
               records: dict[tuple[str, int], tuple[bool, CallConsent]]) -> NumberFlags:
    if len(keys) == 1:  # the usual number, one record's: its own flag and consent
        (key,) = keys
        flagged, consent = records.get(key, (False, CallConsent.UNKNOWN))
        return NumberFlags(system, on_campaign, flagged, consent)
    found = [records[k] for k in keys if k in records]
    consents = {consent for _, consent in found}
    if CallConsent.REFUSED in consents:
        consent = CallConsent.REFUSED
    elif CallConsent.GRANTED in consents and CallConsent.UNKNOWN not in consents:
        consent = CallConsent.GRANTED
    else:
        consent = CallConsent.UNKNOWN
    return NumberFlags(system, on_campaign, any(f for f, _ in found), consent)


async def _history(
    session: AsyncSession, campaign_id: int, numbers: Sequence[str]
) -> tuple[dict[str, tuple[PastAttempt, ...]], dict[str, float]]:
    """This campaign's attempts per number (oldest first; refusals are not attempts) and each number's latest
    abandoned call by any campaign."""
    dialect = session.get_bind().dialect.name
    attempts: dict[str, list[PastAttempt]] = defaultdict(list)
    for e164, ended_at, outcome in (await _core(session,
        select(CampaignAttempt.e164, CampaignAttempt.ended_at, CampaignAttempt.outcome)
        .where(CampaignAttempt.campaign_id == campaign_id, _one_of(dialect, CampaignAttempt.e164, numbers),
               CampaignAttempt.state != AttemptState.REFUSED)
        .order_by(CampaignAttempt.id)
    )).all():
        attempts[e164].append(PastAttempt(_epoch_s(ended_at), None if outcome is None else AttemptOutcome(outcome)))
    abandoned = {
        e164: s for e164, at in (await _core(session,
            select(CampaignAttempt.e164, func.max(CampaignAttempt.ended_at))
            .where(_one_of(dialect, CampaignAttempt.e164, numbers),
                   CampaignAttempt.outcome == AttemptOutcome.ABANDONED)
            .group_by(CampaignAttempt.e164)
        )).all() if (s := _epoch_s(at)) is not None
    }
    return {e164: tuple(past) for e164, past in attempts.items()}, abandoned


@dataclass(frozen=True, slots=True)
class _Judging:
    """What every page of one walk through the list shares: whose scope, the prepared report, the rules."""

    scope: tuple[Principal, SavedReport]
    checked: Checked
    rules: DialRules
    reserved: bool  # preview and progressive dial only for an agent already waiting: the 72 h rule's reserved agent


async def _judging(session: AsyncSession, campaign: Campaign, scope: tuple[Principal, SavedReport] | None,
                   checked: Checked | None) -> _Judging:
    scope = scope or await creator_scope(session, campaign)
    checked = checked or await _checked_list(session, scope[1])
    definition = parse_campaign(campaign.definition)
    return _Judging(scope, checked, definition.rules(),
                    definition.mode in (CampaignMode.PREVIEW, CampaignMode.PROGRESSIVE))


_NO_NUMBER = Refusal(Reason.INVALID_NUMBER, "the record has no phone number")


async def _read_page(
    session: AsyncSession, campaign: Campaign, judging: _Judging, *, cursor: str | None, limit: int, moment: datetime
) -> tuple[Page, Callable[[], list[Permit | Refusal]]]:
    """One keyset page of the report with everything its verdicts need (the statements), and the pure judging of its
    rows, in order, to run off the event loop: a number not judged before costs ~40 us of libphonenumber (cached
    after: callcenter.dialer.number_facts), so a fresh 1,000-row page is ~50 ms of CPU."""
    principal, _ = judging.scope
    page: Page = await fetch_page(session, principal, judging.checked, cursor=cursor, limit=limit, now=moment)
    entity = judging.checked.definition.entity
    contact_rows, lead_rows = entity is ReportEntity.CONTACTS, entity is ReportEntity.LEADS
    numbered = [(row[PHONE_COLUMN], row["id"] if contact_rows else None, row["id"] if lead_rows else None)
                for row in page.rows if row.get(PHONE_COLUMN)]
    flag_list = await _flags(session, campaign.id, numbered) if numbered else []
    attempts, abandoned = await _history(session, campaign.id, sorted({n for n, _, _ in numbered}))
    now_s, rules, reserved = moment.timestamp(), judging.rules, judging.reserved

    def judge() -> list[Permit | Refusal]:
        numbered_flags = iter(flag_list)
        verdicts: list[Permit | Refusal] = []
        for row in page.rows:
            e164 = row.get(PHONE_COLUMN)
            if not e164:
                verdicts.append(_NO_NUMBER)
                continue
            f = next(numbered_flags)
            verdicts.append(may_dial(now_s, DialFacts(
                e164=e164, on_system_dnc=f.on_system_dnc, on_campaign_dnc=f.on_campaign_dnc,
                record_do_not_call=f.record_do_not_call, consent=f.consent,
                attempts=attempts.get(e164, ()), last_abandoned_s=abandoned.get(e164),
                agent_reserved=reserved,
            ), rules))
        return verdicts

    return page, judge


def _refused(verdicts: Sequence[Permit | Refusal]) -> dict[str, int]:
    refused: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        if isinstance(verdict, Refusal):
            refused[verdict.reason.value] += 1
    return dict(refused)


async def dial_list_page(
    session: AsyncSession,
    campaign: Campaign,
    *,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
    scope: tuple[Principal, SavedReport] | None = None,
    checked: Checked | None = None,
) -> ListPage:
    """One page of the dial list as of ``now``: the report's rows in its creator's scope, each with its number and
    the verdict may_dial gives it now, paged with the report's keyset cursor (CursorError: field ``cursor``)."""
    judging = await _judging(session, campaign, scope, checked)
    page, judge = await _read_page(session, campaign, judging, cursor=cursor, limit=limit, moment=now or utcnow())
    verdicts = await asyncio.to_thread(judge)
    rows = [ListRow(row["id"], row.get(PHONE_COLUMN), verdict,
                    {k: v for k, v in row.items() if k not in ("id", PHONE_COLUMN)})
            for row, verdict in zip(page.rows, verdicts, strict=True)]
    return ListPage(judging.checked.definition.entity, judging.checked, rows, page.next_cursor, _refused(verdicts))


async def dial_list_figures(
    session: AsyncSession, campaign: Campaign, *, now: datetime | None = None, batch: int = 1000
) -> tuple[int, int, dict[str, int]]:
    """(rows, permitted now, refused by reason) over the whole list, a keyset page at a time (memory flat in the
    list's size: a list of 100,000 rows is read 1,000 at a time, never held). A page is judged in a thread while the
    next one is read (the database works meanwhile); at most two pages are held."""
    moment = now or utcnow()  # one "now" for every page, as iter_rows does
    judging = await _judging(session, campaign, None, None)
    total = permitted = 0
    refused: dict[str, int] = defaultdict(int)

    def count(verdicts: list[Permit | Refusal]) -> None:
        nonlocal total, permitted
        total += len(verdicts)
        permitted += len(verdicts)
        for reason, n in _refused(verdicts).items():
            refused[reason] += n
            permitted -= n

    cursor: str | None = None
    judged: asyncio.Future[list[Permit | Refusal]] | None = None
    try:
        while True:
            page, judge = await _read_page(session, campaign, judging, cursor=cursor, limit=batch, moment=moment)
            if judged is not None:
                count(await judged)
            judged = asyncio.ensure_future(asyncio.to_thread(judge))
            if page.next_cursor is None:
                count(await judged)
                return total, permitted, dict(refused)
            cursor = page.next_cursor
    finally:
        if judged is not None and not judged.done():
            judged.cancel()  # the thread finishes on its own and its verdicts are dropped (it has no side effects)


# -- start, pause, resume, stop --------------------------------------------------------------------------------------


async def transition(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    action: Action,
    *,
    logged_in_agents: Any,
) -> Campaign:
    """Apply a manager's action. ``logged_in_agents(team_id) -> awaitable list of extensions``: who of the team can
    take calls now (the live model's, read by the API layer). Start and resume need the report to match something
    in its creator's scope and an agent of the team logged in; each refusal is a Conflict naming the cause."""
    may_read(principal)
    if principal.role is Role.SUPERVISOR and action not in _SUPERVISOR_ACTIONS:
        raise Forbidden(f"a supervisor may pause or stop their team's campaigns, not {action.value} them")
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    try:
        state = lifecycle.apply(campaign.state, action)
    except lifecycle.NotAllowed as exc:
        raise Conflict(exc.message, field="state", state=campaign.state.value,
                       allowed=[a.value for a in lifecycle.allowed_actions(campaign.state)]) from None
    if action in (Action.START, Action.RESUME):
        page = await dial_list_page(session, campaign, cursor=None, limit=1)
        if not page.rows:
            raise Conflict("the saved report matches no record (in its creator's scope): there is nothing to call",
                           field="saved_report_id")
        if campaign.team_id is None or not await logged_in_agents(campaign.team_id):
            raise Conflict("no agent of the campaign's team is logged in: nobody could take its calls",
                           field="team_id")
    who = f"user {principal.user_id}" if principal.user_id is not None else "the service"
    campaign.state = state
    campaign.state_reason = f"{action.value} by {who}"
    campaign.version += 1
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def team_extensions(session: AsyncSession, team_id: int) -> list[str]:
    """The extensions of the team's active users (who may be logged in to take its calls)."""
    return list(await session.scalars(
        select(User.extension).where(User.team_id == team_id, User.active.is_(True), User.extension.is_not(None))
        .order_by(User.extension)
    ))
