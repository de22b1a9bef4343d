"""A campaign's own disposition codes on both databases: bad mappings refused at campaign save naming the field; the
agent's pick mirrored onto the called record (a field, the deal's stage, the lead's status, the campaign's
do-not-call list) in the wrap-up's transaction and audited as the agent's; what a record cannot take is skipped and
said; callbacks for the agent or for the team's pool."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.ami.channel_vars import ChannelVar
from callcenter.app_keys import CRM_BRIDGE, LIVE
from callcenter.events import CallDirection, CallEnded, CallOutcome, HungUpBy
from crm_core.dialer_models import CampaignAttempt, DncEntry
from crm_core.models import (
    Activity, AuditEntry, CallConsent, Contact, CustomFieldDef, Deal, DealStageChange, Entity, FieldType, Lead,
    LeadStatus, Role, Task,
)
from crm_core.types import utcnow
from tests.api.conftest import Actor, World
from tests.api.test_call_scripts import Crm, crm
from tests.api.test_campaign_manager_role import add_user
from tests.api.test_campaign_routes import BASE, campaign_body, saved_report
from tests.api.test_supervisor_routes import CALL_A, _answered_calls

ANN, BOB, LENA = "+442079460101", "+442079460102", "+442079460103"


def codes(data: Crm) -> dict[str, Any]:
    return {
        "promised_to_pay": {"label": "Promised to pay", "counts_as": "interested", "stage": data.promised,
                            "set_fields": {"custom.promised_on": "2026-12-24", "call_consent": "granted"}},
        "refused": {"label": "Do not call us", "counts_as": "not_interested", "campaign_dnc": True,
                    "set_fields": {"call_consent": "refused"}},
        "call_later": {"label": "Call later", "counts_as": "callback"},
        "lead_lost": {"label": "Not for us", "counts_as": "not_interested", "lead_status": "lost"},
    }


async def setup(world: World) -> tuple[Crm, Actor, int]:
    data = await crm(world)
    async with world.db.session() as s:
        s.add(CustomFieldDef(entity=Entity.CONTACT, key="promised_on", label="Promised on", field_type=FieldType.DATE))
    cm = await add_user(world, Role.CAMPAIGN_MANAGER, world.sup_a.team_id, "Cora Campaigns")
    report = await saved_report(world, cm)
    status, made = await world.call(cm, "POST", BASE, campaign_body(report, cm.team_id, dispositions=codes(data)))
    assert status == 201, made
    return data, cm, made["id"]


async def campaign_call(world: World, call_id: str, number: str, campaign_id: int | None) -> None:
    """The campaign's call as the CRM writer logs it when it ends (answered by Alice, 1002)."""
    await world.client.app[CRM_BRIDGE].record_call(CallEnded(
        call_id=call_id, started_s=1_795_390_000.0, ended_s=1_795_390_030.0, direction=CallDirection.OUTBOUND,
        outcome=CallOutcome.ANSWERED, caller="+442079460000", caller_name=None, did=None, customer=number,
        answered_by="1002", agents_rung=("1002",), agents_talked=("1002",), attempts=(), wait_s=4.0, talk_s=20.0,
        hangup_cause=16, hangup_cause_txt="Normal Clearing", hung_up_by=HungUpBy.CUSTOMER, recordings=(), queue=None,
        campaign=str(campaign_id) if campaign_id is not None else None,
    ))


