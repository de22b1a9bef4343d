"""Transfers against a real Asterisk 20 with the shipped configs: the API's blind and attended transfers, end to end
from the customer's INVITE to the CRM activity.

The customer calls from a number the sample CRM gives to 1002, so the call is dialled straight to 1002 (A) and 1003
(B) is the colleague; or from a new number to DID 8002, which asks for a skill nobody has: the call goes through the
queue, whose linear strategy rings A, logged in first. Phones are sipp UAS scenarios (sipp/phone*.xml) that answer
what Asterisk sends mid-call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.ami.actions import getvar
from callcenter.app_keys import AMI, DATABASE, LIVE
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState, AgentStateChanged, CallAnswered, CallEnded, CallOutcome, CallTransferred
from callcenter.recording.http import RECORDINGS
from crm_core.models import Activity
from crm_core.recording_models import Recording
from tests.real_asterisk.conftest import WAIT_S, Site, login_all

A, B = "1002", "1003"
WRAPUP_S = 2


PHONE = ("phone.xml", None)  # answers, keeps the call until Asterisk hangs up


@pytest.fixture
def phone_scenarios() -> dict[str, tuple[str, int | None]]:
    """Both phones answer mid-call requests (a test that needs another phone parametrizes this)."""
    return {A: PHONE, B: PHONE}


DIALLED, QUEUED = "8001", "8002"
ROUTES = pytest.mark.parametrize("did", [DIALLED, QUEUED], ids=["dialled", "queued"])


@pytest.fixture
def site_toml() -> str:
    return f'[calls]\nwrapup_s = {WRAPUP_S}\n\n[routing.dids."{QUEUED}"]\nteam = "Sales"\nskills = {{ klingon = 5 }}\n'


def a_customer_of(site: Site, ext: str) -> str:
    return next(number for number, owner in site.crm.customers.items() if owner == ext)


def caller_for(site: Site, did: str) -> str:
    """A's own customer (routed to its owner whatever the DID asks) for the dialled route, a new number for the
    queue."""
    return a_customer_of(site, A) if did == DIALLED else "+13125550160"


def of(site: Site, kind: type, call_id: str | None = None, **match: Any) -> list[Any]:
    return [e for e in site.seen if isinstance(e, kind) and (call_id is None or getattr(e, "call_id", None) == call_id)
            and all(getattr(e, k) == v for k, v in match.items())]


async def answered_by_a(site: Site, caller: str, *, talk_ms: int, did: str = DIALLED) -> CallAnswered:
    await login_all(site)
    await site.sipp.call(caller=caller, did=did, talk_ms=talk_ms)
    answered = await site.wait(lambda: [e for e in of(site, CallAnswered) if e.agent == A], "A answering the customer")
    return answered[0]


async def transfer(site: Site, call_id: str, mode: str) -> dict[str, Any]:
    async with site.http() as http:
        async with http.post(f"/api/v1/calls/{call_id}/transfer", json={"to": B, "mode": mode}) as resp:
            body = await resp.json()
    assert resp.status == 202, body
    return body


async def activity_when(site: Site, call_id: str, predicate: Any, what: str) -> Activity:
    """The call's activity once ``predicate(activity)`` holds; looked at again after every event the service sees."""
    async def watch() -> Activity:
        while True:
            async with site.app[DATABASE].session() as s:
                activity = await s.scalar(select(Activity).where(Activity.call_id == call_id))
            if activity is not None and predicate(activity):
                return activity
            site.changed.clear()
            await site.changed.wait()

    try:
        return await asyncio.wait_for(watch(), WAIT_S)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@ROUTES
