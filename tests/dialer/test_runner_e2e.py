"""A campaign end to end: the whole service (build_app with the campaign runner, FastAGI, the CRM bridge) against the
simulator with seeded callees, over real sockets, from a saved report created and started through the HTTP API.
Waits are on the runner's ticks and the bus, bounded; the simulator's virtual clock makes rings and talks instant."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

import pytest
import redis.asyncio as aioredis

from callcenter.app_keys import AMI, BUS, DATABASE, LIVE
from callcenter.dialer.lease import RedisLeases
from callcenter.dialer.runner import DialerRunner, DialerSettings
from callcenter.dialer.live_status import DIALER
from callcenter.dialer.outcomes import AttemptOutcome, CampaignState
from callcenter.dialer.verdict import Reason
from callcenter.events import AgentState, CallEnded
from callcenter.pbxsim.callees import CalleeModel, CalleeProfile
from callcenter.demo.crm_seed import _CUSTOMERS, customer_number
from crm_core.access import Principal
from crm_core.dialer_models import AttemptState, Campaign, CampaignAttempt
from crm_core.models import Activity, Role, Team
from crm_core.schemas import UserIn
from crm_core.users import create_user
from tests.conftest import require_service
from tests.floor import EXTENSIONS, WAIT_S, Floor, running_floor
from tests.pbxsim.harness import frames_of

ALL_DAY = [{"start": "00:00", "end": "24:00"}]
WINDOWS = {day: ALL_DAY for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
TOML = """
[dialer]
tick_s = 0.2
agent_ring_s = 5
lost_grace_s = 5
"""
# Progressive: one call per free agent. Consent "not_refused": the sample CRM's contacts have none recorded.
LEASE_REDIS = "redis://127.0.0.1:6379/9"  # a database of its own: the test flushes it
REPORT = {"entity": "contacts", "columns": ["last_name"], "sort": {"field": "last_name"}}


def number_of(last_name: str) -> str:
    return customer_number(next(i for i, c in enumerate(_CUSTOMERS) if c[1] == last_name))


def callees(**behaviour: str) -> CalleeModel:
    """People answer after 2-4 s and talk 5-10 s (simulated time); ``behaviour``: last name -> what they always do."""
    model = CalleeModel(seed=11, default=CalleeProfile(answer_after_s=(2.0, 4.0), talk_s=(5.0, 10.0),
                                                       silence_patience_s=(6.0, 8.0)))
    for last_name, what in behaviour.items():
        model.set(number_of(last_name), CalleeProfile.always(what, answer_after_s=(2.0, 4.0), talk_s=(5.0, 10.0)))
    return model


async def manager(floor: Floor) -> int:
    async with floor.app[DATABASE].session() as s:
        team_id = await s.scalar(select(Team.id))
        user = await create_user(s, Principal.system(), UserIn(name="Cora Campaigns", role=Role.CAMPAIGN_MANAGER,
                                                               team_id=team_id))
        return user.id


async def launch(floor: Floor, user_id: int, **over: Any) -> int:
    async with floor.http_as(user_id) as http:
        resp = await http.post("/api/v1/reports/saved", json={"name": "Customers", "definition": REPORT})
        assert resp.status == 201, await resp.text()
        report_id = (await resp.json())["id"]
        async with floor.app[DATABASE].session() as s:
            team_id = await s.scalar(select(Team.id))
        body = {"name": "Renewals", "saved_report_id": report_id, "team_id": team_id, "caller_id": "+12125550100",
                "mode": "progressive", "windows": WINDOWS, "law": {"consent": "not_refused"}, **over}
        resp = await http.post("/api/v1/campaigns", json=body)
        assert resp.status == 201, await resp.text()
        campaign_id = (await resp.json())["id"]
        resp = await http.post(f"/api/v1/campaigns/{campaign_id}/start")
        assert resp.status == 200, await resp.text()
        return campaign_id


async def until(floor: Floor, check: Callable[[], Awaitable[Any]], what: str, *,
                runner: DialerRunner | None = None) -> Any:
    """Re-check after every tick of ``runner`` (the service's by default; each tick is signalled), bounded."""
    runner = runner or floor.app[DIALER]

    async def watch() -> Any:
        while True:
            runner.tick_done.clear()
            if result := await check():
                return result
            await runner.tick_done.wait()

    try:
        return await asyncio.wait_for(watch(), 4 * WAIT_S)
    except TimeoutError:
        seen = [(r.e164, r.attempt_no, r.state.value, r.outcome, r.refusal_reason)
                for c in (await _campaign_ids(floor)) for r in await attempts(floor, c)]
        raise AssertionError(f"timed out waiting for {what}; attempts: {seen}") from None


async def _campaign_ids(floor: Floor) -> list[int]:
    async with floor.app[DATABASE].read_session() as s:
        return list(await s.scalars(select(Campaign.id)))


def record_ami(floor: Floor) -> list[dict[str, str]]:
    """Every event the simulated Asterisk raises from now on, as headers: an operator's view (the dialplan's Newexten
    show what the callee heard), which the shipped manager.conf's eventfilter keeps off the service's own session."""
    raw: list[dict[str, str]] = []
    floor.sim.pbx.bus.listen(lambda _name, data: raw.extend(dict(f) for f in frames_of(data)))
    return raw


async def attempts(floor: Floor, campaign_id: int) -> list[CampaignAttempt]:
    async with floor.app[DATABASE].read_session() as s:
        rows = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)
                                    .order_by(CampaignAttempt.id)))
        s.expunge_all()
        return rows


