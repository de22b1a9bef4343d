"""Desk-phone feature codes and BLF hints on a real Asterisk with sipp phones: the shipped [cc-features] runs, the
service's feature route acts, and Asterisk's queue (`queue show`), the live model and the agent's hint (`core show
hints`, ExtensionStatus) follow."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from callcenter.ami.channel_vars import FEATURE_DIGITS, FeatureCode, FeaturePrompt, FeatureResult
from callcenter.ami.events import DeviceStateChange
from callcenter.ami import actions
from callcenter.app_keys import AMI, DATABASE, LIVE
from callcenter.automation.facts import CallLogged
from callcenter.deskphone.features import FeatureAnswer
from callcenter.deskphone.wiring import DESK_FEATURES
from callcenter.events import AgentState, CallEnded, CallOutcome
from crm_core.models import Task, TaskKind, TaskStatus
from tests.real_asterisk.conftest import PHONES, WAIT_S, Site, login_all

AGENT = "1002"
HINT = f"*7{AGENT}"


async def dial(site: Site, digits: str, *, ext: str = AGENT) -> FeatureAnswer:
    """The agent's phone dials ``digits`` on a line of its own; returns the route's answer once Asterisk hung up."""
    features = site.app[DESK_FEATURES]
    before = len(features.answers)
    proc = await site.sipp.second_line(ext, to=digits, scenario="phone_dials_code.xml", hold_ms=20_000, keys={})
    assert await asyncio.wait_for(proc.wait(), WAIT_S) == 0, f"sipp dialling {digits} failed (see its .log/.msg)"
    assert len(features.answers) == before + 1
    return features.answers[-1]


async def hint_state(site: Site) -> str:
    """`core show hints`: '*71002@cc-features   : Custom:agent-1002     State:Hold ...' -> 'Hold'."""
    out = await site.pbx.cli("core show hints")
    match = re.search(rf"^\s*{re.escape(HINT)}@cc-features\s*:\s*Custom:agent-{AGENT}\s+State:(\S+)", out, re.M)
    assert match, out
    return match.group(1)


async def extension_status(site: Site) -> tuple[str, str]:
    """The hint as AMI ExtensionStateList lists it (ExtensionStatus: Status, StatusText)."""
    listed = await site.app[AMI].send(actions.extension_state_list())
    [event] = [m for m in listed if m.get("Event") == "ExtensionStatus" and m.get("Exten") == HINT]
    assert (event.get("Context"), event.get("Hint")) == ("cc-features", f"Custom:agent-{AGENT}")
    return event.get("Status"), event.get("StatusText")


def lamps(site: Site) -> list[str]:
    return [e.state for e in site.seen if isinstance(e, DeviceStateChange) and e.device == f"Custom:agent-{AGENT}"]


def live_state(site: Site) -> tuple[AgentState, str | None]:
    return site.app[LIVE].agent_state(AGENT)


async def test_feature_codes_change_the_queue_the_live_model_and_the_hint(site: Site) -> None:
    # the service's AMI session sees Asterisk's DeviceStateChange of the custom device: the BLF publisher's result
    site.app[LIVE].ingest.taps.append(site.on_event)

    answer = await dial(site, FEATURE_DIGITS[FeatureCode.LOGIN])
    assert (answer.agent, answer.result, answer.prompt) == (AGENT, FeatureResult.OK, FeaturePrompt.LOGGED_IN)
    members = await site.pbx.queue_members("support")
    assert f"PJSIP/{AGENT}" in members, members
    await site.wait(lambda: "support" in site.app[LIVE].tracker.agents.agents[AGENT].queues, "in the queue")

    answer = await dial(site, FEATURE_DIGITS[FeatureCode.PAUSE] + "1")
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.DONE)
    await site.wait(lambda: live_state(site) == (AgentState.PAUSED, "lunch"), "paused for lunch")
    line = (await site.pbx.queue_members("support"))[f"PJSIP/{AGENT}"]
    assert "paused" in line.lower() and "lunch" in line, line
    await site.wait(lambda: lamps(site)[-1:] == ["ONHOLD"], "the custom device ONHOLD")
    assert await hint_state(site) == "Hold"
    assert await extension_status(site) == ("16", "Hold")

    # an unknown reason code: refused, nothing changes
    answer = await dial(site, FEATURE_DIGITS[FeatureCode.PAUSE] + "9")
    assert (answer.result, answer.prompt) == (FeatureResult.REFUSED, FeaturePrompt.REFUSED)
    # (the phone itself was in use while it dialled: the live model shows that call until Asterisk's hangup lands)
    await site.wait(lambda: live_state(site) == (AgentState.PAUSED, "lunch"), "still paused for lunch")
    assert "lunch" in (await site.pbx.queue_members("support"))[f"PJSIP/{AGENT}"]

    answer = await dial(site, FEATURE_DIGITS[FeatureCode.UNPAUSE])
    assert answer.result is FeatureResult.OK
    await site.wait(lambda: live_state(site)[0] is AgentState.AVAILABLE, "available again")
    assert "paused" not in (await site.pbx.queue_members("support"))[f"PJSIP/{AGENT}"].lower()
    await site.wait(lambda: lamps(site)[-1:] == ["NOT_INUSE"], "the custom device NOT_INUSE")
    assert await hint_state(site) == "Idle"
    assert await extension_status(site) == ("0", "Idle")

    # nothing to end
    assert (await dial(site, FEATURE_DIGITS[FeatureCode.WRAPUP_END])).result is FeatureResult.REFUSED

    answer = await dial(site, FEATURE_DIGITS[FeatureCode.LOGOUT])
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.LOGGED_OUT)
    assert f"PJSIP/{AGENT}" not in await site.pbx.queue_members("support")
    await site.wait(lambda: "support" not in site.app[LIVE].tracker.agents.agents[AGENT].queues, "out of the queue")



@pytest.fixture
def site_toml() -> str:
    return "[calls]\nwrapup_s = 120\n"


async def test_end_wrap_up_from_the_phone(site: Site) -> None:
    await login_all(site)
    await site.sipp.call(caller="+13125550160", did="8001", talk_ms=1500)
    [ended] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == "+13125550160"],
                              "the customer's call to end")
    agent = ended.answered_by
    assert agent in PHONES
    await site.wait(lambda: site.app[LIVE].agent_state(agent)[0] is AgentState.WRAP_UP, "wrap-up")
    assert "paused" in (await site.pbx.queue_members("support"))[f"PJSIP/{agent}"].lower()
    answer = await dial(site, FEATURE_DIGITS[FeatureCode.WRAPUP_END], ext=agent)
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.DONE)
    await site.wait(lambda: site.app[LIVE].agent_state(agent)[0] is AgentState.AVAILABLE, "available again")
    members = await site.pbx.queue_members("support")
    assert "paused" not in members[f"PJSIP/{agent}"].lower(), members


async def test_call_back_my_last_missed_caller_goes_out_through_the_trunk(site: Site) -> None:
    number = "+13125550177"
    async with site.app[DATABASE].session() as s:
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN,
                   assignee_id=site.crm.agents[AGENT], callback_e164=number))
        await s.commit()
    (site.sipp.root / "quiet.ulaw").write_bytes(b"\xff" * 8000)  # one second of u-law silence
    await site.sipp.callee("callee_answers.xml", fill={"GREETING": "quiet.ulaw", "RING_MS": "500", "HOLD_MS": "2000"})
    # the phone stays on the line through the call: the customer hangs up after 2 s, then Asterisk hangs up the phone
    answer = await dial(site, FEATURE_DIGITS[FeatureCode.CALLBACK])
    assert (answer.result, answer.dial) == (FeatureResult.OK, number)
    [ended] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.customer == number],
                              "the callback call to end")
    assert (ended.direction, ended.outcome) == ("outbound", CallOutcome.ANSWERED), ended
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id],
                    "the callback call in the CRM")
    async with site.app[DATABASE].session() as s:
        task = await s.scalar(select(Task).where(Task.callback_e164 == number))
    assert task.status is TaskStatus.DONE  # reached: the callback closed itself, as after click-to-call


async def test_a_custom_state_written_again_unchanged(site: Site) -> None:
    """What the simulator copies (pbxsim/hints.py): whether Asterisk announces a DeviceStateChange for a custom state
    written again with the same value, and that func_devstate keeps it in astdb (it survives a restart)."""
    site.app[LIVE].ingest.taps.append(site.on_event)
    device = "Custom:agent-9999"  # nobody's: the BLF publisher never writes it
    for state in ("ONHOLD", "ONHOLD", "INUSE"):
        await site.app[AMI].send(actions.set_device_state(device=device, state=state))
    seen = await site.wait(lambda: (got := [e.state for e in site.seen if isinstance(e, DeviceStateChange)
                                            and e.device == device])[-1:] == ["INUSE"] and got, "INUSE announced")
    assert seen == ["ONHOLD", "INUSE"]
    assert re.search(r"/CustomDevstate/agent-9999\s*:\s*INUSE", await site.pbx.cli("database show CustomDevstate"))
