"""Desk-phone feature codes and BLF hints on a real Asterisk with sipp phones: the shipped [cc-features] runs, the
service's feature route acts, and Asterisk's queue (`queue show`), the live model and the agent's hint (`core show
hints`, ExtensionStatus) follow."""

from __future__ import annotations

import asyncio
import re

from callcenter.ami.channel_vars import FEATURE_DIGITS, FeatureCode, FeaturePrompt, FeatureResult
from callcenter.ami.events import DeviceStateChange
from callcenter.ami import actions
from callcenter.app import AMI, LIVE
from callcenter.deskphone.features import FeatureAnswer
from callcenter.deskphone.wiring import DESK_FEATURES
from callcenter.events import AgentState
from tests.real_asterisk.conftest import WAIT_S, Site

AGENT = "1002"
HINT = f"*7{AGENT}"


async def dial(site: Site, digits: str) -> FeatureAnswer:
    """The agent's phone dials ``digits`` on a line of its own; returns the route's answer once Asterisk hung up."""
    features = site.app[DESK_FEATURES]
    before = len(features.answers)
    proc = await site.sipp.second_line(AGENT, to=digits, scenario="phone_dials_code.xml", hold_ms=20_000, keys={})
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