async def campaign_row(floor: Floor, campaign_id: int) -> Campaign:
    async with floor.app[DATABASE].read_session() as s:
        row = await s.get(Campaign, campaign_id)
        assert row is not None
        s.expunge(row)
        return row


async def finished(floor: Floor, campaign_id: int) -> Campaign | None:
    row = await campaign_row(floor, campaign_id)
    return row if row.state is CampaignState.FINISHED else None


async def test_a_campaign_dials_its_list_by_the_rules_and_writes_every_attempt(tmp_path: Path) -> None:
    model = callees(Lovelace="machine", Dijkstra="busy", Liskov="no_answer", Allen="congestion")
    async with running_floor(tmp_path, TOML, callees=model) as floor:
        await floor.all_available()
        cm = await manager(floor)
        async with floor.http_as(cm) as http:  # on the system-wide list before the start: never dialled
            resp = await http.post("/api/v1/dnc", json={"e164": number_of("Knuth"), "reason": "asked"})
        assert resp.status == 403  # a campaign manager reads the system-wide list, admins change it
        async with floor.app[DATABASE].session() as s:
            from callcenter.dialer import dnc_store
            await dnc_store.add(s, number_of("Knuth"), reason="TPS")
        campaign_id = await launch(floor, cm, retry={
            "busy": {"delay_s": 0, "max_attempts": 2}, "no_answer": {"delay_s": 3, "max_attempts": 3},
            "failed": None, "machine": None})

        # Liskov never answers: after its first attempt, its number goes on the campaign's list before the 3 s retry.
        liskov = number_of("Liskov")
        await floor.wait(lambda: any(isinstance(e, CallEnded) and e.customer == liskov for e in floor.seen),
                         "Liskov's first attempt rang out")
        async with floor.http_as(cm) as http:
            resp = await http.post("/api/v1/dnc", json={"e164": liskov, "campaign_id": campaign_id,
                                                        "reason": "asked not to be called"})
            assert resp.status in (200, 201), await resp.text()

        campaign = await until(floor, lambda: finished(floor, campaign_id), "the campaign to finish")
        assert "list is done" in (campaign.state_reason or "")
        status = await floor.app[DIALER].live_status(campaign_id)  # what the campaign page shows
        assert status is not None and (status.status, status.detail) == ("idle", campaign.state_reason)
        rows = await attempts(floor, campaign_id)
        dialled = [r for r in rows if r.action_id is not None]
        by_number: dict[str, list[AttemptOutcome | None]] = {}
        for r in dialled:
            by_number.setdefault(r.e164, []).append(r.outcome)
        assert by_number == {
            number_of("Hopper"): [AttemptOutcome.CONNECTED],
            number_of("Turing"): [AttemptOutcome.CONNECTED],
            number_of("Thompson"): [AttemptOutcome.CONNECTED],
            number_of("Lovelace"): [AttemptOutcome.MACHINE],
            number_of("Dijkstra"): [AttemptOutcome.BUSY, AttemptOutcome.BUSY],  # retried at once, up to 2
            number_of("Liskov"): [AttemptOutcome.NO_ANSWER],  # the DNC entry stopped its retries
            number_of("Allen"): [AttemptOutcome.FAILED],
        }
        assert number_of("Knuth") not in {r.e164 for r in rows}
        # Nothing dialled twice: one Originate per attempt row, each attempt ended.
        assert floor.sim.pbx.stats.originates == len(dialled)
        assert all(r.state is AttemptState.ENDED for r in dialled)
        connected = [r for r in dialled if r.outcome is AttemptOutcome.CONNECTED]
        assert all(r.agent_id in floor.crm.agents.values() for r in connected)
        machine = next(r for r in dialled if r.outcome is AttemptOutcome.MACHINE)
        assert machine.amd_result == "MACHINE"

        # Every attempt is a CRM activity tied both ways; connected calls were talked by an agent of the team.
        async def all_linked() -> bool:
            return all(r.activity_id for r in await attempts(floor, campaign_id) if r.action_id)
        await until(floor, all_linked, "every attempt linked to its activity")
        async with floor.app[DATABASE].read_session() as s:
            for r in await attempts(floor, campaign_id):
                if r.action_id is None:
                    continue
                activity = await s.get(Activity, r.activity_id)
                assert activity is not None and activity.direction.value == "outbound"
                dialer = activity.call_meta["dialer"]
                assert (dialer["attempt_id"], dialer["campaign_id"], dialer["outcome"]) == (
                    r.id, campaign_id, r.outcome.value if r.outcome else None)
                assert activity.to_e164 == r.e164 and activity.team_id is not None
        talked = [e for e in floor.seen if isinstance(e, CallEnded) and e.campaign == str(campaign_id)
                  and e.answered_by]
        assert Counter(e.customer for e in talked) == Counter(
            {number_of("Hopper"): 1, number_of("Turing"): 1, number_of("Thompson"): 1})
        assert {e.answered_by for e in talked} <= set(EXTENSIONS)

        # The campaign page's figures, from the same rows, with the dialer's own status.
        async with floor.http_as(cm) as http:
            resp = await http.get(f"/api/v1/campaigns/{campaign_id}/figures")
            assert resp.status == 200, await resp.text()
            figures = await resp.json()
        assert (figures["attempts"]["dialled"], figures["attempts"]["connected"], figures["outcomes"]["busy"]) == (
            len(dialled), 3, 2)
        assert figures["progress"]["numbers_attempted"] == len(by_number)
        assert figures["progress"]["numbers_in_flight"] == 0


