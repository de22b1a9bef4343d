"""Routes for what automation produced: webhook delivery log (admin) and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select

from callcenter.api.framework import Api, Call, enum_schema
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import DeliveryStatus, Notification, Role, WebhookDelivery
from crm_core.paging import paginate
from crm_core.types import utcnow

api = Api()
V1 = "/api/v1"


class DeliveryOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    rule: str
    url: str
    event: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    response_status: int | None
    created_at: datetime
    delivered_at: datetime | None


class NotificationOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    kind: str
    team_id: int | None
    user_id: int | None
    message: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@api.route("GET", V1 + "/webhooks/deliveries", summary="Webhook delivery log (admin)", response=DeliveryOut, query=("status", "limit", "offset"), query_schemas={"status": enum_schema(DeliveryStatus)}, tag="automation")
async def list_deliveries(call: Call) -> Any:
    if call.principal.role is not Role.ADMIN:
        raise Forbidden("only an admin may read the webhook log")
    limit, offset = call.page
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
    status = call.query_enum("status", DeliveryStatus)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return await paginate(call.session, query, limit=limit, offset=offset)


@api.route("POST", V1 + "/webhooks/deliveries/{id}/retry", summary="Send a dead or pending delivery again now (admin)", response=DeliveryOut, tag="automation")
async def retry_delivery(call: Call) -> Any:
    if call.principal.role is not Role.ADMIN:
        raise Forbidden("only an admin may retry webhooks")
    row = await call.session.get(WebhookDelivery, call.path_int("id"))
    if row is None:
        raise NotFound("no such delivery")
    if row.status is DeliveryStatus.DELIVERED:
        raise Invalid("already delivered", field="status")
    row.status = DeliveryStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    return row


def _visible(call: Call) -> Any:
    principal = call.principal
    if principal.role is Role.ADMIN:
        return select(Notification)
    if principal.role is Role.SUPERVISOR:
        return select(Notification).where(or_(Notification.team_id == principal.team_id, Notification.user_id == principal.user_id))
    return select(Notification).where(Notification.user_id == principal.user_id)


@api.route("GET", V1 + "/notifications", summary="Notifications for me (supervisor: my team's)", response=NotificationOut, query=("unread", "limit", "offset"), tag="automation")
async def list_notifications(call: Call) -> Any:
    limit, offset = call.page
    query = _visible(call).order_by(Notification.id.desc())
    if call.query_bool("unread"):
        query = query.where(Notification.read_at.is_(None))
    return await paginate(call.session, query, limit=limit, offset=offset)


@api.route("POST", V1 + "/notifications/{id}/read", summary="Mark a notification read", response=NotificationOut, tag="automation")
async def read_notification(call: Call) -> Any:
    row = await call.session.scalar(_visible(call).where(Notification.id == call.path_int("id")))
    if row is None:
        raise NotFound("no such notification")
    row.read_at = row.read_at or utcnow()
    return row