async def test_blind_transfer_from_the_api_hands_the_customer_to_b(site: Site, did: str) -> None:
    caller = caller_for(site, did)
    answered = await answered_by_a(site, caller, talk_ms=6000, did=did)
    call_id = answered.call_id
    body = await transfer(site, call_id, "blind")
    assert body["from_agent"] == A and body["to"] == B and body["channel"].startswith(f"PJSIP/{A}-")
    [moved] = await site.wait(lambda: of(site, CallTransferred, call_id), "the call transferred to B")
    assert (moved.from_agent, moved.to_agent) == (A, B)
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.queue == ("support" if did == QUEUED else None), ended
    assert ended.talk_s >= 5.0, ended  # from A's answer to the customer's hang-up, across the transfer
    assert ended.consultations == ()
    assert len(of(site, CallEnded)) == 1
    await site.wait(lambda: of(site, CallLogged, call_id), "the call in the CRM")
    activity = await activity_when(site, call_id, lambda a: len(a.call_meta.get("wrapup_spells", ())) == 2,
                                   "a wrap-up spell of each agent on the activity")
    async with site.app[DATABASE].session() as s:
        assert len((await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()) == 1
    meta = activity.call_meta
    assert meta["answered_by"] == A and meta["agents_talked"] == [A, B]
    assert activity.user_id == site.crm.agents[A]
    assert sorted(s["agent"] for s in meta["wrapup_spells"]) == [A, B]
    assert activity.talk_s >= 5.0
    # One recording for the whole call: MixMonitor runs on the customer's channel, which the transfer keeps.
    await asyncio.wait_for(site.app[RECORDINGS].drain(), WAIT_S)
    async with site.app[DATABASE].session() as s:
        legs = sorted((r.leg, r.status.value) for r in (await s.scalars(
            select(Recording).where(Recording.call_id == call_id))).all())
    assert legs == [("mix", "stored"), ("rx", "stored"), ("tx", "stored")], legs


HANGS_UP_MS = 4000  # A hangs up this long after answering: well after B answered the consultation


@pytest.mark.parametrize("phone_scenarios", [{A: ("phone_hangs_up.xml", HANGS_UP_MS), B: PHONE}], ids=["A hangs up"])
@ROUTES
async def test_attended_transfer_completes_when_a_hangs_up_after_b_answered(site: Site, did: str) -> None:
    caller = caller_for(site, did)
    answered = await answered_by_a(site, caller, talk_ms=HANGS_UP_MS + 4000, did=did)
    call_id = answered.call_id
    body = await transfer(site, call_id, "attended")
    assert body["mode"] == "attended" and body["from_agent"] == A
    # B's phone rings and answers while the customer waits on hold: a consultation, not yet a transfer.
    await site.wait(lambda: [e for e in of(site, AgentStateChanged, agent=B) if e.state is AgentState.TALKING],
                    "B talking with A")
    assert not of(site, CallTransferred, call_id)
    [moved] = await site.wait(lambda: of(site, CallTransferred, call_id), "A hanging up to hand the customer to B")
    assert (moved.from_agent, moved.to_agent) == (A, B)
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.queue == ("support" if did == QUEUED else None), ended
    assert [(c.agent, c.by_agent, c.transferred) for c in ended.consultations] == [(B, A, True)]
    assert ended.talk_s >= HANGS_UP_MS / 1000 + 3.0, ended
    assert len(of(site, CallEnded)) == 1
    activity = await activity_when(site, call_id, lambda a: len(a.call_meta.get("wrapup_spells", ())) == 2,
                                   "a wrap-up spell of each agent on the activity")
    meta = activity.call_meta
    assert meta["agents_talked"] == [A, B]
    assert [(c["agent"], c["by_agent"], c["transferred"]) for c in meta["consultations"]] == [(B, A, True)]
    assert sorted(s["agent"] for s in meta["wrapup_spells"]) == [A, B]
    async with site.app[DATABASE].session() as s:
        assert len((await s.scalars(select(Activity).where(Activity.call_id == call_id))).all()) == 1


B_HANGS_UP_MS = 1000


@pytest.mark.parametrize("phone_scenarios", [{A: PHONE, B: ("phone_hangs_up.xml", B_HANGS_UP_MS)}],
                         ids=["B hangs up"])
async def test_an_attended_transfer_b_hangs_up_on_leaves_the_customer_with_a(site: Site) -> None:
    caller = a_customer_of(site, A)
    answered = await answered_by_a(site, caller, talk_ms=6000)
    call_id = answered.call_id
    await transfer(site, call_id, "attended")
    # B answers, talks with A for a second and hangs up: the customer is back with A, who stays on the call.
    await site.wait(lambda: [e for e in of(site, AgentStateChanged, agent=B) if e.state is AgentState.TALKING],
                    "B talking with A")
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert not of(site, CallTransferred, call_id)
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A,)
    assert ended.agents_rung == (A,) and [a.agent for a in ended.attempts] == [A]
    [consult] = ended.consultations
    assert (consult.agent, consult.by_agent, consult.transferred) == (B, A, False)
    assert consult.ended_s is not None and consult.ended_s < ended.ended_s
    # A hears the customer's hang-up, not B's: A's leg lasted to the end.
    assert ended.talk_s >= 5.0, ended
    activity = await activity_when(site, call_id, lambda a: a.call_meta.get("wrapup_spells"), "A's wrap-up booked")
    meta = activity.call_meta
    assert meta["agents_talked"] == [A] and meta["answered_by"] == A
    assert [(c["agent"], c["transferred"]) for c in meta["consultations"]] == [(B, False)]
    # B's wrap-up would have ended before A's (B's leg ended first): none of it is on the customer's call.
    assert [s["agent"] for s in meta["wrapup_spells"]] == [A], meta["wrapup_spells"]
    assert not [e for e in of(site, AgentStateChanged, agent=B) if e.wrapup_call_id == call_id]