async def test_no_agent_answering_plays_the_message_and_counts_an_abandon(tmp_path: Path) -> None:
    model = callees()
    async with running_floor(tmp_path, TOML, callees=model, phone={"answer_probability": 0.0}) as floor:
        raw = record_ami(floor)
        await floor.all_available()
        cm = await manager(floor)
        # One person to call: a report of one contact.
        async with floor.http_as(cm) as http:
            resp = await http.post("/api/v1/reports/saved", json={"name": "One", "definition": {
                **REPORT, "filters": [{"field": "last_name", "op": "eq", "value": "Hopper"}]}})
            assert resp.status == 201, await resp.text()
        campaign_id = await launch(floor, cm, saved_report_id=(await resp.json())["id"], retry={"abandoned": None})
        campaign = await until(floor, lambda: finished(floor, campaign_id), "the campaign to finish")
        (row,) = await attempts(floor, campaign_id)
        assert (row.outcome, row.abandoned, row.agent_id) == (AttemptOutcome.ABANDONED, True, None)
        # The callee heard the information message (the shipped default sound) after the dialplan counted it.
        apps = [(h.get("Application"), h.get("AppData")) for h in raw if h.get("Event") == "Newexten"]
        assert ("Playback", "cc-dialer-info") in apps
        counted = next(i for i, (app, data) in enumerate(apps)
                       if app == "UserEvent" and data.startswith(f"CcDialerResult,Attempt: {row.id},Outcome: abandoned"))
        assert counted < apps.index(("Playback", "cc-dialer-info"))
        assert campaign.state is CampaignState.FINISHED


