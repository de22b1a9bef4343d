"""Routing's edges: the CRM lookup and the agent directory read from the database, and agent controls over AMI.

Kept apart from the pure policy and the stores so that routing can be tested and benchmarked without a database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.orm import aliased

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed
from callcenter.routing.crm import CrmMatch
from callcenter.routing.directory import AgentInfo
from crm_core.db import Database
from crm_core.models import (
    OPEN_CALLBACK, Activity, ActivityKind, Company, Contact, Deal, DealStatus, Lead, Phone, Task, TaskKind, TaskStatus, Team, User,
)
from crm_core.phones import try_normalize
from crm_core.records import Entity, PhoneRules, owner_from_rows, phone_owner_query

__all__ = ["AmiAgentControl", "DbCrmLookup", "load_agents", "open_callbacks_by_user"]

log = logging.getLogger("callcenter.routing")


def _best_open_deal(deal_owner: Any, phone_owner: Any) -> Any:
    """The id of the phone owner's most recently updated open deal that has an owner (whose owner wins)."""
    return (
        select(Deal.id)
        .where(deal_owner == phone_owner, Deal.status == DealStatus.OPEN, Deal.responsible_id.is_not(None))
        .order_by(Deal.updated_at.desc(), Deal.id.desc())
        .limit(1)
        .correlate(Phone)
        .scalar_subquery()
    )