async def dispose(world: World, call_id: str, body: dict[str, Any], actor: Actor | None = None) -> tuple[int, Any]:
    return await world.call(actor or world.agent_a1, "POST", f"/api/v1/calls/{call_id}/disposition", body)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"stage": 999999}, "dispositions.promised_to_pay.stage", "no pipeline stage 999999"),
        ({"stage": "OTHER"}, "dispositions.promised_to_pay.stage", "in the campaign team's pipelines"),
        ({"set_fields": {"custom.shoe_size": "9"}}, "dispositions.promised_to_pay.set_fields.custom.shoe_size",
         "no custom field 'shoe_size'"),
        ({"set_fields": {"custom.promised_on": "soon"}}, "dispositions.promised_to_pay.set_fields.custom.promised_on",
         "must be a date"),
        ({"set_fields": {"owner": 3}}, "dispositions.promised_to_pay.set_fields.owner", "not a field"),
        ("SCRIPT", "script", "contacts have no custom field 'shoe_size'"),
    ],
)
async def test_bad_mappings_are_refused_at_save_naming_the_field(world: World, change: Any, field: str,
                                                                message: str) -> None:
    data, cm, cid = await setup(world)
    if change == "SCRIPT":  # the script's own check, made where the campaign's references are
        bad_change: dict[str, Any] = {"script": "Your size: {contact.custom.shoe_size}"}
    else:
        if change.get("stage") == "OTHER":
            change = {"stage": data.other_team_stage}
        bad_change = {"dispositions": {"promised_to_pay": {**codes(data)["promised_to_pay"], **change}}}
    report = (await world.call(cm, "GET", f"{BASE}/{cid}"))[1]["saved_report_id"]
    status, err = await world.call(cm, "POST", BASE, campaign_body(report, cm.team_id, **bad_change))
    assert status == 400 and err["error"]["field"] == field and message in err["error"]["message"], err
    status, current = await world.call(cm, "GET", f"{BASE}/{cid}")
    status, err = await world.call(cm, "PATCH", f"{BASE}/{cid}", {"version": current["version"], "changes": bad_change})
    assert status == 400 and err["error"]["field"] == "changes." + field, err


async def test_promised_to_pay_sets_the_field_and_moves_the_deal_as_the_agent(world: World) -> None:
    data, _, cid = await setup(world)
    await campaign_call(world, "1795390000.1", ANN, cid)
    status, out = await dispose(world, "1795390000.1", {"campaign_code": "promised_to_pay", "notes": "pays on the 24th"})
    assert status == 200, out
    assert (out["disposition"], out["campaign_code"], out["notes"]) == ("interested", "promised_to_pay", "pays on the 24th")
    assert [(e["kind"], e["applied"]) for e in out["effects"]] == [("set_field", True), ("set_field", True),
                                                                   ("stage", True)], out["effects"]
    async with world.db.session() as s:
        ann = await s.get(Contact, data.ann)
        deal = await s.scalar(select(Deal).where(Deal.contact_id == data.ann))
        change = await s.scalar(select(DealStageChange).where(DealStageChange.deal_id == deal.id,
                                                              DealStageChange.to_stage_id == data.promised))
        activity = await s.scalar(select(Activity).where(Activity.call_id == "1795390000.1"))
        audited = list(await s.scalars(select(AuditEntry).where(AuditEntry.entity == "contacts",
                                                                AuditEntry.entity_id == data.ann)))
    assert ann.custom == {"promised_on": "2026-12-24"} and ann.call_consent is CallConsent.GRANTED
    assert deal.stage_id == data.promised and change.changed_by_id == world.agent_a1.id
    assert activity.call_meta["campaign_disposition"] == "promised_to_pay"
    updates = [a for a in audited if a.action == "update"]
    assert {a.actor_id for a in updates} == {world.agent_a1.id}
    assert {key for a in updates for key in a.changes} == {"custom", "call_consent"}
    # The same save again changes nothing more (no second stage change).
    status, again = await dispose(world, "1795390000.1", {"campaign_code": "promised_to_pay"})
    assert status == 200 and again["notes"] == "pays on the 24th"
    async with world.db.session() as s:
        changes = list(await s.scalars(select(DealStageChange).where(DealStageChange.deal_id == deal.id)))
    assert [c.to_stage_id for c in changes].count(data.promised) == 1