async def test_a_running_campaign_whose_agents_all_log_off_waits_and_says_why(tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees(Hopper="no_answer")) as floor:
        await floor.all_available()
        cm = await manager(floor)
        for ext in EXTENSIONS:  # their phones go away: nobody of the team can take a call
            floor.sim.pbx.unregister(ext)
        await floor.wait(lambda: all(floor.app[LIVE].agent_state(e)[0] is AgentState.OFFLINE for e in EXTENSIONS),
                         "every agent offline")
        async with floor.http_as(cm) as http:  # starting it now is refused, naming the cause
            resp = await http.post("/api/v1/reports/saved", json={"name": "Customers", "definition": REPORT})
            report_id = (await resp.json())["id"]
            async with floor.app[DATABASE].session() as s:
                team_id = await s.scalar(select(Team.id))
            resp = await http.post("/api/v1/campaigns", json={
                "name": "Renewals", "saved_report_id": report_id, "team_id": team_id, "caller_id": "+12125550100",
                "mode": "progressive", "windows": WINDOWS, "law": {"consent": "not_refused"}})
            campaign_id = (await resp.json())["id"]
            resp = await http.post(f"/api/v1/campaigns/{campaign_id}/start")
            assert resp.status == 409 and (await resp.json())["error"]["field"] == "team_id"
            floor.sim.pbx.register("1002")
            await floor.wait(lambda: floor.app[LIVE].agent_state("1002")[0] is AgentState.AVAILABLE, "1002 back")
            resp = await http.post(f"/api/v1/campaigns/{campaign_id}/start")
            assert resp.status == 200, await resp.text()
        await until(floor, lambda: _dialled(floor, campaign_id), "the first dial")
        floor.sim.pbx.unregister("1002")  # mid-campaign

        async def waiting() -> Any:
            live = await floor.app[DIALER].live_status(campaign_id)
            return live if live is not None and live.status == "waiting_for_agents" else None
        live = await until(floor, waiting, "the campaign to wait for agents")
        assert "no agent" in live.detail and live.agents == {"offline": 3}
        dialled = len([r for r in await attempts(floor, campaign_id) if r.action_id])
        # Nothing more is dialled while nobody is there: the next ticks leave the attempts as they are.
        for _ in range(5):
            floor.app[DIALER].tick_done.clear()
            await asyncio.wait_for(floor.app[DIALER].tick_done.wait(), WAIT_S)
        assert len([r for r in await attempts(floor, campaign_id) if r.action_id]) == dialled
        assert (await campaign_row(floor, campaign_id)).state is CampaignState.RUNNING


async def _dialled(floor: Floor, campaign_id: int) -> bool:
    return any(r.action_id for r in await attempts(floor, campaign_id))