def _last_answered_call(e164: Any) -> Any:
    return (
        select(Activity.id)
        .where(
            Activity.kind == ActivityKind.CALL,
            Activity.result == "answered",
            Activity.user_id.is_not(None),
            or_(Activity.from_e164 == e164, Activity.to_e164 == e164),
        )
        .order_by(Activity.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _lookup_statement(*, names: bool) -> Any:
    deal, last = aliased(Deal), aliased(Activity)
    e164 = bindparam("e164")
    statement = (
        phone_owner_query(e164)
        .add_columns(deal.id, deal.responsible_id, last.user_id, last.started_at)
        .outerjoin(deal, deal.id == case(
            # CASE, not COALESCE: evaluated lazily, so a contact's number never searches companies' deals.
            (Phone.contact_id.is_not(None), _best_open_deal(Deal.contact_id, Phone.contact_id)),
            (Phone.company_id.is_not(None), _best_open_deal(Deal.company_id, Phone.company_id)),
        ))
        .outerjoin(last, last.id == _last_answered_call(e164))
    )
    if not names:
        return statement
    # The caller name for the phone's display, in the same round trip (the route's time budget has no room for a
    # second one): phone_owner_query already joins the owner rows; the contact's company is one more join, the open
    # callback an EXISTS on the partial unique index of open callbacks by number (OPEN_CALLBACK: with bound values
    # SQLite scanned every open callback, 100 us a lookup instead of 11 with 2,000 of them).
    contact_company = aliased(Company)
    open_callback = select(Task.id).where(Task.callback_e164 == e164, OPEN_CALLBACK).exists()
    return (
        statement.add_columns(
            Contact.first_name, Contact.last_name, Company.name, contact_company.name, Lead.title, open_callback
        ).outerjoin(contact_company, contact_company.id == Contact.company_id)
    )


# built once: this runs for every call that misses the cache
_LOOKUP = _lookup_statement(names=True)
_LOOKUP_NO_NAMES = _lookup_statement(names=False)


@dataclass(frozen=True, slots=True)
class DbCrmLookup:
    """``CrmLookup`` on the CRM tables: the record of the number, its open deal (whose owner wins), and the user who
    last answered a call with that number. One statement in a read-only transaction: this runs for every inbound
    call that misses the cache."""

    db: Database
    phone_rules: PhoneRules
    vip_numbers: frozenset[str] = frozenset()
    names: bool = True  # fetch what the caller name on the agent's display needs (routing.caller_name.enabled)

    async def __call__(self, raw: str) -> CrmMatch | None:
        number = try_normalize(raw, region=self.phone_rules.region)
        if number is None or self.phone_rules.is_own(raw, number):
            return None
        async with self.db.read_session() as session:
            statement = _LOOKUP if self.names else _LOOKUP_NO_NAMES
            rows = (await session.execute(statement, {"e164": number.e164})).all()
        found = owner_from_rows(rows, number)
        if found is None:
            return None
        owner, row = found
        deal_id, deal_responsible, last_user, last_at = row[8:12]
        display: dict[str, Any] = {}
        if self.names:
            first, last_name, company, contact_company, lead_title, open_callback = row[12:18]
            # the row's owner decides which name columns count (phone_owner_query joins all three owners)
            if owner.entity is Entity.CONTACT:
                display["contact_name"] = " ".join(p for p in (first, last_name) if p) or None
                display["company_name"] = contact_company
            elif owner.entity is Entity.COMPANY:
                display["company_name"] = company
            else:
                display["lead_title"] = lead_title
            display["open_callback"] = bool(open_callback)
        entity, record_id, responsible = owner.entity.value, owner.id, owner.responsible_id
        if deal_id is not None and owner.entity in (Entity.CONTACT, Entity.COMPANY):
            entity, record_id, responsible = "deal", deal_id, deal_responsible
        return CrmMatch(
            entity=entity,
            record_id=record_id,
            e164=owner.e164,
            responsible_user_id=responsible,
            last_agent_user_id=last_user,
            last_talked_at_s=last_at.timestamp() if last_at else None,
            vip=owner.e164 in self.vip_numbers,
            **display,
        )


async def load_agents(db: Database, *, skills: Mapping[str, Mapping[str, int]] = {}) -> list[AgentInfo]:
    """Every active user with a desk extension, with their team's name and the skills configured for them."""
    async with db.session() as session:
        rows = await session.execute(
            select(User.id, User.extension, User.name, Team.name)
            .outerjoin(Team, Team.id == User.team_id)
            .where(User.extension.is_not(None), User.active.is_(True))
        )
        return [
            AgentInfo(agent=ext, user_id=user_id, name=name, team=team, skills=dict(skills.get(ext, {})))
            for user_id, ext, name, team in rows
        ]


async def open_callbacks_by_user(db: Database) -> dict[int, int]:
    """Open callback tasks per assignee: part of an agent's load."""
    async with db.session() as session:
        rows = await session.execute(
            select(Task.assignee_id, func.count())
            .where(Task.kind == TaskKind.CALLBACK, Task.status == TaskStatus.OPEN, Task.assignee_id.is_not(None))
            .group_by(Task.assignee_id)
        )
        return {user_id: count for user_id, count in rows}


@dataclass(frozen=True, slots=True)
class AmiAgentControl:
    """Agent controls as Asterisk queue-member actions, so that app_queue and our routing agree on who is paused."""

    ami: Any  # AmiConnection: send(Action)

    async def pause(self, interface: str, reason: str, *, paused: bool = True) -> None:
        # No Queue header: Asterisk pauses (or unpauses) the member in every queue it is in.
        await self.ami.send(actions.queue_pause(interface=interface, paused=paused, reason=reason or None))

    async def log_in(self, interface: str, queues: Iterable[str], *, member_name: str) -> None:
        """Idempotent, as an agent sees it: already in a queue is logged in (app_queue: "Already there")."""
        for queue in queues:
            try:
                await self.ami.send(actions.queue_add(queue=queue, interface=interface, member_name=member_name))
            except AmiActionFailed as exc:
                if "already there" not in exc.message.lower():
                    raise

    async def log_out(self, interface: str, queues: Iterable[str]) -> list[str]:
        """The queues the member was removed from; one it was not in is no error ("Not there")."""
        removed = []
        for queue in queues:
            try:
                await self.ami.send(actions.queue_remove(queue=queue, interface=interface))
                removed.append(queue)
            except AmiActionFailed as exc:
                if "not there" not in exc.message.lower():
                    raise
        return removed
