"""The service against a real Asterisk 20 with the shipped configs and sipp phones: the findings of the first real
deployment (issue 13), end to end."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from callcenter.ami.actions import queue_pause
from callcenter.ami.connection import AmiState
from callcenter.ami.events import EVENT_CLASSES, KEEP_APPLICATIONS, KEEP_VARIABLE_PREFIX, KEEP_VARIABLES
from callcenter.app_keys import AMI, DATABASE, FALLBACK_CHECK, GAP_RECOVERY, LIVE, QUEUE_KEEPER
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState, CallEnded, CallOutcome, CallRouted
from callcenter.pbxsim.manager_conf import event_category, load_manager_conf
from callcenter.pbxsim.simulator import DIALPLANS
from callcenter.recording.http import RECORDINGS
from crm_core.models import Activity, Lead, Phone
from crm_core.recording_models import Recording
from tests.real_asterisk.conftest import PHONES, WAIT_S, Site, login_all
from tests.real_asterisk.pbx import AMI_PORT, AMI_SECRET, TAP_SECRET, TAP_USER

NEW_NUMBER = "+13125550123"


def ended(site: Site, caller: str) -> list[CallEnded]:
    return [e for e in site.seen if isinstance(e, CallEnded) and e.caller == caller]


async def test_goes_live_with_the_shipped_manager_conf(site: Site) -> None:
    """The shipped manager.conf once lacked `system` for PJSIPShowContacts: the resync never ended."""
    ami = site.app[AMI]
    assert ami.state is AmiState.LIVE
    assert ami.stats.missing_permissions == [] and ami.stats.resync_errors == {}
    check = site.app[FALLBACK_CHECK]
    await asyncio.wait_for(check.done.wait(), WAIT_S)
    assert check.queue == "support"  # the dialplan's fallback is the queue agents log into
    assert any("has no members" in p for p in check.problems)
    await login_all(site)
    # The logins' QueueMemberAdded events reach the membership record; each agent's state change is on the bus.
    await site.wait(lambda: check.problems == [], "the fallback queue to have members")
    async with site.http() as http:
        async with http.get("/readyz") as resp:
            body = await resp.json()
    assert resp.status == 200 and body["checks"]["ami"] == "ok" and "warnings" not in body, body


async def test_a_new_number_reaches_an_agent_and_lands_in_the_crm_with_its_recording(site: Site) -> None:
    await login_all(site)
    await site.sipp.call(caller=NEW_NUMBER, did="8001", talk_ms=3000)
    [call] = await site.wait(lambda: ended(site, NEW_NUMBER), "the call to end")
    assert call.outcome is CallOutcome.ANSWERED and call.answered_by in PHONES and not call.end_estimated
    assert call.talk_s >= 2.5
    routed = [e for e in site.seen if isinstance(e, CallRouted) and e.call_id == call.call_id]
    assert routed and routed[0].reason in ("least-loaded", "longest-idle") and routed[0].targets == (call.answered_by,)
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == call.call_id],
                    "the call in the CRM")
    await asyncio.wait_for(site.app[RECORDINGS].drain(), WAIT_S)
    async with site.app[DATABASE].session() as s:
        activity = await s.scalar(select(Activity).where(Activity.call_id == call.call_id))
        assert activity is not None and activity.lead_id is not None
        assert activity.call_meta["routing"][0]["targets"] == [call.answered_by]
        assert [a["result"] for a in activity.call_meta["attempts"]] == ["ANSWER"]
        lead = await s.scalar(select(Lead).join(Phone, Phone.lead_id == Lead.id).where(Phone.e164 == NEW_NUMBER))
        assert lead is not None and lead.id == activity.lead_id
        legs = sorted((r.leg, r.status.value) for r in (await s.scalars(
            select(Recording).where(Recording.call_id == call.call_id))).all())
    assert legs == [("mix", "stored"), ("rx", "stored"), ("tx", "stored")], legs


async def test_after_an_asterisk_restart_logins_and_pauses_are_back_and_the_service_is_back_at_once(site: Site) -> None:
    await login_all(site)
    ami = site.app[AMI]
    await ami.send(queue_pause(interface="PJSIP/1002", paused=True, reason="lunch"))
    live = site.app[LIVE]
    await site.wait(lambda: live.agent_state("1002") == (AgentState.PAUSED, "lunch"), "1002 paused for lunch")
    keeper = site.app[QUEUE_KEEPER]
    await asyncio.wait_for(keeper.wait_resyncs(1), WAIT_S)
    handled = keeper.resyncs_done
    await site.pbx.cli("core restart now", check=False)
    await asyncio.wait_for(keeper.wait_resyncs(handled + 1), 60)  # back, resynced, the lost logins sent again
    assert keeper.reapplied == 2
    members = await site.pbx.queue_members("support")
    assert set(members) == {"PJSIP/1002", "PJSIP/1003"}, members
    assert "paused" in members["PJSIP/1002"].lower() and "lunch" in members["PJSIP/1002"]
    assert "paused" not in members["PJSIP/1003"].lower()
    assert live.agent_state("1002") == (AgentState.PAUSED, "lunch")


async def test_a_call_while_the_service_has_no_ami_session_still_lands_once(site: Site) -> None:
    """An Asterisk restart the service cannot follow at once: the call FastAGI routes meanwhile reaches the CRM."""
    await login_all(site)
    ami = site.app[AMI]
    real_port, ami.port = ami.port, 1  # nothing listens there: the service stays without AMI
    await site.pbx.cli("core restart now", check=False)
    await ami.wait_until(lambda c: c.state is not AmiState.LIVE, WAIT_S)
    await site.pbx.wait_booted()
    for ext in PHONES:  # as after the restart: agents are logged in again by hand, the service cannot do it yet
        await site.pbx.cli(f"queue add member PJSIP/{ext} to support")
    caller = await site.sipp.call(caller=NEW_NUMBER, did="8001", talk_ms=3000)
    await asyncio.wait_for(caller.wait(), WAIT_S)  # the call is over before the service sees AMI again
    call_id = next(e.call_id for e in site.seen if isinstance(e, CallRouted) and e.caller == NEW_NUMBER)
    assert call_id in site.app[GAP_RECOVERY].journal and not ended(site, NEW_NUMBER)
    ami.port = real_port
    [call] = await site.wait(lambda: ended(site, NEW_NUMBER), "the call rebuilt after the reconnect")
    assert call.end_estimated and call.call_id == call_id
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == call_id],
                    "the call in the CRM")
    await asyncio.wait_for(site.app[RECORDINGS].drain(), WAIT_S)
    async with site.app[DATABASE].session() as s:
        activities = (await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()
        recordings = (await s.scalars(select(Recording).where(Recording.call_id == call_id))).all()
    assert len(activities) == 1 and activities[0].call_meta["end_estimated"] is True
    assert sorted(r.leg for r in recordings) == ["mix", "rx", "tx"]


class RawSession:
    """One more AMI session, as a user of the copied manager.conf: every byte Asterisk sends it, split into events."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    async def start(self, username: str, secret: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
        writer.write(f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode())
        await writer.drain()

        async def pump() -> None:
            try:
                while chunk := await reader.read(65536):
                    self.data += chunk
                    self.changed.set()
            finally:
                writer.close()

        self.task = asyncio.create_task(pump())

    async def wait_for(self, needle: bytes, start: int) -> None:
        async def wait() -> None:
            while needle not in self.data[start:]:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), WAIT_S)

    def events(self, start: int) -> list[dict[str, str]]:
        out = []
        for block in bytes(self.data[start:]).decode("utf-8", "replace").split("\r\n\r\n"):
            headers = dict(line.partition(": ")[::2] for line in block.split("\r\n") if ": " in line)
            if "Event" in headers and "Privilege" in headers:
                out.append(headers)
        return out

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def test_the_shipped_eventfilter_keeps_what_the_service_never_reads_off_its_session(site: Site) -> None:
    """manager.conf's eventfilter on Asterisk 20 itself: the shipped user's session carries only events the service
    types (no Newexten of Set/AGI/GotoIf, no VarSet of Asterisk's own variables, no AGIExecStart/End, no RTCP), the
    tap's unfiltered session shows they were raised, and the call is followed all the same (the other tests)."""
    await login_all(site)
    shipped, tap = RawSession(), RawSession()
    await shipped.start("callcenter", AMI_SECRET)
    await tap.start(TAP_USER, TAP_SECRET)
    await shipped.wait_for(b"Authentication accepted", 0)
    await tap.wait_for(b"Authentication accepted", 0)
    mark_shipped, mark_tap = len(shipped.data), len(tap.data)
    try:
        await site.sipp.call(caller=NEW_NUMBER, did="8001", talk_ms=2000)
        [call] = await site.wait(lambda: ended(site, NEW_NUMBER), "the call to end")
        assert call.outcome is CallOutcome.ANSWERED
        # the Cdr comes last for a call: both sessions have the whole call once they have it
        await shipped.wait_for(b"Event: Cdr", mark_shipped)
        await tap.wait_for(b"Event: Cdr", mark_tap)
        got, raised = shipped.events(mark_shipped), tap.events(mark_tap)
    finally:
        await shipped.stop()
        await tap.stop()

    shipped_read = load_manager_conf(DIALPLANS / "manager.conf")["callcenter"].read
    in_classes = [e for e in raised if shipped_read & event_category(e["Privilege"]) == event_category(e["Privilege"])]
    names = Counter(e["Event"] for e in got)
    assert set(names) <= set(EVENT_CLASSES), names
    assert not [e for e in got if e["Event"] == "Newexten" and e["Application"] not in KEEP_APPLICATIONS]
    assert not [e for e in got if e["Event"] == "VarSet" and e["Variable"] not in KEEP_VARIABLES
                and not e["Variable"].startswith(KEEP_VARIABLE_PREFIX)]
    assert any(e["Event"] == "Newexten" and e["Application"] == "Dial" for e in got)
    assert any(e["Event"] == "VarSet" and e["Variable"] == "CC_PLAN" and e["Value"].startswith("inbound1|dial|")
               for e in got)
    # what the filter (not the read classes) took away was raised: Newexten of other applications, other VarSets
    assert any(e["Event"] == "Newexten" and e["Application"] == "Set" for e in in_classes)
    assert any(e["Event"] == "VarSet" and e["Variable"] == "AGISTATUS" for e in in_classes)
    # one AGI command per route answer, and none of the agi/reporting classes on the shipped session
    agi = [e for e in raised if e["Event"] == "AGIExecStart"]
    assert agi and all(e["Command"].startswith("SET VARIABLE CC_PLAN ") for e in agi)
    assert not {"AGIExecStart", "AGIExecEnd", "RTCPSent", "RTCPReceived"} & set(names)
    print(f"\nevents during one routed call on Asterisk 20: {len(raised)} raised (every class), {len(in_classes)} in "
          f"the shipped read classes, {len(got)} sent to the shipped user through its eventfilter; "
          f"AGI commands {len(agi)}; dropped by the filter: "
          f"{dict(Counter(e['Event'] for e in in_classes) - names)}")
