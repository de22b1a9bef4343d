"""What an agent may do to the caller's lead because they are handling the call, though a colleague owns it.

The rule: on a call they are on (ringing or talking on their phone) or took (logged as answered by them, ended at
most ``AFTER_CALL`` ago: the wrap-up), an agent may read the caller's lead (the lead linked to that call, else the
lead that owns the caller's number), change its quick-lead fields (``QUICK_LEAD_FIELDS``) and link the call to it.
Not its owner, phones or custom fields, not its deletion; a contact or company stays read-only (its card). Without
such a call the lead is invisible to them, as before (404)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from callcenter.api.framework import Call
from callcenter.app_keys import LIVE
from crm_core import records
from crm_core.errors import Forbidden
from crm_core.models import Activity, ActivityKind, Entity, Role, User
from crm_core.phones import try_normalize
from crm_core.types import utcnow

AFTER_CALL = timedelta(hours=2)
QUICK_LEAD_FIELDS = frozenset({"title", "person_name", "company_name", "product_interest", "status"})


async def handles_call_of_lead(call: Call, lead_id: int) -> bool:
    """True when the caller (an agent with a phone) is handling a call whose caller's lead is ``lead_id``."""
    principal = call.principal
    if principal.role is not Role.AGENT or principal.user_id is None or principal.scope is not None:
        return False  # supervisors and admins see their team's / all leads anyway
    extension = await call.session.scalar(select(User.extension).where(User.id == principal.user_id))
    if not extension:
        return False
    live_ids: list[str] = []
    for open_call in call.request.app[LIVE].tracker.open_calls():
        if extension not in (*open_call.agents_rung, *open_call.agents_talked):
            continue
        live_ids.append(open_call.call_id)
        number = try_normalize(open_call.customer, region=call.rules.region)
        owner = await records.lookup_phone(call.session, call.rules, number.e164) if number else None
        if owner is not None and owner.entity is Entity.LEAD and owner.id == lead_id:
            return True
    took = (Activity.user_id == principal.user_id) & (Activity.ended_at >= utcnow() - AFTER_CALL)
    linked = await call.session.scalar(
        select(Activity.id).where(
            Activity.kind == ActivityKind.CALL, Activity.lead_id == lead_id,
            or_(Activity.call_id.in_(live_ids), took) if live_ids else took,
        ).limit(1)
    )
    return linked is not None


def check_quick_lead_fields(changes: dict[str, Any]) -> None:
    for key in changes:
        if key not in QUICK_LEAD_FIELDS:
            raise Forbidden(f"on a call you may change only {', '.join(sorted(QUICK_LEAD_FIELDS))} of the caller's lead",
                            field=key)