async def test_ami_lost_mid_campaign_waits_then_resolves_its_calls_and_dials_nothing_twice(tmp_path: Path) -> None:
    model = CalleeModel(seed=3, default=CalleeProfile(answer_after_s=(2.0, 4.0), talk_s=(40.0, 60.0),
                                                      silence_patience_s=(6.0, 8.0)))
    async with running_floor(tmp_path, TOML, callees=model) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await launch(floor, cm, retry={"failed": None, "abandoned": None})
        live = floor.app[LIVE]
        await floor.wait(lambda: sum(1 for e in EXTENSIONS if live.agent_state(e)[0] is AgentState.TALKING) >= 1,
                         "an agent talking on a campaign call")
        server, conn = floor.sim.server, floor.app[AMI]
        server.refuse_logins = True
        server.drop_connections()

        async def waiting() -> Any:
            status = await floor.app[DIALER].live_status(campaign_id)
            return status if status is not None and status.status == "waiting_for_asterisk" else None
        status = await until(floor, waiting, "the campaign to wait for Asterisk")
        assert "AMI" in status.detail
        in_flight_at_loss = {r.id for r in await attempts(floor, campaign_id) if r.state is not AttemptState.ENDED}
        assert in_flight_at_loss  # the calls up when the session went
        server.refuse_logins = False
        await conn.wait_live(WAIT_S)

        campaign = await until(floor, lambda: finished(floor, campaign_id), "the campaign to finish")
        everything = await attempts(floor, campaign_id)
        # An Originate the lost session could not send is kept as such (nothing dialled); the number stays callable.
        assert all(r.refusal_reason is Reason.NOT_SENT for r in everything if r.state is AttemptState.REFUSED)
        rows = [r for r in everything if r.state is not AttemptState.REFUSED]
        assert campaign.state is CampaignState.FINISHED
        # Every number once (all are people who take the call), one Originate per attempt, all ended.
        assert Counter(r.e164 for r in rows) == Counter({customer_number(i): 1 for i in range(len(_CUSTOMERS))})
        assert floor.sim.pbx.stats.originates == len(rows)
        assert all(r.state is AttemptState.ENDED for r in rows)
        # The calls that spanned the loss ended by what the resync showed of them, never "dialled again".
        lost = [r for r in rows if r.id in in_flight_at_loss]
        assert {r.outcome for r in lost} <= {AttemptOutcome.CONNECTED, AttemptOutcome.FAILED}
        assert any(r.outcome is AttemptOutcome.CONNECTED and r.agent_id for r in lost)


