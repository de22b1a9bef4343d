"""Telephony routes: click-to-call sends the AMI Originate; the screen pop shows who is calling."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.app_keys import AMI
from tests.ami_conn.ami_peer import AmiPeer


async def _world_with_asterisk(make_world: Any, peer: AmiPeer) -> Any:
    world = await make_world(
        CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="s3cret"
    )
    await world.client.app[AMI].wait_live(10)
    return world


async def test_click_to_call_rings_the_agent_then_dials_the_contact(make_world: Any, peer: AmiPeer) -> None:
    world = await _world_with_asterisk(make_world, peer)
    agent = world.agent_a1
    _, contact = await world.call(agent, "POST", "/api/v1/contacts", {"last_name": "Doe", "phones": [{"number": "(212) 555-0199"}]})
    status, placed = await world.call(agent, "POST", "/api/v1/calls/click-to-call", {"contact_id": contact["id"]})
    assert status == 202, placed
    assert placed == {"action_id": placed["action_id"], "agent_extension": "1002", "number": "+12125550199"}
    sent = await peer.wait_action("Originate")
    assert (sent["Channel"], sent["Context"], sent["Exten"], sent["ActionID"]) == ("PJSIP/1002", "cc-dial-customer", "+12125550199", placed["action_id"])
    assert sent["Variable"] == f"CC_CLICK_TO_CALL={agent.id}"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "phone"),
        ({"phone": "+1 212 555 0199", "contact_id": 1}, 422, "phone"),
        ({"phone": "garbage"}, 422, "phone"),
        ({"phone": "(212) 555-0100"}, 422, "phone"),  # the company's own number
        ({"contact_id": 424242}, 404, "contact_id"),
    ],
)
async def test_click_to_call_bad_requests(make_world: Any, peer: AmiPeer, body: dict, status: int, field: str) -> None:
    world = await _world_with_asterisk(make_world, peer)
    got, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/click-to-call", body)
    assert got == status and err["error"]["field"] == field, err


async def test_click_to_call_needs_telephony_and_an_extension(make_world: Any) -> None:
    world = await make_world()  # no Asterisk configured
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/click-to-call", {"phone": "+1 212 555 0199"})
    assert status == 503 and err["error"]["code"] == "unavailable"
    status, err = await world.call(world.admin, "POST", "/api/v1/calls/click-to-call", {"phone": "+1 212 555 0199"})
    assert status == 422 and "extension" in err["error"]["message"]


async def test_screen_pop_shows_owner_deals_and_tasks(world: Any) -> None:
    agent = world.agent_a1
    await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "Sales", "is_default": True, "stages": [{"name": "New"}]})
    _, company = await world.call(agent, "POST", "/api/v1/companies", {"name": "Acme"})
    _, contact = await world.call(agent, "POST", "/api/v1/contacts", {"first_name": "Jo", "last_name": "Doe", "company_id": company["id"], "phones": [{"number": "(212) 555-0199"}]})
    await world.call(agent, "POST", "/api/v1/deals", {"title": "Renewal", "contact_id": contact["id"], "amount": "500"})
    await world.call(agent, "POST", "/api/v1/tasks", {"title": "Send offer", "contact_id": contact["id"]})
    status, card = await world.call(agent, "GET", "/api/v1/screen-pop", params={"phone": "+1 212-555-0199"})
    assert status == 200
    assert (card["known"], card["entity"], card["name"], card["company_name"]) == (True, "contact", "Jo Doe", "Acme")
    assert (card["responsible_id"], card["responsible_name"]) == (agent.id, "Alice Agent")
    assert [d["title"] for d in card["open_deals"]] == ["Renewal"] and [t["title"] for t in card["open_tasks"]] == ["Send offer"]
    status, unknown = await world.call(agent, "GET", "/api/v1/screen-pop", params={"phone": "+1 212 555 0142"})
    assert status == 200 and unknown == {**unknown, "known": False, "number": "+12125550142"}
    # Another team's agent with no call from this number sees nothing: the answer for an unknown number.
    status, hidden = await world.call(world.agent_b1, "GET", "/api/v1/screen-pop", params={"phone": "+1 212-555-0199"})
    assert status == 200 and hidden == {**unknown, "number": "+12125550199"}
    status, err = await world.call(agent, "GET", "/api/v1/screen-pop", params={"phone": "nope"})
    assert status == 422 and err["error"]["field"] == "phone"


async def test_live_calls_is_empty_without_asterisk(world: Any) -> None:
    status, calls = await world.call(world.sup_a, "GET", "/api/v1/calls/live")
    assert status == 200 and calls == []


async def test_agent_on_the_call_gets_the_card_of_someone_elses_customer(make_world: Any, peer: AmiPeer, traces_dir: Any) -> None:
    import asyncio

    from callcenter.app_keys import BUS
    from callcenter.events import CallAnswered
    from tests.ami_conn.ami_peer import trace_frames

    world = await _world_with_asterisk(make_world, peer)
    # The caller of inbound_agi_dial_answer belongs to Bea (team B); Alice (1002) answers the call.
    await world.call(world.agent_b1, "POST", "/api/v1/contacts", {"last_name": "Bea's client", "phones": [{"number": "+12125550101"}]})
    status, before = await world.call(world.agent_a1, "GET", "/api/v1/screen-pop", params={"phone": "+12125550101"})
    assert status == 200 and before["known"] is False  # not theirs, not on their phone: as an unknown number
    answered = asyncio.Event()
    world.client.app[BUS].subscribe(lambda _e: answered.set(), event_type=CallAnswered)
    frames = trace_frames(traces_dir / "inbound_agi_dial_answer.ami")
    until_hangup = frames[: next(i for i, f in enumerate(frames) if f.startswith(b"Event: HangupRequest"))]
    await peer.send(b"".join(until_hangup))
    await asyncio.wait_for(answered.wait(), 10)
    status, card = await world.call(world.agent_a1, "GET", "/api/v1/screen-pop", params={"phone": "+12125550101"})
    assert status == 200 and card["name"] == "Bea's client" and card["responsible_id"] == world.agent_b1.id
    status, live = await world.call(world.agent_a1, "GET", "/api/v1/calls/live")
    assert status == 200 and [c["answered_by"] for c in live] == ["1002"]
    status, live = await world.call(world.agent_b1, "GET", "/api/v1/calls/live")
    assert live == []


async def test_agent_links_the_live_call_to_a_record_and_the_link_survives_the_call_end(make_world: Any, peer: AmiPeer, traces_dir: Any) -> None:
    import asyncio

    from sqlalchemy import select

    from callcenter.app_keys import BUS
    from callcenter.outbox.pipeline import crm_settled
    from callcenter.events import CallAnswered, CallEnded
    from crm_core.models import Activity
    from tests.ami_conn.ami_peer import trace_frames

    world = await _world_with_asterisk(make_world, peer)
    answered: list[CallAnswered] = []
    got_answer, got_end = asyncio.Event(), asyncio.Event()
    world.client.app[BUS].subscribe(lambda e: (answered.append(e), got_answer.set()), event_type=CallAnswered)
    world.client.app[BUS].subscribe(lambda _e: got_end.set(), event_type=CallEnded)
    frames = trace_frames(traces_dir / "inbound_agi_dial_answer.ami")
    cut = next(i for i, f in enumerate(frames) if f.startswith(b"Event: HangupRequest"))
    await peer.send(b"".join(frames[:cut]))
    await asyncio.wait_for(got_answer.wait(), 10)
    call_id = answered[0].call_id
    # During the call Alice creates a contact for the caller's company contact person and links the call to it.
    _, contact = await world.call(world.agent_a1, "POST", "/api/v1/contacts", {"last_name": "Walk-in"})
    status, linked = await world.call(world.agent_a1, "POST", f"/api/v1/calls/{call_id}/link", {"contact_id": contact["id"]})
    assert status == 200 and linked["contact_id"] == contact["id"]
    await peer.send(b"".join(frames[cut:]))
    await asyncio.wait_for(got_end.wait(), 10)
    await asyncio.wait_for(crm_settled(world.client.app), 10)
    async with world.db.session() as s:
        [activity] = list(await s.scalars(select(Activity).where(Activity.call_id == call_id)))
    assert activity.contact_id == contact["id"] and activity.result == "answered" and activity.talk_s and activity.talk_s > 0
    status, err = await world.call(world.agent_a1, "POST", "/api/v1/calls/nope/link", {"contact_id": contact["id"]})
    assert status == 404 and err["error"]["field"] == "call_id"
    status, err = await world.call(world.agent_b1, "POST", f"/api/v1/calls/{call_id}/link", {"contact_id": contact["id"]})
    assert status == 404 and err["error"]["field"] == "contact_id"
    status, err = await world.call(world.agent_a1, "POST", f"/api/v1/calls/{call_id}/link", {})
    assert status == 422