async def test_refused_puts_the_number_on_the_campaigns_list_and_what_a_record_lacks_is_skipped(world: World) -> None:
    data, cm, cid = await setup(world)
    await campaign_call(world, "1795390000.2", BOB, cid)
    status, out = await dispose(world, "1795390000.2", {"campaign_code": "refused"})
    assert status == 200 and out["disposition"] == "not_interested", out
    async with world.db.session() as s:
        entry = await s.scalar(select(DncEntry).where(DncEntry.e164 == BOB))
        bob = await s.get(Contact, data.bob)
    assert (entry.campaign_id, entry.added_by_id, entry.reason) == (cid, world.agent_a1.id,
                                                                    "disposition refused on call 1795390000.2")
    assert bob.call_consent is CallConsent.REFUSED
    status, listed = await world.call(cm, "GET", "/api/v1/dnc", params={"campaign_id": str(cid)})
    assert [e["e164"] for e in listed["items"]] == [BOB]

    # A lead called by the campaign: no contact field, no deal; what applies applies.
    await campaign_call(world, "1795390000.3", LENA, cid)
    status, out = await dispose(world, "1795390000.3", {"campaign_code": "promised_to_pay"})
    assert status == 200, out
    effects = {(e["kind"], e["target"]): (e["applied"], e["detail"]) for e in out["effects"]}
    assert effects[("set_field", f"lead {data.lena} call_consent")] == (True, "set")
    applied, detail = effects[("set_field", f"lead {data.lena} custom.promised_on")]
    assert not applied and "no such custom field" in detail
    assert effects[("stage", f"lead {data.lena} deal")] == (False, "skipped: the record has no open deal")
    status, out = await dispose(world, "1795390000.3", {"campaign_code": "lead_lost"})
    async with world.db.session() as s:
        lena = await s.get(Lead, data.lena)
    assert status == 200 and lena.status is LeadStatus.LOST and lena.call_consent is CallConsent.GRANTED


async def test_callbacks_for_me_or_for_the_teams_pool(world: World) -> None:
    data, _, cid = await setup(world)
    due = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    await campaign_call(world, "1795390000.4", ANN, cid)
    status, mine = await dispose(world, "1795390000.4", {"campaign_code": "call_later", "callback_at": due.isoformat()})
    assert status == 200 and mine["callback_assignee_id"] == world.agent_a1.id, mine
    await campaign_call(world, "1795390000.5", BOB, cid)
    status, pool = await dispose(world, "1795390000.5", {"campaign_code": "call_later", "callback_at": due.isoformat(),
                                                         "callback_for": "team"})
    assert status == 200 and pool["callback_assignee_id"] is None, pool
    async with world.db.session() as s:
        tasks = {t.id: t for t in await s.scalars(select(Task))}
    me, team = tasks[mine["callback_task_id"]], tasks[pool["callback_task_id"]]
    assert (me.assignee_id, me.team_id, me.contact_id, me.due_at) == (world.agent_a1.id, world.sup_a.team_id, data.ann, due)
    assert (team.assignee_id, team.team_id, team.contact_id) == (None, world.sup_a.team_id, data.bob)
    assert me.campaign_id == team.campaign_id == cid
    status, page = await world.call(world.agent_a1, "GET", "/api/v1/tasks", params={"kind": "callback", "status": "open"})
    assert {t["id"]: t["campaign_id"] for t in page["items"]} == {me.id: cid, team.id: cid}
    # The pool's callback is every team A agent's to take, none of team B's.
    for who, seen in ((world.agent_a2, True), (world.agent_b1, False)):
        status, page = await world.call(who, "GET", "/api/v1/tasks", params={"kind": "callback", "status": "open"})
        assert status == 200 and (team.id in [t["id"] for t in page["items"]]) is seen, who
    # Handing my own promise to the pool later: the same task, now unassigned.
    status, moved = await dispose(world, "1795390000.4", {"campaign_code": "call_later", "callback_at": due.isoformat(),
                                                          "callback_for": "team"})
    assert status == 200 and (moved["callback_task_id"], moved["callback_assignee_id"]) == (me.id, None)
    # Not only campaign calls: a plain callback may go to the pool too.
    await campaign_call(world, "1795390000.6", "+442079460177", None)
    status, plain = await dispose(world, "1795390000.6", {"disposition": "callback", "callback_at": due.isoformat(),
                                                          "callback_for": "team"})
    assert status == 200 and plain["callback_assignee_id"] is None and plain["effects"] == [], plain


