"""Preview mode end to end: agents take cards of a running preview campaign over the HTTP API, dial or skip them, and
the answered call reaches the agent who dialled it; the whole service against the simulator (tests/floor.py), as in
test_runner_e2e.py. Waits are on the bus and the runner's ticks, bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from callcenter.app_keys import AMI, DATABASE, LIVE, ROUTING
from callcenter.dialer import dnc_store
from callcenter.dialer.live_status import DIALER
from callcenter.dialer.outcomes import AttemptOutcome
from callcenter.dialer.runner import DialerRunner, PreviewCard, PreviewDialled
from callcenter.events import AgentState, CallEnded
from crm_core.access import Principal
from crm_core.dialer_models import AttemptState
from crm_core.models import Role, Team
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.conftest import require_service
from tests.dialer.test_runner_e2e import (LEASE_REDIS, REPORT, TOML, attempts, callees, launch, manager, number_of,
                                          second_instance, until)
from tests.floor import WAIT_S, Floor, running_floor

# Its instances share Redis pub/sub (channels span Redis databases): one such test at a time (pytest-xdist).
pytestmark = pytest.mark.xdist_group("redis-apps")

SCRIPT = "Hello {contact.first_name}, this is {agent.name} from Renewals."
THREE = ["Hopper", "Turing", "Knuth"]


async def preview_campaign(floor: Floor, cm: int, last_names: list[str], **over: Any) -> int:
    async with floor.http_as(cm) as http:
        resp = await http.post("/api/v1/reports/saved", json={"name": "Preview list", "definition": {
            **REPORT, "filters": [{"field": "last_name", "op": "in", "value": last_names}]}})
        assert resp.status == 201, await resp.text()
        report_id = (await resp.json())["id"]
    return await launch(floor, cm, **{"saved_report_id": report_id, "mode": "preview", "script": SCRIPT, **over})


async def post(floor: Floor, user_id: int, path: str) -> tuple[int, Any]:
    async with floor.http_as(user_id) as http:
        resp = await http.post(path)
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_an_agent_previews_a_card_dials_it_and_the_answered_call_reaches_that_agent(tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await preview_campaign(floor, cm, THREE)
        agent, other = floor.crm.agents["1003"], floor.crm.agents["1004"]
        base = f"/api/v1/campaigns/{campaign_id}/preview"

        async with floor.http_as(agent) as http:
            resp = await http.get("/api/v1/preview-campaigns")
            assert resp.status == 200 and [c["id"] for c in await resp.json()] == [campaign_id]
        status, card = await post(floor, agent, base + "/next")
        assert status == 200, card
        numbers = {number_of(n): n for n in THREE}
        assert card["e164"] in numbers and card["entity"] == "contacts"
        assert card["values"]["last_name"] == numbers[card["e164"]]
        assert card["script"]["text"].startswith("Hello ") and "{" not in card["script"]["text"]
        assert await post(floor, agent, base + "/next") == (200, card)  # the card held stays the agent's

        # Another agent is offered another card; skipping it gives them the next one, the skipped one stays callable.
        status, theirs = await post(floor, other, base + "/next")
        assert status == 200 and theirs["e164"] != card["e164"]
        assert (await post(floor, other, base + "/skip"))[0] == 204
        status, body = await post(floor, other, base + "/skip")
        assert status == 409 and body["error"]["field"] == "card"
        status, third = await post(floor, other, base + "/next")
        assert status == 200 and third["e164"] not in (card["e164"], theirs["e164"])
        assert floor.sim.pbx.stats.originates == 0  # preview never dials by itself

        status, dialled = await post(floor, agent, base + "/dial")
        assert status == 200, dialled
        assert dialled["e164"] == card["e164"]
        ended = await floor.wait(
            lambda: next((e for e in floor.seen if isinstance(e, CallEnded) and e.customer == card["e164"]), None),
            "the preview call to end")
        assert ended.answered_by == "1003" and ended.campaign == str(campaign_id)

        async def connected() -> Any:
            rows = [r for r in await attempts(floor, campaign_id) if r.id == dialled["attempt_id"]]
            return rows[0] if rows and rows[0].state is AttemptState.ENDED else None
        row = await until(floor, connected, "the attempt's end")
        assert (row.outcome, row.agent_id, row.e164) == (AttemptOutcome.CONNECTED, agent, card["e164"])
        assert floor.sim.pbx.stats.originates == 1  # only the agent's dial
        status, body = await post(floor, agent, base + "/dial")  # the card went with the dial
        assert status == 409 and body["error"]["field"] == "card"


async def test_a_number_put_on_the_list_while_its_card_is_shown_is_refused_and_roles_are_kept(tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await preview_campaign(floor, cm, ["Hopper"])
        agent = floor.crm.agents["1002"]
        base = f"/api/v1/campaigns/{campaign_id}/preview"
        status, card = await post(floor, agent, base + "/next")
        assert status == 200 and card["e164"] == number_of("Hopper")
        async with floor.app[DATABASE].session() as s:
            await dnc_store.add(s, card["e164"], campaign_id=campaign_id, reason="asked while on the card")

        status, body = await post(floor, agent, base + "/dial")
        assert status == 409, body
        assert body["error"]["field"] == "e164" and body["error"]["reason"] == "dnc_campaign"
        assert floor.sim.pbx.stats.originates == 0
        (row,) = await attempts(floor, campaign_id)  # the refusal is logged as an attempt row, nothing dialled
        assert row.state is AttemptState.REFUSED and row.action_id is None

        # Roles: a supervisor of the team and a restricted caller are not agents; another team's agent sees nothing.
        async with floor.app[DATABASE].session() as s:
            team_id = await s.scalar(select(Team.id))
            supervisor = (await create_user(s, Principal.system(), UserIn(name="Sue Pervisor", role=Role.SUPERVISOR,
                                                                          team_id=team_id))).id
            elsewhere = Team(name="Elsewhere")
            s.add(elsewhere)
            await s.flush()
            stranger = (await create_user(s, Principal.system(), UserIn(name="Stan Ger", role=Role.AGENT,
                                                                        team_id=elsewhere.id, extension="1099"))).id
        for action in ("next", "dial", "skip"):
            assert (await post(floor, supervisor, f"{base}/{action}"))[0] == 403
            status, body = await post(floor, stranger, f"{base}/{action}")
            assert status == 404 and body["error"]["field"] == "id"
        async with floor.http_as(stranger) as http:
            assert await (await http.get("/api/v1/preview-campaigns")).json() == []
        async with floor.http_as(supervisor) as http:
            assert (await http.get("/api/v1/preview-campaigns")).status == 403
        status, body = await post(floor, agent, "/api/v1/campaigns/987654/preview/next")
        assert status == 404 and body["error"]["field"] == "id"
        status, body = await post(floor, agent, "/api/v1/campaigns/abc/preview/next")
        assert status == 400 and body["error"]["field"] == "id"

        # The list's only number is refused now: nothing to offer, then the campaign is done. Until the runner has
        # finished the campaign the answer may be "ask again" (the walk's pass is not over): asked again after a tick.
        runner = floor.app[DIALER]
        for _ in range(10):
            status, body = await post(floor, agent, base + "/next")
            if body["error"]["field"] != "list":
                break
            runner.tick_done.clear()
            await asyncio.wait_for(runner.tick_done.wait(), WAIT_S)
        assert status == 409 and body["error"]["field"] == "state", body
        assert floor.sim.pbx.stats.originates == 0


async def test_a_campaign_that_is_not_a_running_preview_one_offers_no_card(tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees(Hopper="no_answer")) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await preview_campaign(floor, cm, THREE)
        agent = floor.crm.agents["1002"]
        async with floor.http_as(cm) as http:
            resp = await http.post(f"/api/v1/campaigns/{campaign_id}/pause")
            assert resp.status == 200, await resp.text()
        status, body = await post(floor, agent, f"/api/v1/campaigns/{campaign_id}/preview/next")
        assert status == 409 and body["error"]["field"] == "state"
        progressive = await preview_campaign(floor, cm, ["Hopper"], mode="progressive", name="Progressive")
        status, body = await post(floor, agent, f"/api/v1/campaigns/{progressive}/preview/next")
        assert status == 409 and body["error"]["field"] == "mode"
        async with floor.http_as(agent) as http:
            assert await (await http.get("/api/v1/preview-campaigns")).json() == []


async def test_a_previewing_agent_taken_meanwhile_leaves_the_answered_call_to_another_free_agent(tmp_path: Path) -> None:
    """The agent who dialled is reserved for the answered call like any other (routing cannot offer them an inbound
    call meantime); no longer free when the callee answers, another free agent of the team takes it rather than the
    callee hearing the information message."""
    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await preview_campaign(floor, cm, ["Hopper"])
        agent = floor.crm.agents["1003"]
        base = f"/api/v1/campaigns/{campaign_id}/preview"
        assert (await post(floor, agent, base + "/next"))[0] == 200
        floor.sim.clock.auto = False  # the callee's phone rings until the test moves time on
        status, dialled = await post(floor, agent, base + "/dial")
        assert status == 200, dialled
        async with floor.http_as(agent) as http:
            resp = await http.post("/api/v1/agents/1003/pause", json={"reason": "break"})
            assert resp.status == 200, await resp.text()
        await floor.wait(lambda: floor.app[LIVE].agent_state("1003")[0] is AgentState.PAUSED, "1003 paused")
        await floor.app[ROUTING].follower.join()
        floor.sim.clock.auto = True
        ended = await floor.wait(
            lambda: next((e for e in floor.seen if isinstance(e, CallEnded) and e.customer == dialled["e164"]), None),
            "the preview call to end")
        assert ended.answered_by in ("1002", "1004")

        async def row_ended() -> Any:
            rows = await attempts(floor, campaign_id)
            return rows[0] if rows and rows[0].state is AttemptState.ENDED else None
        row = await until(floor, row_ended, "the attempt's end")
        assert (row.outcome, row.agent_id) == (AttemptOutcome.CONNECTED, floor.crm.agents[ended.answered_by])


async def test_an_instance_holding_no_lease_dials_previews_and_ends_those_lost_with_the_ami_session(
        tmp_path: Path) -> None:
    """Any instance serves previews: B, which does not pace the team (A holds its lease), dials a card; the AMI session
    goes while the call runs and the call ends unseen: once the new session's resync shows no call of it, B ends its
    own attempt (nothing re-sent) instead of keeping it in flight for ever."""
    require_service("Redis", "127.0.0.1", 6379)
    redis = aioredis.from_url(LEASE_REDIS)
    await redis.flushdb()
    toml = TOML + f'\n[redis]\nurl = "{LEASE_REDIS}"\n'
    try:
        async with running_floor(tmp_path, toml, callees=callees()) as floor:
            a = floor.app[DIALER]
            await floor.all_available()
            campaign_id = await preview_campaign(floor, await manager(floor), ["Hopper"])
            await until(floor, lambda: _paced_by(a, campaign_id), "A pacing the campaign")
            b = second_instance(floor, redis)
            b_task = asyncio.create_task(b.run())
            try:
                card = await b.preview_next(campaign_id, "1003")
                assert isinstance(card, PreviewCard), card
                floor.sim.clock.auto = False  # the call waits while the session goes
                dialled = await b.preview_dial(campaign_id, "1003")
                assert isinstance(dialled, PreviewDialled), dialled
                assert not b._held_teams and b._in_flight
                await floor.wait(lambda: floor.sim.pbx.stats.originates == 1, "the Originate")
                server, conn = floor.sim.server, floor.app[AMI]
                server.refuse_logins = True
                server.drop_connections()
                await floor.sim.clock.advance(120)  # the call runs to its end while nobody hears of it
                assert not floor.sim.pbx.channels
                floor.sim.clock.auto = True
                server.refuse_logins = False
                await conn.wait_live(WAIT_S)
                await until(floor, lambda: _nothing_in_flight(b), "B to end its lost attempt", runner=b)
                (row,) = await attempts(floor, campaign_id)
                assert row.state is AttemptState.ENDED and row.id == dialled.attempt_id
                assert floor.sim.pbx.stats.originates == 1  # never re-sent
            finally:
                b_task.cancel()
                await asyncio.gather(b_task, return_exceptions=True)
                await b.stop()
    finally:
        await redis.flushdb()
        await redis.aclose()


async def _paced_by(runner: DialerRunner, campaign_id: int) -> bool:
    return campaign_id in runner._runs and bool(runner._held_teams)


async def _nothing_in_flight(runner: DialerRunner) -> bool:
    return not runner._in_flight


async def test_a_preview_call_dialled_by_one_instance_reaches_its_agent_through_the_others_agi(tmp_path: Path) -> None:
    """B (no lease) dials a card for 1003; the AGI reaches the service's runner A, which never saw the dial: the
    attempt row names the previewing agent, so A gives 1003 the call, though 1003 is the agent A would pick last
    (the most recently free)."""
    require_service("Redis", "127.0.0.1", 6379)
    redis = aioredis.from_url(LEASE_REDIS)
    await redis.flushdb()
    toml = TOML + f'\n[redis]\nurl = "{LEASE_REDIS}"\n'
    try:
        async with running_floor(tmp_path, toml, callees=callees()) as floor:
            a = floor.app[DIALER]
            await floor.all_available()
            campaign_id = await preview_campaign(floor, await manager(floor), ["Hopper"])
            await until(floor, lambda: _paced_by(a, campaign_id), "A pacing the campaign")
            # B's loop is not run: serving a card and following its call need no tick (nor a lease).
            b = second_instance(floor, redis, follow_bus=False)
            try:
                async with floor.http_as(floor.crm.agents["1003"]) as http:  # 1003 becomes the most recently free
                    for action, body in (("pause", {"reason": "break"}), ("unpause", None)):
                        resp = await http.post(f"/api/v1/agents/1003/{action}", json=body)
                        assert resp.status == 200, await resp.text()
                        want = AgentState.PAUSED if action == "pause" else AgentState.AVAILABLE
                        await floor.wait(lambda: floor.app[LIVE].agent_state("1003")[0] is want, f"1003 {action}d")
                await floor.app[ROUTING].follower.join()
                assert isinstance(await b.preview_next(campaign_id, "1003"), PreviewCard)
                dialled = await b.preview_dial(campaign_id, "1003")
                assert isinstance(dialled, PreviewDialled), dialled
                assert dialled.attempt_id not in a._in_flight
                ended = await floor.wait(
                    lambda: next((e for e in floor.seen if isinstance(e, CallEnded) and e.customer == dialled.e164),
                                 None), "the preview call to end")
                assert ended.answered_by == "1003"
            finally:
                await b.stop()
                floor.app[LIVE].ingest.taps.remove(b.handle)
    finally:
        await redis.flushdb()
        await redis.aclose()