@pytest.mark.xdist_group("redis-apps")  # shares Redis pub/sub with the other multi-instance tests
async def test_another_instance_takes_over_a_dead_ones_campaign_and_doubles_nothing(tmp_path: Path,
                                                                                     empty_pg: str) -> None:
    """Two instances share the database and Redis: A paces the team (its lease), then dies mid-campaign without a
    word. B, which followed the same AMI stream and bus all along, takes the lease once it expires, ends A's attempts
    from what their calls did, and dials the rest; every number is dialled once."""
    require_service("Redis", "127.0.0.1", 6379)
    redis = aioredis.from_url(LEASE_REDIS)
    await redis.flushdb()
    model = CalleeModel(seed=5, default=CalleeProfile(answer_after_s=(2.0, 4.0), talk_s=(20.0, 30.0),
                                                      silence_patience_s=(6.0, 8.0)))
    toml = TOML + f'\nlease_ttl_s = 2\n[redis]\nurl = "{LEASE_REDIS}"\n'
    try:
        async with running_floor(tmp_path, toml, callees=model, database_url=empty_pg) as floor:
            a = floor.app[DIALER]
            assert isinstance(a.leases, RedisLeases)
            await floor.all_available()
            cm = await manager(floor)
            async with floor.app[DATABASE].read_session() as s:
                team_id = await s.scalar(select(Team.id))
            assert await a.leases.hold(team_id, ttl_s=30)  # A paces the team from the start
            b = second_instance(floor, redis, lease_ttl_s=2)
            b_task = asyncio.create_task(b.run())
            stranded_ids: list[int] = []
            dial = a.follower.dial

            async def dial_then_die(attempt: Any) -> Any:
                # A dies right after sending its first Originate: its loop and its attempts' followers stop, its
                # follower hears nothing more, its lease is left to expire. The call goes on in Asterisk.
                future = await dial(attempt)
                stranded_ids.append(attempt.attempt_id)
                floor.app[LIVE].ingest.taps.remove(a.handle)
                for task in asyncio.all_tasks():
                    if task.get_name() == "dialer" or task.get_name().startswith("dialer-attempt-"):
                        task.cancel()
                return future

            a.follower.dial = dial_then_die  # type: ignore[method-assign]
            try:
                await until(floor, lambda: _ticked(b), "B's first ticks", runner=b)
                assert b._held_teams == set()  # B ticks, A holds the team
                campaign_id = await launch(floor, cm, retry={"failed": None, "abandoned": None, "no_answer": None})
                await until(floor, lambda: _true(stranded_ids), "A's first dial", runner=b)
                stranded = set(stranded_ids)

                b.tick_done.clear()
                campaign = await until(floor, lambda: finished(floor, campaign_id), "B to finish the campaign", runner=b)
                assert campaign.state is CampaignState.FINISHED
                everything = await attempts(floor, campaign_id)
                rows = [r for r in everything if r.state is not AttemptState.REFUSED]
                assert Counter(r.e164 for r in rows) == Counter({customer_number(i): 1 for i in range(len(_CUSTOMERS))})
                assert floor.sim.pbx.stats.originates == len(rows)
                assert all(r.state is AttemptState.ENDED and r.outcome is not None for r in rows)
                assert {r.id for r in rows} > stranded  # B ended A's and dialled the rest
                status = await b.live_status(campaign_id)
                assert status is None or status.instance == "instance-b"
            finally:
                b_task.cancel()
                await asyncio.gather(b_task, return_exceptions=True)
                await b.stop()
    finally:
        await redis.flushdb()
        await redis.aclose()


def second_instance(floor: Floor, redis: Any, *, follow_bus: bool = True, **settings: Any) -> DialerRunner:
    """Another service instance's runner ("instance-b"): the same AMI stream, bus, database, routing store and Redis
    as the service's own; its loop is the caller's to run."""
    a = floor.app[DIALER]
    b = DialerRunner(db=floor.app[DATABASE], live=floor.app[LIVE], store=a.store, send=floor.app[AMI].send,
                     ami_session=a._ami_session, leases=RedisLeases(redis, "instance-b"),
                     settings=DialerSettings(**{"tick_s": 0.2, "lost_grace_s": 5, "agent_ring_s": 5,
                                                "instance": "instance-b", **settings}))
    floor.app[LIVE].ingest.taps.append(b.handle)
    if follow_bus:
        floor.app[BUS].subscribe(b.on_domain_event)
    return b


async def _true(value: Any) -> Any:
    return value


async def _ticked(runner: DialerRunner) -> bool:
    return runner.ticks >= 2


async def test_a_campaign_whose_report_is_deleted_is_paused_with_the_reason(tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees(Hopper="no_answer")) as floor:
        await floor.all_available()
        cm = await manager(floor)
        campaign_id = await launch(floor, cm, retry={"no_answer": {"delay_s": 3600, "max_attempts": 2}})
        await until(floor, lambda: _dialled(floor, campaign_id), "the first dial")
        report_id = (await campaign_row(floor, campaign_id)).saved_report_id
        async with floor.http_as(cm) as http:
            resp = await http.delete(f"/api/v1/reports/saved/{report_id}")
            assert resp.status == 204, await resp.text()

        async def paused() -> Campaign | None:
            row = await campaign_row(floor, campaign_id)
            return row if row.state is CampaignState.PAUSED else None
        campaign = await until(floor, paused, "the dialer to pause the campaign")
        assert "saved report was deleted" in (campaign.state_reason or "")
        dialled = floor.sim.pbx.stats.originates
        for _ in range(3):  # nothing more is dialled
            floor.app[DIALER].tick_done.clear()
            await asyncio.wait_for(floor.app[DIALER].tick_done.wait(), WAIT_S)
        assert floor.sim.pbx.stats.originates == dialled


