"""A campaign's figures over HTTP (both databases): the attempts as written by the dialer counted by state and
outcome, the abandon rate over the campaign's legal window by the law's formula, connected calls per agent with
their talk time, refusals by reason, the numbers' progress, the live status from the dialer; and who may read them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from callcenter.dialer.compliance import AbandonPolicy, abandon_budget, abandon_rate_pct, count_window
from callcenter.dialer.live_status import DIALER, CampaignLive, Status
from callcenter.dialer.outcomes import AttemptOutcome
from callcenter.dialer.verdict import Reason
from crm_core.dialer_models import AttemptState, CampaignAttempt
from crm_core.models import Activity, ActivityKind, Direction
from tests.api.conftest import World
from tests.api.test_campaign_manager_role import contacts
from tests.api.test_campaign_routes import BASE, campaign, managers, saved_report

HOUR_S = 3600.0


class FakeLive:
    """The dialer's LiveStatusSource as the API reads it: a status for the campaigns it paces, None for others."""

    def __init__(self) -> None:
        self.statuses: dict[int, CampaignLive] = {}

    async def live_status(self, campaign_id: int) -> CampaignLive | None:
        return self.statuses.get(campaign_id)


def live_for(campaign_id: int) -> CampaignLive:
    return CampaignLive(
        campaign_id=campaign_id, at_s=time.time(), status=Status.DIALLING, detail="2 free of 3 logged in; dialled 3",
        instance="test-1", ringing=3, waiting_for_agent=0, talking=1,
        agents={"available": 2, "talking": 1, "wrap_up": 0, "paused": 0},
        pacing={"dial_count": 3, "mode": "predictive", "fallback": None, "why": "2 free agents at 30 % answer rate"},
    )


@pytest.fixture
async def live_world(make_world: Any) -> tuple[World, FakeLive]:
    fake = FakeLive()
    # No FastAGI server: the app would hand the dialer's campaign route to it, and this stand-in only tells statuses.
    world = await make_world(prepare=lambda app: app.__setitem__(DIALER, fake), CALLCENTER_AGI__ENABLED="false")
    return world, fake


# (number, attempt_no, state, outcome, ended hours ago, agent, talk_s, refusal reason)
ATTEMPTS: list[tuple[str, int, AttemptState, AttemptOutcome | None, float | None, str | None, float | None,
                     Reason | None]] = [
    ("+442079460101", 1, AttemptState.ENDED, AttemptOutcome.NO_ANSWER, 3.0, None, None, None),
    ("+442079460101", 2, AttemptState.ENDED, AttemptOutcome.CONNECTED, 0.2, "a1", 120.0, None),
    ("+442079460102", 1, AttemptState.ENDED, AttemptOutcome.CONNECTED, 0.5, "a1", None, None),  # no talk time yet
    ("+442079460103", 1, AttemptState.ENDED, AttemptOutcome.CONNECTED, 0.7, "a2", 45.5, None),
    ("+442079460104", 1, AttemptState.ENDED, AttemptOutcome.ABANDONED, 0.4, None, None, None),
    ("+442079460105", 1, AttemptState.ENDED, AttemptOutcome.MACHINE, 2.0, None, None, None),
    ("+442079460105", 2, AttemptState.ENDED, AttemptOutcome.MACHINE, 1.0, None, None, None),  # 2 of 2: finished
    ("+442079460106", 1, AttemptState.ENDED, AttemptOutcome.CALLEE_HANGUP, 0.1, None, None, None),
    ("+442079460107", 1, AttemptState.ENDED, AttemptOutcome.ABANDONED, 30.0, None, None, None),  # outside 24 h
    ("+442079460108", 1, AttemptState.ENDED, AttemptOutcome.BUSY, 0.3, None, None, None),  # retried later
    ("+442079460108", 2, AttemptState.DIALLING, None, None, None, None, None),  # ringing now
    ("+442079460109", 1, AttemptState.ANSWERED, None, None, None, None, None),  # answered, not ended yet
    ("+442079460110", 1, AttemptState.PLANNED, None, None, None, None, None),  # claimed, not sent
    ("+442079460111", 1, AttemptState.REFUSED, None, None, None, None, Reason.DNC_SYSTEM),
    ("+442079460112", 1, AttemptState.REFUSED, None, None, None, None, Reason.OUTSIDE_WINDOW),
    ("+442079460113", 1, AttemptState.REFUSED, None, None, None, None, Reason.DNC_SYSTEM),
]