REFER_AFTER_MS = 1500  # A's agent presses the phone's transfer key this long after answering


@pytest.mark.parametrize("phone_scenarios", [{A: ("phone_blind_refer.xml", REFER_AFTER_MS), B: PHONE}],
                         ids=["A's phone sends REFER"])
async def test_a_desk_phones_blind_transfer_by_refer_is_a_transfer_too(site: Site) -> None:
    """No API: A's phone sends SIP REFER (Refer-To 1003, no Replaces) and chan_pjsip carries it out: the customer goes
    through from-internal to cc-agents, whose Dial rings B."""
    caller = a_customer_of(site, A)
    answered = await answered_by_a(site, caller, talk_ms=REFER_AFTER_MS + 5000)
    call_id = answered.call_id
    [moved] = await site.wait(lambda: of(site, CallTransferred, call_id), "the call transferred to B")
    assert (moved.from_agent, moved.to_agent) == (A, B)
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.consultations == () and ended.talk_s >= REFER_AFTER_MS / 1000 + 4.0, ended
    assert len(of(site, CallEnded)) == 1
    activity = await activity_when(site, call_id, lambda a: len(a.call_meta.get("wrapup_spells", ())) == 2,
                                   "a wrap-up spell of each agent on the activity")
    assert activity.call_meta["agents_talked"] == [A, B]
    assert sorted(s["agent"] for s in activity.call_meta["wrapup_spells"]) == [A, B]


A_LEAVES_MS, B_RINGS_MS = 1500, 4000  # A hangs up while B's phone still rings


@pytest.mark.parametrize("phone_scenarios",
                         [{A: ("phone_hangs_up.xml", A_LEAVES_MS), B: ("phone_rings.xml", B_RINGS_MS)}],
                         ids=["A hangs up while B rings"])
async def test_a_hanging_up_while_b_still_rings_hands_the_customer_over_when_b_answers(site: Site) -> None:
    """The 'blond' transfer: bridge_basic completes an attended transfer whose transferer hangs up before the target
    answered (AttendedTransfer Success at A's BYE); the customer hears B's phone ring and B answers the customer. No
    consultation took place: B's ringing is an ordinary offer of the call, and the transfer happens when B answers
    (before the fix, B's answer was a consultation that A's late Hangup turned into a transfer)."""
    caller = a_customer_of(site, A)
    answered = await answered_by_a(site, caller, talk_ms=B_RINGS_MS + 4000)
    call_id = answered.call_id
    await transfer(site, call_id, "attended")
    await site.wait(lambda: [e for e in of(site, AgentStateChanged, agent=B) if e.state is AgentState.RINGING],
                    "B's phone ringing")
    [moved] = await site.wait(lambda: of(site, CallTransferred, call_id), "B answering the customer")
    assert (moved.from_agent, moved.to_agent) == (A, B)
    # Asterisk held A's channel (and A's device in use) from A's BYE until B answered; A's wrap-up starts then.
    a_left = await site.wait(lambda: [e for e in of(site, AgentStateChanged, agent=A) if e.state is AgentState.WRAP_UP],
                             "A in wrap-up")
    assert a_left[0].at_s >= moved.at_s
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert ended.consultations == ()
    assert [(a.agent, a.result) for a in ended.attempts] == [(A, "ANSWER"), (B, "ANSWER")]
    assert ended.agents_rung == (A, B)
    activity = await activity_when(site, call_id, lambda a: len(a.call_meta.get("wrapup_spells", ())) == 2,
                                   "a wrap-up spell of each agent on the activity")
    assert activity.call_meta["agents_talked"] == [A, B]


