"""A call that begins and ends while the AMI session is down (an Asterisk restart seen from the service, a network
cut) still lands in the CRM once, with its routing and recording, marked approximate: on a real Asterisk such a
call never reached the CRM and its recording stayed in the spool."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.ami.connection import AmiConnection, AmiState, Received
from callcenter.app_keys import AMI, DATABASE, GAP_RECOVERY
from callcenter.automation.facts import CallLogged
from callcenter.recording.http import RECORDINGS
from callcenter.events import CallEnded, CallOutcome, CallRouted, RecordingReady
from crm_core.models import Activity
from crm_core.recording_models import Recording
from callcenter.recovery.gap import RoutedCall, SpoolFacts, rebuild
from tests.floor import ANSWER, EXTENSIONS, WAIT_S, Floor, running_floor
from tests.prom import Scrape, metrics_headers

NUMBER = "+13125550199"


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with running_floor(tmp_path) as f:
        yield f


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_call_that_lives_and_ends_while_ami_is_down_lands_once_marked_approximate(floor: Floor) -> None:
    await floor.all_available()
    for ext in EXTENSIONS:
        floor.sim.pbx.phones[ext].scripted.append(ANSWER)
    ami = floor.app[AMI]
    ami.reconnect_max_s = 0.2
    ami.port = _dead_port()  # the service cannot reach AMI; Asterisk, its dialplan and FastAGI go on
    floor.sim.server.drop_connections()
    await ami.wait_until(lambda c: c.state is AmiState.DISCONNECTED, WAIT_S)

    # Our own observer on the simulator's AMI sees the call end, which the service cannot.
    hung_up: asyncio.Queue[str] = asyncio.Queue()
    observer = AmiConnection(host="127.0.0.1", port=floor.sim.ami_port, username="callcenter", secret="callcenter")

    def watch(item: object) -> None:
        if isinstance(item, Received) and item.message.get("Event") == "Hangup":
            if item.message.get("Uniqueid") == item.message.get("Linkedid"):
                hung_up.put_nowait(str(item.message.get("Linkedid")))

    observer.start()
    watcher = asyncio.create_task(observer.run(watch))
    try:
        await observer.wait_live(WAIT_S)
        await floor.call(NUMBER, talk_s=6.0)
        routed = await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallRouted) and e.caller == NUMBER],
                                  "FastAGI routing the call while AMI is down")
        call_id = routed[0].call_id
        assert call_id in floor.app[GAP_RECOVERY].journal
        assert await asyncio.wait_for(hung_up.get(), WAIT_S) == call_id
        await floor.sim.pbx.recorder.flush()
        assert not [e for e in floor.seen if isinstance(e, CallEnded) and e.call_id == call_id]
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await observer.stop()

    ami.port = floor.sim.ami_port  # AMI is back
    [ended] = await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallEnded) and e.call_id == call_id],
                               "the call rebuilt after the reconnect")
    assert ended.end_estimated and ended.caller == NUMBER and ended.did == "8001"
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == routed[-1].targets[0]
    assert 0 < ended.talk_s <= 6.5 and ended.ended_s > ended.started_s
    await floor.wait(lambda: [e for e in floor.seen if isinstance(e, RecordingReady) and e.call_id == call_id],
                     "its recording handed to the recording service")
    await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallLogged) and e.call_id == call_id],
                     "the call in the CRM")
    async with floor.app[DATABASE].session() as s:
        activities = (await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()
        assert len(activities) == 1
        meta = activities[0].call_meta
        assert meta["end_estimated"] is True and meta["routing"][0]["reason"] == routed[0].reason
    recovery = floor.app[GAP_RECOVERY]
    await asyncio.wait_for(recovery.idle.wait(), WAIT_S)
    assert recovery.recovered == 1 and call_id not in recovery.journal
    async with floor.http_as(floor.crm.agents["1002"]) as http:
        async with http.get("/metrics", headers=await metrics_headers(floor.app[DATABASE])) as resp:
            scrape = Scrape(await resp.text())
    assert scrape.value("callcenter_calls_recovered_after_ami_outage_total") == 1
    assert scrape.value("callcenter_calls_journalled_while_ami_down") == 0

    await asyncio.wait_for(floor.app[RECORDINGS].drain(), WAIT_S)
    async with floor.app[DATABASE].session() as s:
        legs = (await s.scalars(select(Recording.leg).where(Recording.call_id == call_id))).all()
    assert sorted(legs) == ["mix", "rx", "tx"]


def _routed(action: str, targets: tuple[str, ...] = (), *, at_s: float = 100.0, queue: str | None = None) -> CallRouted:
    return CallRouted(call_id="1795.1", at_s=at_s, attempt=1, action=action, reason="r", targets=targets, queue=queue,
                      caller="+13125550199", did="8001", uniqueid="1795.1")


@pytest.mark.parametrize(
    ("decisions", "speech_s", "outcome", "answered_by"),
    [
        ([_routed("dial", ("1002",))], 30.0, CallOutcome.ANSWERED, "1002"),
        ([_routed("dial", ("1002",)), _routed("queue", queue="support", at_s=120.0)], 30.0, CallOutcome.ANSWERED, None),
        ([_routed("dial", ("1002",))], 0.2, CallOutcome.MISSED, None),  # a click is not a conversation
        ([_routed("queue", queue="support")], 0.0, CallOutcome.MISSED, None),
        ([_routed("hangup")], 0.0, CallOutcome.FAILED, None),
    ],
)
def test_rebuild_rules(decisions: list[CallRouted], speech_s: float, outcome: CallOutcome, answered_by: str | None) -> None:
    call = RoutedCall(call_id="1795.1", uniqueid="1795.1", caller=None, did=None, first_at_s=100.0)
    for d in decisions:
        call.add(d)
    facts = SpoolFacts(path="/spool/1795.1.wav", leg_paths=("/spool/1795.1-rx.wav", "/spool/1795.1-tx.wav"),
                       closed_at_s=200.0, duration_s=99.0, agent_speech_s=speech_s, first_agent_speech_s=19.0)
    ended, recording = rebuild(call, facts, found_at_s=500.0)
    assert (ended.outcome, ended.answered_by, ended.end_estimated) == (outcome, answered_by, True)
    assert ended.caller == "+13125550199" and ended.ended_s == 200.0 and recording is not None
    if outcome is CallOutcome.ANSWERED:
        assert (ended.wait_s, ended.talk_s) == (20.0, 80.0)  # answered at 101 + 19
    else:
        assert (ended.wait_s, ended.talk_s) == (100.0, 0.0)
    without, no_recording = rebuild(call, None, found_at_s=500.0)
    assert without.ended_s == 500.0 and no_recording is None and without.outcome is not CallOutcome.ANSWERED
