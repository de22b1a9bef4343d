"""A call's routing decisions and dial attempts are written on its activity (call_meta); the activity, timeline and
contact APIs return them (a real Asterisk tester found them stored but shown nowhere)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from crm_core.models import Activity, ActivityKind, Direction

META = {
    "answered_by": "1003",
    "queue": None,
    "agents_rung": ["1002", "1003"],
    "agents_talked": ["1003"],
    "attempts": [
        {"agent": "1002", "queue": None, "result": "NOANSWER", "at_s": 1795390491.2, "ring_s": 18.0, "rang": True},
        {"agent": "1004", "queue": None, "result": "CHANUNAVAIL", "at_s": 1795390509.3, "ring_s": 0.0, "rang": False},
        {"agent": "1003", "queue": None, "result": "ANSWER", "at_s": 1795390509.9, "ring_s": 4.1, "rang": True},
    ],
    "routing": [
        {"attempt": 1, "action": "dial", "reason": "owner", "targets": ["1002"], "queue": "support", "team": "support",
         "explanation": "Contact Jo Doe is owned by Alice Agent (1002); ringing for 18 s."},
        {"attempt": 2, "action": "dial", "reason": "owner-no-answer->teammate", "targets": ["1003"], "queue": "support",
         "team": "support", "explanation": "1003 is least loaded (0.0 min talk+wrap-up), no call yet; ringing for 18 s."},
    ],
    "wrapup_s": 12.5,
    "end_estimated": False,
}


async def test_the_call_activity_carries_its_routing_and_every_dial_attempt(world: Any) -> None:
    status, contact = await world.call(world.admin, "POST", "/api/v1/contacts",
                                       {"first_name": "Jo", "last_name": "Doe", "phones": [{"number": "+12125550101"}]})
    assert status == 201, contact
    async with world.db.session() as s:
        activity = Activity(kind=ActivityKind.CALL, direction=Direction.INBOUND, call_id="1795390491.0",
                            started_at=datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc), result="answered",
                            contact_id=contact["id"], user_id=world.agent_a2.id, call_meta=META)
        s.add(activity)
        await s.commit()
        activity_id = activity.id

    status, body = await world.call(world.admin, "GET", f"/api/v1/activities/{activity_id}")
    assert status == 200, body
    call = body["call"]
    assert [step["reason"] for step in call["routing"]] == ["owner", "owner-no-answer->teammate"]
    assert "owned by Alice Agent" in call["routing"][0]["explanation"]
    assert [(a["agent"], a["result"], a["ring_s"]) for a in call["attempts"]] == [
        ("1002", "NOANSWER", 18.0), ("1004", "CHANUNAVAIL", 0.0), ("1003", "ANSWER", 4.1)]
    assert call["wrapup_s"] == 12.5 and call["approximate"] is False and call["answered_by"] == "1003"

    status, profile = await world.call(world.admin, "GET", f"/api/v1/contacts/{contact['id']}/timeline")
    assert status == 200, profile
    [item] = [i for i in profile["timeline"] if i["type"] == "activity"]
    assert item["data"]["call"]["routing"][1]["targets"] == ["1003"]

    status, note = await world.call(world.admin, "POST", "/api/v1/activities",
                                    {"kind": "note", "subject": "not a call", "contact_id": contact["id"]})
    assert status == 201 and note["call"] is None
