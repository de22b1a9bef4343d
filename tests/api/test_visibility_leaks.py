"""What an agent must not learn about another team's customers: not through the screen pop (REST or pushed), not
through /lookup or /timeline, and they may not staff another team's queue."""

from __future__ import annotations

import asyncio
from typing import Any


from callcenter.api.agent_ws import pop_for
from callcenter.api.call_routes import card
from callcenter.app_keys import AMI, BUS, PHONE_RULES
from callcenter.events import CallAnswered
from crm_core import records
from crm_core.access import Principal
from crm_core.models import Entity, Role
from tests.ami_conn.ami_peer import AmiPeer, trace_frames
from tests.api.conftest import TWO_TEAMS, World

B_NUMBER = "+12125550177"
TEAMS = TWO_TEAMS


async def _team_b_customer(world: World) -> dict[str, Any]:
    """Bea's (Team B) contact with a confidential open deal and a task."""
    status, contact = await world.call(world.agent_b1, "POST", "/api/v1/contacts",
                                       {"first_name": "Carla", "last_name": "Client", "phones": [{"number": B_NUMBER}]})
    assert status == 201, contact
    await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Sales", "is_default": True, "stages": [{"name": "New"}]})
    status, deal = await world.call(world.agent_b1, "POST", "/api/v1/deals",
                                    {"title": "Secret merger", "contact_id": contact["id"], "amount": "1000000"})
    assert status == 201, deal
    status, task = await world.call(world.agent_b1, "POST", "/api/v1/tasks",
                                    {"title": "Send the term sheet", "contact_id": contact["id"], "assignee_id": world.agent_b1.id})
    assert status == 201, task
    return contact


def _agent_a1(world: World) -> Principal:
    return Principal(user_id=world.agent_a1.id, role=Role.AGENT, team_id=world.agent_a1.team_id)


async def test_lookup_and_timeline_answer_a_plain_404_for_a_record_the_caller_may_not_see(world: World) -> None:
    contact = await _team_b_customer(world)
    for path in ("/api/v1/lookup", "/api/v1/timeline"):
        status, hidden = await world.call(world.agent_a1, "GET", path, params={"phone": B_NUMBER})
        status_unknown, unknown = await world.call(world.agent_a1, "GET", path, params={"phone": "+12125550178"})
        assert (status, status_unknown) == (404, 404)
        assert hidden == unknown  # the same answer: nothing says the number is someone's
        assert "contact" not in hidden["error"]["message"] and str(contact["id"]) not in hidden["error"]["message"]
    status, found = await world.call(world.agent_b1, "GET", "/api/v1/lookup", params={"phone": B_NUMBER})
    assert status == 200 and found["id"] == contact["id"]


async def test_the_screen_pop_shows_no_other_teams_deal_or_task(world: World) -> None:
    contact = await _team_b_customer(world)
    # REST, without a call from that number on the agent's phone: as unknown, not a 404 naming the record.
    status, pop = await world.call(world.agent_a1, "GET", "/api/v1/screen-pop", params={"phone": B_NUMBER})
    assert status == 200 and pop["known"] is False and pop.get("id") is None
    # The card itself (REST pop during an inbound call, and the pushed pop): who it is, not their deals and tasks.
    async with world.db.read_session() as s:
        record = await records.get(s, Principal.system(), Entity.CONTACT, contact["id"])
        seen = await card(s, Entity.CONTACT, record, B_NUMBER, viewer=_agent_a1(world))
        owner_view = await card(s, Entity.CONTACT, record, B_NUMBER,
                                viewer=Principal(user_id=world.agent_b1.id, role=Role.AGENT, team_id=world.agent_b1.team_id))
    assert seen.name == "Carla Client" and seen.open_deals == [] and seen.open_tasks == []
    assert [d["title"] for d in owner_view.open_deals] == ["Secret merger"] and len(owner_view.open_tasks) == 1
    pushed = await pop_for(world.db, world.client.app[PHONE_RULES], B_NUMBER, _agent_a1(world))
    assert pushed is not None and pushed.open_deals == [] and pushed.open_tasks == []


async def test_an_agent_may_not_log_into_another_teams_queue(make_world: Any, tmp_path: Any) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text(TEAMS)
    world = await make_world(config)
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/agents/1002/login", {"teams": ["Team B"]})
    assert status == 403 and err["error"]["field"] == "teams"
    status, err = await world.call(world.sup_a, "POST", "/api/v1/agents/1002/login", {"teams": ["Team A", "Team B"]})
    assert status == 403 and err["error"]["field"] == "teams"
    # Their own team's queue is fine (503 here only because no Asterisk is configured in this test).
    status, _ = await world.call(world.agent_a1, "POST", "/api/v1/agents/1002/login", {"teams": ["Team A"]})
    assert status in (202, 200, 503)


async def test_a_live_call_is_shown_to_its_own_teams_supervisor_only(make_world: Any, peer: AmiPeer, traces_dir: Any) -> None:
    world = await make_world(CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port),
                             CALLCENTER_AMI__SECRET="s3cret")
    await world.client.app[AMI].wait_live(10)
    status, sup_b = await world.call(world.admin, "POST", "/api/v1/users",
                                     {"name": "Bo Supervisor", "role": "supervisor", "team_id": world.agent_b1.team_id})
    assert status == 201
    status, token = await world.call(world.admin, "POST", "/api/v1/tokens", {"user_id": sup_b["id"], "name": "t"})
    sup_b_headers = {"Authorization": f"Bearer {token['token']}"}
    answered = asyncio.Event()
    world.client.app[BUS].subscribe(lambda _e: answered.set(), event_type=CallAnswered)
    frames = trace_frames(traces_dir / "inbound_agi_dial_answer.ami")  # answered by 1002, Team A
    await peer.send(b"".join(frames[: next(i for i, f in enumerate(frames) if f.startswith(b"Event: HangupRequest"))]))
    await asyncio.wait_for(answered.wait(), 10)
    status, mine = await world.call(world.sup_a, "GET", "/api/v1/calls/live")
    assert status == 200 and [c["answered_by"] for c in mine] == ["1002"]
    resp = await world.client.get("/api/v1/calls/live", headers=sup_b_headers)
    assert resp.status == 200 and await resp.json() == []


async def test_a_name_stored_with_a_line_break_never_reaches_ami(make_world: Any, peer: AmiPeer, tmp_path: Any) -> None:
    """Names are checked now (422), but one stored before must still not split an AMI header."""
    from sqlalchemy import update

    from callcenter.app_keys import ROUTING
    from crm_core.models import User

    config = tmp_path / "callcenter.toml"
    config.write_text(TEAMS)
    world = await make_world(config, CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port),
                             CALLCENTER_AMI__SECRET="s3cret")
    await world.client.app[AMI].wait_live(10)
    async with world.db.session() as s:
        await s.execute(update(User).where(User.id == world.agent_a1.id).values(name="Alice\r\nAction: Originate"))
    await world.client.app[ROUTING].refresh()
    status, out = await world.call(world.agent_a1, "POST", "/api/v1/agents/1002/login", {})
    assert status == 200, out
    added = await asyncio.wait_for(peer.wait_action("QueueAdd"), 10)
    assert added["MemberName"] == "Alice Action: Originate"
