"""An agent on a call may update the caller's lead though a colleague owns it (its quick-lead fields only), and
link the call to it; without the call, the lead stays invisible to them."""

from __future__ import annotations

import asyncio
from typing import Any


from callcenter.app_keys import AMI, BUS
from callcenter.events import CallAnswered
from tests.ami_conn.ami_peer import AmiPeer, trace_frames

CALLER = "+12125550101"  # inbound_agi_dial_answer: answered by 1002 (Alice, team A)


async def test_the_agent_on_the_call_updates_the_callers_lead_a_colleague_owns(
    make_world: Any, peer: AmiPeer, traces_dir: Any
) -> None:
    world = await make_world(CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port),
                             CALLCENTER_AMI__SECRET="s3cret")
    await world.client.app[AMI].wait_live(10)
    status, lead = await world.call(world.agent_a2, "POST", "/api/v1/leads",
                                    {"title": "Arno's lead", "phones": [{"number": CALLER}]})
    assert status == 201, lead
    path = f"/api/v1/leads/{lead['id']}"
    status, _ = await world.call(world.agent_a1, "GET", path)
    assert status == 404  # no call: not hers
    answered = asyncio.Event()
    world.client.app[BUS].subscribe(lambda _e: answered.set(), event_type=CallAnswered)
    frames = trace_frames(traces_dir / "inbound_agi_dial_answer.ami")
    await peer.send(b"".join(frames[: next(i for i, f in enumerate(frames) if f.startswith(b"Event: HangupRequest"))]))
    await asyncio.wait_for(answered.wait(), 10)

    status, seen = await world.call(world.agent_a1, "GET", path)
    assert status == 200 and seen["title"] == "Arno's lead"
    status, changed = await world.call(world.agent_a1, "PATCH", path, {"person_name": "Pat Caller", "status": "in_progress"})
    assert status == 200 and (changed["person_name"], changed["status"]) == ("Pat Caller", "in_progress")
    assert changed["responsible_id"] == world.agent_a2.id  # still Arno's
    status, err = await world.call(world.agent_a1, "PATCH", path, {"responsible_id": world.agent_a1.id})
    assert status == 403 and err["error"]["field"] == "responsible_id"
    status, live = await world.call(world.agent_a1, "GET", "/api/v1/calls/live")
    status, linked = await world.call(world.agent_a1, "POST", f"/api/v1/calls/{live[0]['call_id']}/link", {"lead_id": lead["id"]})
    assert status == 200 and linked["lead_id"] == lead["id"]
    # A colleague who is not on the call still cannot.
    status, _ = await world.call(world.agent_b1, "GET", path)
    assert status == 404
    status, _ = await world.call(world.agent_b1, "PATCH", path, {"title": "mine now"})
    assert status == 404