async def write_attempts(world: World, campaign_id: int, now: datetime) -> None:
    agents = {"a1": world.agent_a1.id, "a2": world.agent_a2.id}
    async with world.db.session() as s:
        for i, (e164, no, state, outcome, ago_h, agent, talk_s, reason) in enumerate(ATTEMPTS):
            ended = None if ago_h is None else now - timedelta(hours=ago_h)
            activity_id = None
            if agent is not None:
                activity = Activity(kind=ActivityKind.CALL, direction=Direction.OUTBOUND, user_id=agents[agent],
                                    call_id=f"1795390{campaign_id:03d}.{i}", talk_s=talk_s)
                s.add(activity)
                await s.flush()
                activity_id = activity.id
            s.add(CampaignAttempt(
                campaign_id=campaign_id, e164=e164, attempt_no=no, state=state, outcome=outcome,
                abandoned=outcome is AttemptOutcome.ABANDONED,
                dialled_at=None if state is AttemptState.REFUSED else ended,
                ended_at=ended, agent_id=None if agent is None else agents[agent], activity_id=activity_id,
                action_id=None if state is AttemptState.REFUSED else f"dialer-{campaign_id}-{i}",
                refusal_reason=reason))


async def test_the_figures_count_the_attempts(live_world: tuple[World, FakeLive]) -> None:
    world, fake = live_world
    await contacts(world)
    cm_a, _ = await managers(world)
    made = await campaign(world, cm_a, await saved_report(world, cm_a))
    cid = made["id"]
    now = datetime.now(timezone.utc)
    await write_attempts(world, cid, now)
    fake.statuses[cid] = live_for(cid)

    status, body = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures")
    assert status == 200, body
    assert (body["campaign_id"], body["state"]) == (cid, "draft")
    assert body["attempts"] == {"planned": 1, "dialled": 12, "ringing": 1, "answered_live": 6,
                                "answered_machine": 2, "connected": 3, "abandoned": 2, "refused": 3}
    assert body["outcomes"] == {"connected": 3, "abandoned": 2, "machine": 2, "no_answer": 1, "busy": 1,
                                "failed": 0, "callee_hangup": 1}
    assert body["refused"] == {"dnc_system": 2, "outside_window": 1}
    # The legal window (24 h by default): the abandon 30 h ago is out of it. The rate is the law's formula on the
    # same attempts, counted by compliance.count_window.
    policy = AbandonPolicy()
    ended = [(now.timestamp() - ago_h * HOUR_S, outcome) for _, _, _, outcome, ago_h, *_ in ATTEMPTS
             if outcome is not None and ago_h is not None]
    counts = count_window(ended, now.timestamp(), policy)
    assert (counts.live_answered, counts.abandoned, counts.machine) == (5, 1, 2)
    abandon = body["abandon"]
    assert (abandon["live_answered"], abandon["abandoned"], abandon["machine"]) == (5, 1, 2)
    assert abandon["window_s"] == 24 * HOUR_S and abandon["cap_pct"] == 3.0
    assert abandon["false_positives_est"] == pytest.approx(0.2)
    assert abandon["rate_pct"] == pytest.approx(abandon_rate_pct(counts, policy))
    assert abandon["rate_pct"] == pytest.approx(100 * 1.2 / 5.2)
    assert abandon["budget"] == pytest.approx(abandon_budget(counts, policy)) and abandon["budget"] == 0
    # Per agent: connected calls, the talk time of those whose activity has one.
    assert body["agents"] == [
        {"agent_id": world.agent_a1.id, "name": "Alice Agent", "extension": "1002", "connected": 2,
         "talk_s": 120.0, "timed_calls": 1},
        {"agent_id": world.agent_a2.id, "name": "Arno Agent", "extension": "1003", "connected": 1,
         "talk_s": 45.5, "timed_calls": 1},
    ]
    # Numbers: 10 attempted (refusals are not attempts); finished: connected (101, 102, 103), callee hung up (106),
    # machine twice of the rule's 2 (105), abandoned once of the rule's 1 (104, 107). In flight: 108 (busy, then
    # ringing again), 109, 110.
    assert body["progress"] == {"numbers_attempted": 10, "numbers_finished": 7, "numbers_in_flight": 3}
    # What the dialer does now, as its live status says.
    assert body["live"]["status"] == "dialling" and body["live"]["pacing"]["why"] == "2 free agents at 30 % answer rate"
    assert body["live"]["agents"] == {"available": 2, "talking": 1, "wrap_up": 0, "paused": 0}
    # Stricter rules change the window and what is finished: 1 h window, machine retried up to 3 times.
    status, changed = await world.call(cm_a, "PATCH", f"{BASE}/{cid}", {"version": 1, "changes": {
        "law": {**made["definition"]["law"], "abandon": {"window_s": 3600, "cap_pct": 3.0,
                                                         "amd_false_positive_rate": 0.0}},
        "retry": {**made["definition"]["retry"], "machine": {"delay_s": 3600, "max_attempts": 3}}}})
    assert status == 200, changed
    status, body = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures")
    assert status == 200
    assert (body["abandon"]["live_answered"], body["abandon"]["abandoned"], body["abandon"]["machine"]) == (5, 1, 0)
    assert body["abandon"]["rate_pct"] == pytest.approx(20.0)
    assert body["progress"]["numbers_finished"] == 6  # 105 may be tried a third time
    # A campaign nobody paces now: no live status. Without the numbers' progress (the costly part), the rest.
    fake.statuses.clear()
    status, body = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures", params={"progress": "false"})
    assert status == 200 and body["live"] is None and body["progress"] is None
    assert body["attempts"]["dialled"] == 12
    status, err = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures", params={"progress": "maybe"})
    assert status == 400 and err["error"]["field"] == "progress"


