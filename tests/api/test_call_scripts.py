"""Call scripts on both databases: a team's inbound scripts kept by its supervisor (or an admin), refusals naming the
field, and the resolver's choice for a call: the campaign's script, else the caller's deal stage's, else a segment's
(a tag), else none; the customer's fields filled in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callcenter.api.script_routes import on_call_of
from callcenter.app_keys import LIVE, PHONE_RULES
from callcenter.calls.model import Call as LiveCall
from callcenter.dialer import script_store
from callcenter.dialer.script_store import CallOnPhone
from callcenter.events import CallDirection
from crm_core.dialer_models import CampaignAttempt
from crm_core.models import (
    Company, Contact, CustomFieldDef, Deal, Entity, FieldType, Lead, Phone, Pipeline, PipelineStage, Role,
)
from tests.api.conftest import Actor, World
from tests.api.test_campaign_manager_role import add_user
from tests.api.test_campaign_routes import campaign, saved_report
from tests.api.test_supervisor_routes import CALL_A, CALL_B, _answered_calls

BASE = "/api/v1/call-scripts"


@dataclass
class Crm:
    new: int  # stage ids
    promised: int
    other_team_stage: int
    ann: int  # contact with an open deal in "new", tagged vip
    bob: int  # contact tagged vip and smb, no deal
    lena: int  # lead, tagged smb


async def crm(world: World) -> Crm:
    async with world.db.session() as s:
        sales = Pipeline(name="Sales", team_id=None, stages=[PipelineStage(name="New", position=0),
                                                             PipelineStage(name="Promised", position=1)])
        theirs = Pipeline(name="B only", team_id=world.agent_b1.team_id, stages=[PipelineStage(name="X", position=0)])
        acme = Company(name="Acme & <Sons>")
        s.add_all([sales, theirs, acme])
        await s.flush()
        ann = Contact(first_name="Ann", last_name="Carter", position="CFO", company_id=acme.id, tags=["vip"])
        bob = Contact(first_name="Bob", last_name="<b>Bold</b>", tags=["vip", "smb"])
        lena = Lead(title="Web enquiry", person_name="Lena", company_name="Lena Ltd", tags=["smb"])
        s.add_all([ann, bob, lena])
        await s.flush()
        s.add_all([Phone(e164="+442079460101", raw="+442079460101", contact_id=ann.id),
                   Phone(e164="+442079460102", raw="+442079460102", contact_id=bob.id),
                   Phone(e164="+442079460103", raw="+442079460103", lead_id=lena.id)])
        s.add(Deal(title="Renewal", pipeline_id=sales.id, stage_id=sales.stages[0].id, contact_id=ann.id,
                   amount=1200, currency="EUR"))
        return Crm(new=sales.stages[0].id, promised=sales.stages[1].id, other_team_stage=theirs.stages[0].id,
                   ann=ann.id, bob=bob.id, lena=lena.id)


async def make(world: World, actor: Actor, **body: Any) -> tuple[int, Any]:
    return await world.call(actor, "POST", BASE, {"name": "Script", "body": "Hello {customer.name}", **body})


async def test_a_supervisor_keeps_their_teams_scripts_and_nobody_elses(world: World) -> None:
    data = await crm(world)
    status, made = await make(world, world.sup_a, stage_id=data.new, body="Hi {contact.first_name}")
    assert status == 201 and (made["team_id"], made["stage_id"], made["segment"]) == (world.sup_a.team_id, data.new, None)
    status, seg = await make(world, world.sup_a, segment="vip", priority=5)
    assert status == 201, seg
    # An admin keeps any team's; the supervisor of team A neither sees nor makes team B's.
    status, theirs = await make(world, world.admin, team_id=world.agent_b1.team_id, segment="vip")
    assert status == 201, theirs
    status, page = await world.call(world.sup_a, "GET", BASE)
    assert status == 200 and [s["id"] for s in page["items"]] == [made["id"], seg["id"]]
    status, err = await world.call(world.sup_a, "GET", f"{BASE}/{theirs['id']}")
    assert status == 404 and err["error"]["field"] == "id"
    status, err = await world.call(world.sup_a, "PATCH", f"{BASE}/{theirs['id']}", {"name": "mine now"})
    assert status == 404
    status, err = await make(world, world.sup_a, team_id=world.agent_b1.team_id, segment="smb")
    assert status == 403 and err["error"]["field"] == "team_id"
    status, page = await world.call(world.admin, "GET", BASE, params={"team_id": str(world.agent_b1.team_id)})
    assert [s["id"] for s in page["items"]] == [theirs["id"]]
    # Agents and campaign managers keep none (a campaign's script is in its definition).
    cm = await add_user(world, Role.CAMPAIGN_MANAGER, world.sup_a.team_id, "Cora Campaigns")
    for who in (world.agent_a1, cm):
        status, err = await world.call(who, "GET", BASE)
        assert status == 403, err
        status, err = await make(world, who, segment="x")
        assert status == 403, err
    # Changed and deleted, audited like every write.
    status, changed = await world.call(world.sup_a, "PATCH", f"{BASE}/{seg['id']}", {"body": "Hi {agent.first_name}"})
    assert status == 200 and changed["body"] == "Hi {agent.first_name}"
    status, _ = await world.call(world.sup_a, "DELETE", f"{BASE}/{seg['id']}")
    assert status == 204
    status, audit = await world.call(world.admin, "GET", "/api/v1/audit",
                                     params={"entity": "call_scripts", "entity_id": str(seg["id"])})
    assert status == 200, audit
    assert [(e["action"], e["actor_id"]) for e in audit["items"]] == [
        ("delete", world.sup_a.id), ("update", world.sup_a.id), ("create", world.sup_a.id)]


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({"segment": "vip", "body": "Hi {contact.nickname}"}, 422, "body", "unknown placeholder {contact.nickname}"),
        ({"segment": "vip", "body": "Hi {"}, 422, "body", "a lone '{'"),
        ({"segment": "vip", "body": "Hi {lead.custom.tier}"}, 422, "body", "leads have no custom field 'tier'"),
        ({}, 422, "segment", "exactly one"),
        ({"segment": "vip", "stage_id": "NEW"}, 422, "stage_id", "exactly one"),
        ({"stage_id": 999999}, 422, "stage_id", "no pipeline stage 999999"),
        ({"stage_id": "OTHER"}, 422, "stage_id", "in the team's pipelines"),
        ({"segment": "a'b"}, 422, "segment", ""),
        ({"segment": "vip", "priority": 101}, 422, "priority", ""),
        ({"segment": "vip", "colour": "red"}, 422, "colour", ""),
    ],
)
async def test_bad_scripts_are_refused_naming_the_field(world: World, body: dict[str, Any], status: int, field: str,
                                                         message: str) -> None:
    data = await crm(world)
    named = {"NEW": data.new, "OTHER": data.other_team_stage}
    body = {k: named.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    got, err = await make(world, world.sup_a, **body)
    assert got == status and err["error"]["field"] == field and message in err["error"]["message"], err


async def test_one_script_per_stage_and_per_segment(world: World) -> None:
    data = await crm(world)
    assert (await make(world, world.sup_a, segment="vip"))[0] == 201
    status, err = await make(world, world.sup_a, segment="vip")
    assert status == 409 and err["error"]["field"] == "segment"
    assert (await make(world, world.sup_a, stage_id=data.new))[0] == 201
    status, err = await make(world, world.sup_a, stage_id=data.new)
    assert status == 409 and err["error"]["field"] == "stage_id"


async def resolve(world: World, agent: Actor, **call: Any) -> dict[str, Any] | None:
    async with world.db.session() as s:
        return await script_store.resolve(s, world.client.app[PHONE_RULES], CallOnPhone(call_id="1.1", **call), agent.id)


async def test_inbound_calls_get_their_stage_script_else_a_segment_script_else_none(world: World) -> None:
    data = await crm(world)
    async with world.db.session() as s:
        s.add(CustomFieldDef(entity=Entity.CONTACT, key="tier", label="Tier", field_type=FieldType.STRING))
        (await s.get(Contact, data.ann)).custom = {"tier": "gold"}
    body = ("Hello {customer.name} of {company.name}: {deal.title} ({deal.stage}, {deal.amount} {deal.currency})."
            " I am {agent.first_name}. {contact.custom.tier}")
    status, stage = await make(world, world.sup_a, name="Renewals", stage_id=data.new, body=body)
    assert status == 201, stage
    assert (await make(world, world.sup_a, name="VIP", segment="vip", priority=1, body="VIP {contact.last_name}"))[0] == 201
    assert (await make(world, world.sup_a, name="SMB", segment="smb", priority=9, body="SMB {customer.name}"))[0] == 201
    # Another team's scripts never reach team A's agents.
    await make(world, world.admin, team_id=world.agent_b1.team_id, segment="smb", body="B's {customer.name}")

    ann = await resolve(world, world.agent_a1, customer="+44 20 7946 0101")  # open deal in "New": the stage's
    assert ann is not None and (ann["source"], ann["name"], ann["script_id"]) == ("stage", "Renewals", stage["id"])
    assert ann["text"] == "Hello Ann Carter of Acme & <Sons>: Renewal (New, 1200.00 EUR). I am Alice. gold"
    bob = await resolve(world, world.agent_a1, customer="+442079460102")  # no deal; vip and smb: smb's priority wins
    assert bob is not None and (bob["source"], bob["text"]) == ("segment", "SMB Bob <b>Bold</b>")
    lena = await resolve(world, world.agent_a1, customer="+442079460103")
    assert lena is not None and lena["text"] == "SMB Lena"
    assert await resolve(world, world.agent_b1, customer="+442079460101") is None  # B has no vip / stage script
    b_lena = await resolve(world, world.agent_b1, customer="+442079460103")
    assert b_lena is not None and b_lena["text"] == "B's Lena"
    assert await resolve(world, world.agent_a1, customer="+442079460199") is None  # nobody the CRM knows
    assert await resolve(world, world.agent_a1, customer=None) is None  # withheld

    # The deal moves on to a stage without a script: the segment's applies.
    async with world.db.session() as s:
        await s.execute(update(Deal).where(Deal.contact_id == data.ann).values(stage_id=data.promised))
    moved = await resolve(world, world.agent_a1, customer="+442079460101")
    assert moved is not None and (moved["source"], moved["text"]) == ("segment", "VIP Carter")


async def test_a_campaign_call_gets_the_campaigns_script_for_the_row_it_dialled(world: World) -> None:
    data = await crm(world)
    await make(world, world.sup_a, segment="vip", body="inbound VIP")
    cm = await add_user(world, Role.CAMPAIGN_MANAGER, world.sup_a.team_id, "Cora Campaigns")
    report = await saved_report(world, cm)
    made = await campaign(world, cm, report, script="Hello {contact.first_name}, {agent.name} from {campaign.name}."
                                                    " {contact.position}")
    async with world.db.session() as s:
        attempt = CampaignAttempt(campaign_id=made["id"], e164="+442079460101", contact_id=data.bob, attempt_no=1)
        s.add(attempt)
        await s.flush()
        attempt_id = attempt.id
    # The attempt names the record the dialer called (Bob), whoever the number belongs to now.
    got = await resolve(world, world.agent_a1, customer="+442079460101", campaign=str(made["id"]),
                        dial_attempt=str(attempt_id))
    assert got is not None and (got["source"], got["campaign_id"]) == ("campaign", made["id"])
    assert got["text"] == "Hello Bob, Alice Agent from Overdue invoices. "
    assert got["parts"][-1] == {"text": "", "field": "contact.position", "missing": True}
    # Without the attempt: the number's owner (Ann).
    got = await resolve(world, world.agent_a1, customer="+442079460101", campaign=str(made["id"]))
    assert got is not None and got["text"].startswith("Hello Ann,")
    # A campaign without a script shows none (not an inbound script instead).
    bare = await campaign(world, cm, report, name="No script")
    assert await resolve(world, world.agent_a1, customer="+442079460101", campaign=str(bare["id"])) is None


def test_the_live_calls_channel_variables_pick_the_campaign() -> None:
    live = LiveCall(call_id="1.2", started_s=0.0, direction=CallDirection.OUTBOUND, first_uniqueid=None,
                    customer="+442079460101", variables={"CC_CAMPAIGN": "7", "CC_DIAL_ATTEMPT": "41"})
    assert on_call_of(live) == CallOnPhone(call_id="1.2", customer="+442079460101", campaign="7", dial_attempt="41")


async def test_the_script_of_a_live_call_is_for_the_agents_on_it(make_world: Any, traces_dir: Path) -> None:
    world = await make_world()
    talking, _ = _answered_calls(traces_dir)  # a real capture: CALL_A answered by 1002 (Alice), CALL_B by 1004 (Bea)
    for h in talking:
        world.client.app[LIVE].ingest.feed_headers(h)
    live = {c.call_id: c for c in world.client.app[LIVE].tracker.open_calls()}
    caller = live[CALL_A].customer or live[CALL_A].caller
    async with world.db.session() as s:
        contact = Contact(first_name="Cleo", last_name="Caller", tags=["vip"])
        s.add(contact)
        await s.flush()
        s.add(Phone(e164=caller, raw=caller, contact_id=contact.id))
    assert (await make(world, world.sup_a, name="VIP", segment="vip", body="Hi {contact.first_name}"))[0] == 201
    status, got = await world.call(world.agent_a1, "GET", f"/api/v1/calls/{CALL_A}/script")
    assert status == 200 and (got["source"], got["text"], got["campaign"]) == ("segment", "Hi Cleo", None), got
    # Bea is on the same caller's other call, in team B, which has no script: none, not team A's.
    status, got = await world.call(world.agent_b1, "GET", f"/api/v1/calls/{CALL_B}/script")
    assert status == 200 and (got["source"], got["parts"]) == (None, []), got
    for who in (world.agent_a2, world.sup_a, world.admin, world.agent_b1):
        status, err = await world.call(who, "GET", f"/api/v1/calls/{CALL_A}/script")
        assert status == 403 and err["error"]["field"] == "call_id", (who, err)
    status, err = await world.call(world.agent_a1, "GET", "/api/v1/calls/1795390000.9/script")
    assert status == 404 and err["error"]["field"] == "call_id"
