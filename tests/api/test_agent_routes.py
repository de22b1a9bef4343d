"""Agent controls and routing decisions over the API: who may act on whom, and bad input. (The controls reaching
Asterisk are tested against the simulator in tests/routing/test_e2e_simulator.py.)"""

from __future__ import annotations

from tests.api.conftest import World


async def test_agents_list_is_scoped_by_role(world: World) -> None:
    status, everyone = await world.call(world.admin, "GET", "/api/v1/agents")
    assert status == 200 and [a["agent"] for a in everyone] == ["1001", "1002", "1003", "1004"]
    assert {a["state"] for a in everyone} == {"offline"}  # no Asterisk: nobody can take calls
    _, team = await world.call(world.sup_a, "GET", "/api/v1/agents")
    assert [a["agent"] for a in team] == ["1001", "1002", "1003"]
    _, own = await world.call(world.agent_a1, "GET", "/api/v1/agents")
    assert [(a["agent"], a["name"], a["team"]) for a in own] == [("1002", "Alice Agent", "Team A")]


async def test_who_may_pause_whom(world: World) -> None:
    status, body = await world.call(world.agent_a1, "POST", "/api/v1/agents/1003/pause", {"reason": "lunch"})
    assert status == 403 and body["error"]["message"] == "agents control only their own phone"
    status, _ = await world.call(world.sup_a, "POST", "/api/v1/agents/1004/pause", {"reason": "lunch"})
    assert status == 403  # team B
    # Allowed, but there is no Asterisk to tell: a clear 503, not a pretend success.
    status, body = await world.call(world.sup_a, "POST", "/api/v1/agents/1002/pause", {"reason": "lunch"})
    assert status == 503 and "ami.host" in body["error"]["message"]
    status, _ = await world.call(world.agent_a1, "POST", "/api/v1/agents/1002/unpause")
    assert status == 503
    status, _ = await world.call(None, "POST", "/api/v1/agents/1002/pause", {"reason": "lunch"})
    assert status == 401


async def test_bad_control_requests(world: World) -> None:
    status, body = await world.call(world.admin, "POST", "/api/v1/agents/9999/pause", {"reason": "x"})
    assert status == 404 and body["error"]["field"] == "agent"
    status, body = await world.call(world.admin, "POST", "/api/v1/agents/1002/pause", {"reason": "a\r\nAction: Hangup"})
    assert status == 422 and body["error"]["field"] == "reason"  # no AMI header injection through the reason
    status, body = await world.call(world.admin, "POST", "/api/v1/agents/1002/pause", {"reason": "x" * 81})
    assert status == 422
    status, body = await world.call(world.admin, "POST", "/api/v1/agents/1002/login", {"teams": ["nope"]})
    assert status == 422 and "nope" in body["error"]["message"]
    status, body = await world.call(world.admin, "POST", "/api/v1/agents/1001/wrapup-end")
    assert status == 422 and body["error"]["message"] == "agent 1001 is not in wrap-up"


async def test_routing_decisions_are_for_supervisors(world: World) -> None:
    status, _ = await world.call(world.agent_a1, "GET", "/api/v1/routing/decisions")
    assert status == 403
    status, body = await world.call(world.sup_a, "GET", "/api/v1/routing/decisions", params={"call_id": "nope"})
    assert status == 200 and body == []
    status, body = await world.call(world.sup_a, "GET", "/api/v1/routing/decisions", params={"limit": "0"})
    assert status == 400