async def test_a_campaign_without_attempts_and_without_a_dialer(world: World) -> None:
    await contacts(world)
    cm_a, _ = await managers(world)
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a)))["id"]
    status, body = await world.call(cm_a, "GET", f"{BASE}/{cid}/figures")
    assert status == 200, body
    assert body["attempts"] == dict.fromkeys(body["attempts"], 0) and len(body["attempts"]) == 8
    assert body["abandon"]["rate_pct"] == 0 and body["abandon"]["budget"] == 0
    assert body["agents"] == [] and body["refused"] == {} and body["live"] is None
    assert body["progress"] == {"numbers_attempted": 0, "numbers_finished": 0, "numbers_in_flight": 0}


async def test_who_reads_the_figures(world: World) -> None:
    await contacts(world)
    cm_a, cm_b = await managers(world)
    cid = (await campaign(world, cm_a, await saved_report(world, cm_a)))["id"]
    path = f"{BASE}/{cid}/figures"
    status, err = await world.call(world.agent_a1, "GET", path)
    assert status == 403, err  # campaigns are not an agent's at all
    status, err = await world.call(cm_b, "GET", path)
    assert status == 404 and err["error"]["field"] == "id"  # another team's: not found
    for actor in (cm_a, world.sup_a, world.admin):
        status, body = await world.call(actor, "GET", path)
        assert status == 200 and body["campaign_id"] == cid
    status, err = await world.call(cm_a, "GET", f"{BASE}/999999/figures")
    assert status == 404
    status, err = await world.call(None, "GET", path)
    assert status == 401