@pytest.mark.parametrize("phone_scenarios", [{A: PHONE, B: ("phone_busy.xml", None)}], ids=["B busy"])
async def test_a_customer_blind_transferred_to_a_busy_colleague_waits_in_the_queue(site: Site) -> None:
    """cc-agents hung up on a blind-transferred customer whose colleague did not take the call (busy here, or 20 s of
    ringing): the API said 202 and the customer heard a BYE. Now they wait in the team's queue, where A - out of
    wrap-up - takes them again."""
    caller = a_customer_of(site, A)
    answered = await answered_by_a(site, caller, talk_ms=WRAPUP_S * 1000 + 5000)
    call_id = answered.call_id
    await transfer(site, call_id, "blind")
    # The queue offers the customer to the only agent who is not busy: A, whose phone rings again. (At once, here:
    # Queue() picked A within milliseconds of A's leg ending, before the service's wrap-up QueuePause landed.)
    talking = await site.wait(
        lambda: (t := [e for e in of(site, AgentStateChanged, agent=A) if e.state is AgentState.TALKING])[1:] and t,
        "A taking the customer again")
    again = talking[1:]
    assert not of(site, CallEnded, call_id)
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.hung_up_by == "customer" and ended.ended_s > again[0].at_s, ended
    assert ended.queue == "support" and ended.agents_talked == (A,) and not of(site, CallTransferred, call_id)
    assert [(a.agent, a.result) for a in ended.attempts][:2] == [(A, "ANSWER"), (B, "BUSY")]


CONSULT_MS = 2000  # A talks with B this long on the phone's second line before pressing transfer


async def test_a_desk_phones_attended_transfer_by_refer_with_replaces(site: Site) -> None:
    """No API: A's phone calls B on a second line (an internal call of its own, another Linkedid), then sends REFER
    with Replaces naming the customer's dialog; Asterisk joins the customer and B (AttendedTransfer Success) and hangs
    up both of A's lines. The customer's call gets B, the consultation transferred."""
    caller = a_customer_of(site, A)
    answered = await answered_by_a(site, caller, talk_ms=CONSULT_MS + 7000)
    call_id = answered.call_id
    leg = site.app[LIVE].tracker.talking_leg(call_id)
    assert leg is not None and leg[0] == A
    dialog = {}
    for item in ("call-id", "local_tag", "remote_tag"):  # the customer's dialog with A's phone, as Asterisk has it
        reply = await site.app[AMI].send(getvar(channel=leg[1], variable=f"CHANNEL(pjsip,{item})"))
        dialog[item] = reply["Value"]
    # Replaces: to-tag is the tag of the side that receives it (Asterisk), from-tag the phone's
    replaces = f"{dialog['call-id']}%3Bto-tag%3D{dialog['local_tag']}%3Bfrom-tag%3D{dialog['remote_tag']}"
    await site.sipp.second_line(A, to=B, scenario="consult_and_refer.xml", hold_ms=CONSULT_MS,
                                keys={"replaces": replaces})
    [moved] = await site.wait(lambda: of(site, CallTransferred, call_id), "the call transferred to B")
    assert (moved.from_agent, moved.to_agent) == (A, B)
    [ended] = await site.wait(lambda: of(site, CallEnded, call_id), "the call to end")
    assert ended.outcome is CallOutcome.ANSWERED and ended.answered_by == A and ended.agents_talked == (A, B)
    assert [(c.agent, c.by_agent, c.transferred) for c in ended.consultations] == [(B, A, True)]
    assert ended.talk_s >= CONSULT_MS / 1000 + 6.0, ended
    # The consultation was an internal call of its own (A's second line to B): it ends as one, apart from the
    # customer's.
    [consultation_call] = [e for e in of(site, CallEnded) if e.call_id != call_id]
    assert consultation_call.direction == "internal" and consultation_call.caller == A
    # A's wrap-up is for the customer's call, although Asterisk hung up A's consultation line last.
    activity = await activity_when(site, call_id, lambda a: len(a.call_meta.get("wrapup_spells", ())) == 2,
                                   "a wrap-up spell of each agent on the customer's activity")
    assert activity.call_meta["agents_talked"] == [A, B]
    assert sorted(s["agent"] for s in activity.call_meta["wrapup_spells"]) == [A, B]
