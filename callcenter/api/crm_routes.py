"""REST routes of the CRM core: /api/v1/..."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from callcenter.automation.facts import DealStageChanged

from callcenter.api.call_grant import check_quick_lead_fields, handles_call_of_lead
from callcenter.api.sockets import OPEN_SOCKETS
from callcenter.api.framework import Api, Call, enum_schema
from callcenter.app_keys import DATABASE
from callcenter.outbox.pipeline import poke
from callcenter.outbox.writer import append_in
from crm_core import deals, profile, records, users, work
from crm_core.access import Principal
from crm_core.errors import Conflict, Forbidden, Invalid, NotFound
from crm_core.models import (
    ActivityKind,
    AuditEntry,
    CustomFieldDef,
    DealStageChange,
    DealStatus,
    Direction,
    Entity,
    LeadStatus,
    Role,
    TaskKind,
    TaskStatus,
)
from crm_core.schemas import (
    ActivityIn,
    ActivityOut,
    AuditOut,
    CompanyIn,
    CompanyOut,
    CompanyPatch,
    ContactIn,
    ContactOut,
    ContactPatch,
    ConvertIn,
    CountersOut,
    CustomFieldIn,
    CustomFieldOut,
    DealIn,
    DealOut,
    DealPatch,
    LeadIn,
    LeadOut,
    LeadPatch,
    LookupOut,
    PhoneIn,
    PipelineIn,
    PipelineOut,
    ProfileOut,
    StageChangeOut,
    StageMove,
    TaskIn,
    TaskOut,
    TaskPatch,
    TeamIn,
    TeamOut,
    TeamPatch,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from crm_core.paging import paginate
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"
PAGED = ("limit", "offset")


def _record_routes(entity: Entity, plural: str, body: Any, patch: Any, out: Any, extra_query: tuple[str, ...]) -> None:
    """The same CRUD shape for contacts, companies and leads."""
    base = f"{V1}/{plural}"

    async def create(call: Call) -> Any:
        return await records.create(call.session, call.principal, call.rules, entity, call.body)

    async def list_(call: Call) -> Any:
        limit, offset = call.page
        return await records.list_records(
            call.session,
            call.principal,
            call.rules,
            entity,
            q=call.query_str("q"),
            phone=call.query_str("phone", max_length=64),
            email=call.query_str("email", max_length=320),
            responsible_id=call.query_int("responsible_id"),
            status=call.query_enum("status", LeadStatus) if entity is Entity.LEAD else None,
            company_id=call.query_int("company_id") if entity is Entity.CONTACT else None,
            limit=limit,
            offset=offset,
        )

    async def get(call: Call) -> Any:
        record_id = call.path_int("id")
        try:
            return await records.get(call.session, call.principal, entity, record_id)
        except NotFound:
            # The caller's lead on a call the agent is handling (callcenter.api.call_grant).
            if entity is not Entity.LEAD or not await handles_call_of_lead(call, record_id):
                raise
            return await records.get(call.session, Principal.system(), entity, record_id)

    async def update(call: Call) -> Any:
        changes = call.body.model_dump(exclude_unset=True)
        record_id = call.path_int("id")
        try:
            await records.get(call.session, call.principal, entity, record_id)
        except NotFound:
            if entity is not Entity.LEAD or not await handles_call_of_lead(call, record_id):
                raise
            check_quick_lead_fields(changes)
            return await records.update(call.session, Principal.system(), entity, record_id, changes)
        return await records.update(call.session, call.principal, entity, record_id, changes)

    async def delete(call: Call) -> None:
        await records.delete(call.session, call.principal, entity, call.path_int("id"))

    async def add_phone(call: Call) -> Any:
        return await records.add_phone(call.session, call.principal, call.rules, entity, call.path_int("id"), call.body)

    async def remove_phone(call: Call) -> Any:
        e164 = call.request.match_info["e164"]
        return await records.remove_phone(call.session, call.principal, entity, call.path_int("id"), e164)

    async def timeline(call: Call) -> Any:
        limit = call.query_int("limit", default=100, low=1, high=500) or 100
        return await profile.profile(call.session, call.principal, entity, call.path_int("id"), limit=limit)

    for handler in (create, list_, get, update, delete, add_phone, remove_phone, timeline):
        handler.__name__ = f"{handler.__name__.strip('_')}_{entity.value}"
    name = entity.value
    api.route("POST", base, summary=f"Create a {name} (409 if a phone or email belongs to a record)", body=body, response=out, status=201)(create)
    api.route("GET", base, summary=f"List and search {plural}", response=out, query=("q", "phone", "email", "responsible_id", *extra_query, *PAGED),
              query_schemas={"status": enum_schema(LeadStatus)})(list_)
    api.route("GET", base + "/{id}", summary=f"Read a {name}", response=out)(get)
    api.route("PATCH", base + "/{id}", summary=f"Change a {name}", body=patch, response=out)(update)
    api.route("DELETE", base + "/{id}", summary=f"Delete a {name}", status=204)(delete)
    api.route("POST", base + "/{id}/phones", summary=f"Add a phone number to a {name}", body=PhoneIn, response=out, status=201)(add_phone)
    api.route("DELETE", base + "/{id}/phones/{e164}", summary=f"Remove a phone number from a {name}", response=out)(remove_phone)
    api.route("GET", base + "/{id}/timeline", summary=f"The {name}'s whole profile and timeline", response=ProfileOut, query=("limit",))(timeline)


_record_routes(Entity.CONTACT, "contacts", ContactIn, ContactPatch, ContactOut, ("company_id",))
_record_routes(Entity.COMPANY, "companies", CompanyIn, CompanyPatch, CompanyOut, ())
_record_routes(Entity.LEAD, "leads", LeadIn, LeadPatch, LeadOut, ("status",))


@api.route("POST", V1 + "/leads/{id}/convert", summary="Convert a lead into contact / company / deal", body=ConvertIn, response=LeadOut)
async def convert_lead(call: Call) -> Any:
    body: ConvertIn = call.body
    return await records.convert_lead(
        call.session,
        call.principal,
        call.path_int("id"),
        create_contact=body.create_contact,
        create_company=body.create_company,
        deal=body.deal,
    )


@api.route("GET", V1 + "/lookup", summary="Who a phone number belongs to (any format)", response=LookupOut, query=("phone",))
async def lookup(call: Call) -> Any:
    return await _visible_owner(call)


async def _visible_owner(call: Call) -> Any:
    """The record owning ?phone= if the caller may see it. One answer for "no record" and "not yours", naming
    neither the record's type nor its id: a lookup must not tell whether a number is someone else's customer."""
    raw = call.query_str("phone", max_length=64)
    owner = await records.lookup_phone(call.session, call.rules, raw)
    if owner is not None:
        try:
            await records.get(call.session, call.principal, owner.entity, owner.id)
            return owner
        except NotFound:
            pass
    raise NotFound("no record you may see has this number", field="phone")


@api.route("GET", V1 + "/timeline", summary="Profile and timeline of whoever owns a phone number", response=ProfileOut, query=("phone", "limit"))
async def timeline_by_phone(call: Call) -> Any:
    owner = await _visible_owner(call)
    limit = call.query_int("limit", default=100, low=1, high=500) or 100
    return await profile.profile(call.session, call.principal, owner.entity, owner.id, limit=limit)


# Pipelines and deals


@api.route("POST", V1 + "/pipelines", summary="Create a pipeline with ordered stages (admin)", body=PipelineIn, response=PipelineOut, status=201)
async def create_pipeline(call: Call) -> Any:
    return await deals.create_pipeline(call.session, call.principal, call.body)


@api.route("GET", V1 + "/pipelines", summary="List pipelines and their stages", response=PipelineOut, many=True)
async def list_pipelines(call: Call) -> Any:
    return await deals.list_pipelines(call.session)


@api.route("POST", V1 + "/deals", summary="Create a deal", body=DealIn, response=DealOut, status=201)
async def create_deal(call: Call) -> Any:
    return await deals.create_deal(call.session, call.principal, call.body)


@api.route(
    "GET",
    V1 + "/deals",
    summary="List deals",
    response=DealOut,
    query=("pipeline_id", "stage_id", "status", "contact_id", "company_id", "responsible_id", *PAGED),
    query_schemas={"status": enum_schema(DealStatus)},
)
async def list_deals(call: Call) -> Any:
    limit, offset = call.page
    return await deals.list_deals(
        call.session,
        call.principal,
        pipeline_id=call.query_int("pipeline_id"),
        stage_id=call.query_int("stage_id"),
        status=call.query_enum("status", DealStatus),
        contact_id=call.query_int("contact_id"),
        company_id=call.query_int("company_id"),
        responsible_id=call.query_int("responsible_id"),
        limit=limit,
        offset=offset,
    )


@api.route("GET", V1 + "/deals/{id}", summary="Read a deal", response=DealOut)
async def get_deal(call: Call) -> Any:
    return await deals.get_deal(call.session, call.principal, call.path_int("id"))


@api.route("PATCH", V1 + "/deals/{id}", summary="Change a deal", body=DealPatch, response=DealOut)
async def update_deal(call: Call) -> Any:
    return await deals.update_deal(call.session, call.principal, call.path_int("id"), call.body.model_dump(exclude_unset=True))


@api.route("POST", V1 + "/deals/{id}/stage", summary="Move a deal to another stage (recorded in its history)", body=StageMove, response=DealOut)
async def move_deal(call: Call) -> Any:
    deal_id = call.path_int("id")
    before = await deals.get_deal(call.session, call.principal, deal_id)
    from_stage = before.stage_id
    deal = await deals.move_stage(call.session, call.principal, deal_id, call.body.stage_id, lost_reason=call.body.lost_reason)
    if deal.stage_id != from_stage:
        change_id = await call.session.scalar(
            select(func.max(DealStageChange.id)).where(DealStageChange.deal_id == deal.id)
        )
        fact = DealStageChanged(
            deal_id=deal.id, from_stage_id=from_stage, to_stage_id=deal.stage_id, status=deal.status.value,
            responsible_id=deal.responsible_id, changed_by_id=call.principal.user_id, change_id=change_id or 0,
        )
        # Into the outbox with the change itself: automation (a worker) reacts to it once it is committed, never to
        # a change that rolled back, and never misses one because a process stopped in between.
        await append_in(call.session, call.request.app[DATABASE], [fact])
        call.after_commit.append(lambda: poke(call.request.app))
    return deal


@api.route("GET", V1 + "/deals/{id}/history", summary="A deal's stage history", response=StageChangeOut, many=True)
async def deal_history(call: Call) -> Any:
    return await deals.stage_history(call.session, call.principal, call.path_int("id"))


@api.route("DELETE", V1 + "/deals/{id}", summary="Delete a deal", status=204)
async def delete_deal(call: Call) -> None:
    await deals.delete_deal(call.session, call.principal, call.path_int("id"))


# Activities and tasks


@api.route("POST", V1 + "/activities", summary="Log a meeting, email, note or task activity", body=ActivityIn, response=ActivityOut, status=201)
async def create_activity(call: Call) -> Any:
    return await work.create_activity(call.session, call.principal, call.body)


@api.route(
    "GET",
    V1 + "/activities",
    summary="List activities",
    response=ActivityOut,
    query=("kind", "direction", "contact_id", "company_id", "lead_id", "deal_id", "user_id", "call_id", *PAGED),
    query_schemas={"kind": enum_schema(ActivityKind), "direction": enum_schema(Direction)},
)
async def list_activities(call: Call) -> Any:
    limit, offset = call.page
    filters = {
        "kind": call.query_enum("kind", ActivityKind),
        "direction": call.query_enum("direction", Direction),
        "call_id": call.query_str("call_id", max_length=64),
        **{key: call.query_int(key) for key in ("contact_id", "company_id", "lead_id", "deal_id", "user_id")},
    }
    return await work.list_activities(call.session, call.principal, filters=filters, limit=limit, offset=offset)


@api.route("GET", V1 + "/activities/{id}", summary="Read an activity", response=ActivityOut)
async def get_activity(call: Call) -> Any:
    return await work.get_activity(call.session, call.principal, call.path_int("id"))


def _task_out(task: Any) -> TaskOut:
    return TaskOut.model_validate(task).model_copy(update={"overdue": work.is_overdue(task, utcnow())})


@api.route("POST", V1 + "/tasks", summary="Create a task or callback (filed under the assignee's team unless team_id is given)", body=TaskIn, response=TaskOut, status=201)
async def create_task(call: Call) -> Any:
    return _task_out(await work.create_task(call.session, call.principal, call.body))


@api.route(
    "GET",
    V1 + "/tasks",
    summary="List tasks",
    response=TaskOut,
    query=("status", "kind", "assignee_id", "team_id", "pool", "contact_id", "lead_id", "deal_id", "overdue", *PAGED),
    query_schemas={"status": enum_schema(TaskStatus), "kind": enum_schema(TaskKind)},
)
async def list_tasks(call: Call) -> Any:
    limit, offset = call.page
    filters = {
        "status": call.query_enum("status", TaskStatus),
        "kind": call.query_enum("kind", TaskKind),
        **{key: call.query_int(key) for key in ("assignee_id", "team_id", "contact_id", "lead_id", "deal_id")},
    }
    page = await work.list_tasks(
        call.session, call.principal, filters=filters, overdue=call.query_bool("overdue"), pool=call.query_bool("pool"),
        limit=limit, offset=offset,
    )
    return type(page)(items=[_task_out(t) for t in page.items], total=page.total, limit=page.limit, offset=page.offset)


@api.route("GET", V1 + "/tasks/{id}", summary="Read a task", response=TaskOut)
async def get_task(call: Call) -> Any:
    return _task_out(await work.get_task(call.session, call.principal, call.path_int("id")))


@api.route("PATCH", V1 + "/tasks/{id}", summary="Change a task (status done closes it; assignee_id hands it out, null puts it back in its team's pool)", body=TaskPatch, response=TaskOut)
async def update_task(call: Call) -> Any:
    changes = call.body.model_dump(exclude_unset=True)
    return _task_out(await work.update_task(call.session, call.principal, call.path_int("id"), changes))


async def _counters_for(call: Call, user_id: int) -> Any:
    await users.get_user(call.session, call.principal, user_id)
    return await work.counters(call.session, user_id)


@api.route("GET", V1 + "/me/counters", summary="My tasks and calls due today and overdue", response=CountersOut)
async def my_counters(call: Call) -> Any:
    if call.principal.user_id is None:
        raise Forbidden("no user behind this token")
    return await _counters_for(call, call.principal.user_id)


@api.route("GET", V1 + "/users/{id}/counters", summary="A user's tasks and calls due today and overdue", response=CountersOut)
async def user_counters(call: Call) -> Any:
    return await _counters_for(call, call.path_int("id"))


# Custom fields


@api.route("POST", V1 + "/custom-fields", summary="Define a custom field (admin)", body=CustomFieldIn, response=CustomFieldOut, status=201)
async def create_custom_field(call: Call) -> Any:
    _admin(call.principal)
    body: CustomFieldIn = call.body
    if body.field_type.value == "choice" and not body.choices:
        raise Invalid("a choice field needs choices", field="choices")
    existing = await call.session.scalar(
        select(CustomFieldDef).where(CustomFieldDef.entity == body.entity, CustomFieldDef.key == body.key)
    )
    if existing is not None:
        raise Conflict(f"{body.entity.value} already has a field {body.key!r}", field="key", existing={"id": existing.id})
    definition = CustomFieldDef(**body.model_dump())
    call.session.add(definition)
    await call.session.flush()
    return definition


@api.route("GET", V1 + "/custom-fields", summary="List custom field definitions", response=CustomFieldOut, many=True, query=("entity",), query_schemas={"entity": enum_schema(Entity)})
async def list_custom_fields(call: Call) -> Any:
    query = select(CustomFieldDef).order_by(CustomFieldDef.entity, CustomFieldDef.position, CustomFieldDef.id)
    entity = call.query_enum("entity", Entity)
    if entity is not None:
        query = query.where(CustomFieldDef.entity == entity)
    return list(await call.session.scalars(query))


# Teams, users, tokens, audit


def _admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise Forbidden("only an admin may do this")


@api.route("POST", V1 + "/teams", summary="Create a team (admin)", body=TeamIn, response=TeamOut, status=201, tag="admin")
async def create_team(call: Call) -> Any:
    return await users.create_team(call.session, call.principal, call.body)


@api.route("PATCH", V1 + "/teams/{id}", summary="Change a team's time zone or callback SLA (admin)", body=TeamPatch, response=TeamOut, tag="admin")
async def update_team(call: Call) -> Any:
    return await users.update_team(call.session, call.principal, call.path_int("id"), call.body.model_dump(exclude_unset=True))


@api.route("GET", V1 + "/teams", summary="List teams", response=TeamOut, many=True, tag="admin")
async def list_teams(call: Call) -> Any:
    return await users.list_teams(call.session)


@api.route("POST", V1 + "/users", summary="Create a user (admin)", body=UserIn, response=UserOut, status=201, tag="admin")
async def create_user(call: Call) -> Any:
    return await users.create_user(call.session, call.principal, call.body)


@api.route("GET", V1 + "/users", summary="List the users you may see", response=UserOut, many=True, tag="admin")
async def list_users(call: Call) -> Any:
    return await users.list_users(call.session, call.principal)


@api.route("GET", V1 + "/users/{id}", summary="Read a user", response=UserOut, tag="admin")
async def get_user(call: Call) -> Any:
    return await users.get_user(call.session, call.principal, call.path_int("id"))


@api.route("PATCH", V1 + "/users/{id}", summary="Change a user (admin)", body=UserPatch, response=UserOut, tag="admin")
async def update_user(call: Call) -> Any:
    user_id = call.path_int("id")
    changes = call.body.model_dump(exclude_unset=True)
    user = await users.update_user(call.session, call.principal, user_id, changes)
    if {"role", "team_id", "active"} & set(changes):
        # What their open WebSockets may see was decided when they connected: close them (they reconnect anew).
        sockets = call.request.app[OPEN_SOCKETS]
        call.after_commit.append(lambda: sockets.close_user(user_id))
    return user


@api.route("POST", V1 + "/tokens", summary="Issue an API token (shown once)", body=TokenIn, response=TokenCreated, status=201, tag="admin")
async def create_token(call: Call) -> Any:
    token, secret = await users.create_token(call.session, call.principal, call.body)
    return TokenCreated.model_validate({**TokenOut.model_validate(token).model_dump(), "token": secret})


@api.route("DELETE", V1 + "/tokens/{id}", summary="Revoke an API token", response=TokenOut, tag="admin")
async def revoke_token(call: Call) -> Any:
    token = await users.revoke_token(call.session, call.principal, call.path_int("id"))
    sockets, token_id = call.request.app[OPEN_SOCKETS], token.id
    call.after_commit.append(lambda: sockets.close_token(token_id))  # streams stop now, not at their next check
    return token


@api.route("GET", V1 + "/audit", summary="Audit log (admin)", response=AuditOut, query=("entity", "entity_id", *PAGED), tag="admin")
async def audit_log(call: Call) -> Any:
    _admin(call.principal)
    limit, offset = call.page
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    entity = call.query_str("entity", max_length=64)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    entity_id = call.query_int("entity_id")
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    return await paginate(call.session, query, limit=limit, offset=offset)
