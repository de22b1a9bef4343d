"""Pausing an agent who is in no queue (README: Pausing): Asterisk has no member to pause and answers "Interface not
found", yet the service dials agents directly. The rule: the live model holds the pause itself (200, saying so),
routing reads it and never dials a paused agent; unpause lifts it; logging into a queue carries it into the queue.
End to end against the PBX simulator (whose QueuePause answers like app_queue's)."""

from __future__ import annotations

from pathlib import Path

from callcenter.ami import actions
from callcenter.app_keys import AMI, LIVE, ROUTING
from callcenter.calls.agents import AgentBook
from callcenter.events import AgentState, AgentStateChanged
from tests.floor import ANSWER, QUEUE, Floor, running_floor


def test_the_live_model_holds_a_pause_for_an_agent_in_no_queue() -> None:
    out: list[object] = []
    book = AgentBook(wrapup_s=0.0, out=out)
    book.device("1004", "NOT_INUSE", 1.0)
    book.set_own_pause("1004", "training", 2.0)
    assert (book.agents["1004"].state, book.agents["1004"].reason) == (AgentState.PAUSED, "training")
    assert book.ordinary_pause("1004") == "training"  # the wrap-up pacer leaves it alone too
    book.set_own_pause("1004", None, 3.0)
    assert book.agents["1004"].state is AgentState.AVAILABLE


def states(floor: Floor, agent: str) -> list[tuple[AgentState, str | None]]:
    return [(e.state, e.reason) for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == agent]


async def test_an_agent_in_no_queue_is_paused_for_routing_and_never_dialled(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        await floor.app[AMI].send(actions.queue_remove(queue=QUEUE, interface="PJSIP/1004"))  # direct calls only
        async with floor.http_as(floor.crm.agents["1004"]) as http:
            async with http.post("/api/v1/agents/1004/pause", json={"reason": "wrap-up"}) as resp:
                assert resp.status == 422 and (await resp.json())["error"]["field"] == "reason"  # the pacer's own
            async with http.post("/api/v1/agents/1004/pause", json={"reason": "training"}) as resp:
                assert resp.status == 200, await resp.text()
                assert "no queue" in (await resp.json())["done"]
            await floor.wait(lambda: (AgentState.PAUSED, "training") in states(floor, "1004"), "1004 paused")
            assert floor.app[LIVE].agent_state("1004") == (AgentState.PAUSED, "training")
            await floor.app[ROUTING].follower.join()

            # 1004's own customer calls: routing passes them by, as for any paused manager.
            number = floor.customer_of("1004")
            for phone in ("1002", "1003"):
                floor.sim.pbx.phones[phone].scripted.append(ANSWER)
            await floor.call(number, talk_s=5.0)
            (decision, *_) = await floor.wait(lambda: floor.routed(number), "the call routed")
            assert "1004" not in decision.targets and decision.reason != "owner", decision
            await floor.wait(lambda: floor.ended(number), "the call to end")

            async with http.post("/api/v1/agents/1004/unpause") as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["done"] == "unpaused"
            await floor.wait(lambda: states(floor, "1004")[-1][0] is AgentState.AVAILABLE, "1004 available")

            # Paused again, then logged into the queue: the queue gets the same pause (app_queue must not ring them).
            async with http.post("/api/v1/agents/1004/pause", json={"reason": "coaching"}) as resp:
                assert resp.status == 200 and "no queue" in (await resp.json())["done"]
            async with http.post("/api/v1/agents/1004/login", json={}) as resp:
                assert resp.status == 200, await resp.text()
            member = floor.sim.pbx.queues.queues[QUEUE].members["PJSIP/1004"]
            assert (member.paused, member.reason) == (True, "coaching")
            async with http.post("/api/v1/agents/1004/unpause") as resp:
                assert resp.status == 200 and (await resp.json())["done"] == "unpause requested"
            assert (member.paused, member.reason) == (False, "")
            await floor.wait(lambda: states(floor, "1004")[-1][0] is AgentState.AVAILABLE, "1004 available again")
            # Logging in again (a second click, or *44 on the phone after the page) is no error: still logged in.
            async with http.post("/api/v1/agents/1004/login", json={}) as resp:
                assert resp.status == 200, await resp.text()
            assert floor.sim.pbx.queues.queues[QUEUE].members["PJSIP/1004"] is member
