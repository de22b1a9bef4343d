"""A campaign's disposition codes mirrored onto the called record (issue 15: "promised to pay" sets a field or stage).

``check_references`` runs when a campaign is saved (beside the definition's own checks, which are pure): every stage
a code moves a deal to exists in a pipeline the campaign's team uses, every ``custom.<key>`` it sets is a custom
field of some record kind and takes that value. A bad mapping is refused naming the field
(``dispositions.promised_to_pay.stage``).

``apply`` runs in the transaction that saves the agent's wrap-up of a campaign call, with the agent as the actor of
every write (the audit log shows who), through the CRM's own writers (records.update, deals.move_stage,
dnc_store.add), so a write is checked and audited exactly as if made by hand. The campaign's manager allowed these
effects when saving the campaign; the agent picks the code, so the writes are not limited to the agent's own
records. Each effect is applied in a savepoint: one that the record cannot take (no open deal, a stage of another
pipeline, a field that kind of record lacks, a required field missing for the stage) is skipped and reported, and
never undoes the wrap-up or the other effects. Repeating the same save repeats the same writes (each is idempotent);
a later, different code does not undo an earlier one's effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.dialer import dnc_store
from callcenter.dialer.call_record import CalledRecord
from callcenter.dialer.campaign import CampaignDefinition, DispositionSpec
from crm_core import custom_fields, deals, records
from crm_core.access import Principal
from crm_core.dialer_models import Campaign
from crm_core.errors import CrmError, Invalid
from crm_core.models import CustomFieldDef, Entity, Pipeline, PipelineStage, Role

__all__ = ["Effect", "apply", "check_references"]


async def check_references(session: AsyncSession, definition: CampaignDefinition, *, prefix: str = "") -> None:
    """Stages and custom fields the dispositions name exist (Invalid naming the first that does not)."""
    for code, spec in definition.dispositions.items():
        where = f"{prefix}dispositions.{code}"
        if spec.stage is not None:
            found = (await session.execute(
                select(Pipeline.team_id).join(PipelineStage, PipelineStage.pipeline_id == Pipeline.id)
                .where(PipelineStage.id == spec.stage)
            )).first()
            if found is None or found.team_id not in (None, definition.team_id):
                raise Invalid(f"no pipeline stage {spec.stage} in the campaign team's pipelines", field=f"{where}.stage")
        for key, value in spec.set_fields.items():
            if not key.startswith("custom."):
                continue
            name = key.removeprefix("custom.")
            defs = list(await session.scalars(select(CustomFieldDef).where(CustomFieldDef.key == name)))
            if not defs:
                raise Invalid(f"no custom field {name!r} on contacts, leads, companies or deals",
                              field=f"{where}.set_fields.{key}")
            if value is not None:
                for definition_row in defs:
                    try:
                        custom_fields.validate([definition_row], {name: value})
                    except Invalid as exc:
                        raise Invalid(f"{exc.message} (the {definition_row.entity.value}s' field)",
                                      field=f"{where}.set_fields.{key}") from None


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str  # set_field, stage, lead_status, campaign_dnc
    target: str  # what it changed: "contact 4 call_consent", "deal 9", "+442079460101"
    applied: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "applied": self.applied, "detail": self.detail}


def _authority(actor_id: int | None) -> Principal:
    """The campaign's authority, booked to the agent: the access checks of the CRM's writers pass (the manager
    allowed the effect at save time), and the deal's stage history names the agent."""
    return Principal(user_id=actor_id, role=Role.ADMIN)


async def _guarded(session: AsyncSession, kind: str, target: str, write: Any) -> Effect:
    try:
        async with session.begin_nested():
            detail = await write()
    except CrmError as exc:
        return Effect(kind, target, False, f"skipped: {exc.message}" + (f" ({exc.field})" if exc.field else ""))
    return Effect(kind, target, True, detail or "")


async def apply(
    session: AsyncSession,
    *,
    campaign: Campaign,
    code: str,
    spec: DispositionSpec,
    found: CalledRecord | None,
    e164: str | None,
    actor_id: int | None,
    call_id: str,
) -> list[Effect]:
    """Apply ``spec``'s effects to the called record (``found``) in the caller's transaction; what happened, each."""
    who = _authority(actor_id)
    effects: list[Effect] = []
    record = f"{found.entity.value} {found.id}" if found is not None else "no record"
    plain = {k: v for k, v in spec.set_fields.items() if not k.startswith("custom.")}
    custom = {k.removeprefix("custom."): v for k, v in spec.set_fields.items() if k.startswith("custom.")}
    for key, value in plain.items():
        target = f"{record} {key}"
        if found is None or found.entity not in (Entity.CONTACT, Entity.LEAD):
            effects.append(Effect("set_field", target, False, "skipped: only a contact or lead has this field"))
            continue
        effects.append(await _guarded(session, "set_field", target, _update(session, who, found, {key: value})))
    for key, value in custom.items():
        target = f"{record} custom.{key}"
        if found is None:
            effects.append(Effect("set_field", target, False, "skipped: the call has no record"))
            continue
        effects.append(await _guarded(session, "set_field", target,
                                      _update(session, who, found, {"custom": {key: value}})))
    if spec.stage is not None:
        deal = found.deal if found is not None else None
        if deal is None:
            effects.append(Effect("stage", f"{record} deal", False, "skipped: the record has no open deal"))
        else:
            effects.append(await _guarded(session, "stage", f"deal {deal.id}", _move(session, who, deal.id, spec.stage)))
    if spec.lead_status is not None:
        if found is None or found.entity is not Entity.LEAD:
            effects.append(Effect("lead_status", record, False, "skipped: the call's record is not a lead"))
        else:
            effects.append(await _guarded(session, "lead_status", record,
                                          _update(session, who, found, {"status": spec.lead_status})))
    if spec.campaign_dnc:
        if not e164:
            effects.append(Effect("campaign_dnc", "no number", False, "skipped: the call has no customer number"))
        else:
            reason = f"disposition {code} on call {call_id}"

            async def add() -> str:
                await dnc_store.add(session, e164, campaign_id=campaign.id, reason=reason, added_by_id=actor_id)
                return f"on campaign {campaign.id}'s do-not-call list"

            effects.append(await _guarded(session, "campaign_dnc", e164, add))
    return effects


def _update(session: AsyncSession, who: Principal, found: CalledRecord, changes: dict[str, Any]) -> Any:
    async def write() -> str:
        await records.update(session, who, found.entity, found.id, dict(changes))
        return "set"

    return write


def _move(session: AsyncSession, who: Principal, deal_id: int, stage_id: int) -> Any:
    async def write() -> str:
        deal = await deals.move_stage(session, who, deal_id, stage_id)
        return f"now in stage {deal.stage_id}"

    return write