async def test_a_connected_campaign_call_pops_the_card_and_the_campaigns_script_on_the_agents_page(
        tmp_path: Path) -> None:
    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        cm = await manager(floor)
        agent = EXTENSIONS[0]
        for ext in EXTENSIONS[1:]:  # one agent takes the calls: the pop must reach exactly that page
            floor.sim.pbx.unregister(ext)
        await floor.wait(lambda: all(floor.app[LIVE].agent_state(e)[0] is AgentState.OFFLINE for e in EXTENSIONS[1:]),
                         "the other agents offline")
        async with floor.http_as(floor.crm.agents[agent]) as http, http.ws_connect("/api/v1/agent/ws") as ws:
            hello = await ws.receive_json(timeout=WAIT_S)
            assert hello["type"] == "hello"
            campaign_id = await launch(floor, cm, script="Hello {contact.first_name}, calling about your renewal.")
            while (pop := await ws.receive_json(timeout=WAIT_S))["type"] != "ringing":
                pass
        assert pop["campaign"]["id"] == campaign_id
        first_name = next(c[0] for i, c in enumerate(_CUSTOMERS) if customer_number(i) == pop["number"])
        assert pop["script"]["text"] == f"Hello {first_name}, calling about your renewal."
        assert pop["card"] is not None


async def test_outside_its_callees_calling_hours_a_campaign_dials_nothing_and_says_when_it_will(
        tmp_path: Path) -> None:
    # Every sample customer is in New York: hours that are never now there (one minute, 12 hours away) mean waiting.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    later = datetime.now(ZoneInfo("America/New_York")) + timedelta(hours=12)
    start = later.strftime("%H:%M")
    end = (later + timedelta(minutes=1)).strftime("%H:%M")
    hours = {later.strftime("%a").lower(): [{"start": start, "end": end}]} if end > start else {
        (later + timedelta(minutes=1)).strftime("%a").lower(): [{"start": "00:00", "end": end}]}
    async with running_floor(tmp_path, TOML, callees=callees()) as floor:
        await floor.all_available()
        campaign_id = await launch(floor, await manager(floor), windows=hours)

        async def waiting() -> Any:
            live = await floor.app[DIALER].live_status(campaign_id)
            return live if live is not None and live.status == "waiting_for_window" else None
        live = await until(floor, waiting, "the campaign to wait for its callees' hours")
        assert live.next_dial_at_s is not None and live.next_dial_at_s > live.at_s
        assert floor.sim.pbx.stats.originates == 0 and await attempts(floor, campaign_id) == []


async def test_an_originate_asterisk_refuses_is_a_failed_attempt_with_its_activity(tmp_path: Path) -> None:
    toml = TOML.replace("[dialer]", '[dialer]\ntrunk = "no-such-trunk"')
    async with running_floor(tmp_path, toml, callees=callees()) as floor:
        await floor.all_available()
        campaign_id = await launch(floor, await manager(floor), retry={"failed": None})
        campaign = await until(floor, lambda: finished(floor, campaign_id), "the campaign to finish")
        rows = await attempts(floor, campaign_id)
        assert campaign.state is CampaignState.FINISHED and len(rows) == len(_CUSTOMERS)
        assert {r.outcome for r in rows} == {AttemptOutcome.FAILED}
        async with floor.app[DATABASE].read_session() as s:
            for r in rows:  # no channel, no CallEnded: the runner wrote each attempt's activity itself
                activity = await s.get(Activity, r.activity_id)
                assert activity is not None and activity.result == "failed" and activity.to_e164 == r.e164
                assert activity.call_meta["dialer"]["attempt_id"] == r.id