@pytest.mark.parametrize(
    ("call_campaign", "body", "field", "message"),
    [
        (True, {"campaign_code": "paid_in_full"}, "campaign_code", "has no disposition 'paid_in_full'"),
        (False, {"campaign_code": "refused"}, "campaign_code", "not a dialer campaign's call"),
        (True, {"campaign_code": "refused", "disposition": "sale"}, "disposition", "counts as not_interested"),
        (True, {"notes": "forgot to pick"}, "disposition", "pick a disposition"),
        (True, {"campaign_code": "refused", "callback_for": "team"}, "callback_for", "only the callback"),
        (True, {"campaign_code": "call_later"}, "callback_at", "needs callback_at"),
        (True, {"disposition": "sale", "callback_for": "everyone"}, "callback_for", ""),
        (True, {"campaign_code": "x" * 41}, "campaign_code", ""),
    ],
)
async def test_bad_wrap_ups_are_refused_naming_the_field(world: World, call_campaign: bool, body: dict[str, Any],
                                                         field: str, message: str) -> None:
    _, _, cid = await setup(world)
    await campaign_call(world, "1795390000.7", ANN, cid if call_campaign else None)
    status, err = await dispose(world, "1795390000.7", body)
    assert status == 422 and err["error"]["field"] == field and message in err["error"]["message"], err
    async with world.db.session() as s:
        activity = await s.scalar(select(Activity).where(Activity.call_id == "1795390000.7"))
        entries = list(await s.scalars(select(DncEntry)))
    assert activity.disposition is None and entries == []  # nothing of a refused wrap-up is kept


async def test_only_the_handler_or_their_supervisor_picks_the_code(world: World) -> None:
    _, cm, cid = await setup(world)
    await campaign_call(world, "1795390000.8", BOB, cid)
    for who, expected in ((world.agent_a2, 403), (world.agent_b1, 403), (cm, 403), (world.sup_a, 200)):
        status, out = await dispose(world, "1795390000.8", {"campaign_code": "refused"}, who)
        assert status == expected, (who, out)


async def test_a_live_campaign_call_wrapped_up_before_it_is_logged_acts_on_the_dialled_record(
    make_world: Any, traces_dir: Path
) -> None:
    world = await make_world()
    data, _, cid = await setup(world)
    async with world.db.session() as s:
        # The dialer called Bob's row; the number on the line is another (the capture's caller).
        attempt = CampaignAttempt(campaign_id=cid, e164="+12125550101", contact_id=data.bob, attempt_no=1)
        s.add(attempt)
        await s.flush()
        attempt_id = attempt.id
    talking, _ = _answered_calls(traces_dir)  # a real capture: CALL_A answered by 1002 (Alice) and still going
    trunk = next(h for h in talking if h["Event"] == "VarSet" and h["Linkedid"] == CALL_A)
    # What the dialer's Originate announces on the customer's channel (VarSet, as Asterisk does).
    dialer_vars = [{**trunk, "Timestamp": talking[-1]["Timestamp"], "Variable": name, "Value": value}
                   for name, value in ((ChannelVar.CAMPAIGN.value, str(cid)),
                                       (ChannelVar.DIAL_ATTEMPT.value, str(attempt_id)))]
    for h in [*talking, *dialer_vars]:
        world.client.app[LIVE].ingest.feed_headers(h)
    status, out = await dispose(world, CALL_A, {"campaign_code": "promised_to_pay"})
    assert status == 200, out
    assert [(e["target"], e["applied"]) for e in out["effects"]] == [
        (f"contact {data.bob} call_consent", True), (f"contact {data.bob} custom.promised_on", True),
        (f"contact {data.bob} deal", False)]
    due = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    status, out = await dispose(world, CALL_A, {"campaign_code": "call_later", "callback_at": due.isoformat()})
    assert status == 200 and out["callback_assignee_id"] == world.agent_a1.id, out
    async with world.db.session() as s:
        bob = await s.get(Contact, data.bob)
        task = await s.get(Task, out["callback_task_id"])
        activity = await s.scalar(select(Activity).where(Activity.call_id == CALL_A))
    assert bob.custom == {"promised_on": "2026-12-24"} and bob.call_consent is CallConsent.GRANTED
    assert (task.contact_id, task.campaign_id, task.callback_e164) == (data.bob, cid, "+12125550101")
    assert activity.call_meta == {"campaign": str(cid), "campaign_disposition": "call_later"}
