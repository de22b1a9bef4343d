"""Feature codes and BLF keys end to end: the whole service against the simulator running the shipped dialplan; a
desk phone dials the code, [cc-features] asks the FastAGI feature route, and the effect shows in Asterisk's queue
(the simulator's members), the live model, the wallboard hub and the agent's custom device state / hint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.channel_vars import FEATURE_DIGITS, FeatureCode, FeaturePrompt, FeatureResult
from callcenter.app_keys import DATABASE, HUB, LIVE
from callcenter.deskphone.features import FeatureAnswer
from callcenter.deskphone.wiring import AGENT_BLF, DESK_FEATURES
from callcenter.events import AgentState, AgentStateChanged, CallEnded
from crm_core.models import Task, TaskKind, TaskStatus
from tests.floor import ANSWER, QUEUE, WAIT_S, Floor, running_floor

ME = "1003"
SUPERVISOR = "1099"  # a desk phone of no agent


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with running_floor(tmp_path, "[calls]\nwrapup_s = 600\n", extra_phones=(SUPERVISOR,)) as f:
        yield f


async def dial(floor: Floor, ext: str, digits: str) -> FeatureAnswer:
    """The phone dials the code; returns the route's answer once the phone's call is over (prompt played)."""
    answered: asyncio.Queue[FeatureAnswer] = asyncio.Queue()
    features = floor.app[DESK_FEATURES]
    features.listeners.append(answered.put_nowait)
    try:
        ch = floor.sim.dial_from_phone(ext, digits)
        answer = await asyncio.wait_for(answered.get(), WAIT_S)
        await floor.wait(lambda: not ch.alive, f"{digits} from {ext} hung up")
    finally:
        features.listeners.remove(answered.put_nowait)
    assert answer.result is not None
    return answer


def member(floor: Floor, ext: str) -> Any:
    return floor.sim.pbx.queues.queues[QUEUE].members.get(f"PJSIP/{ext}")


def live_state(floor: Floor, ext: str) -> tuple[AgentState, str | None]:
    return floor.app[LIVE].agent_state(ext)


def wallboard(floor: Floor, ext: str) -> dict[str, Any]:
    return floor.app[HUB].state.agents.get(ext) or {}


def lamp(floor: Floor, ext: str) -> tuple[str | None, int | None]:
    """The agent's custom device state in Asterisk and its hint's extension state (ExtensionStatus Status)."""
    pbx = floor.sim.pbx
    return pbx.devices.get(f"Custom:agent-{ext}"), pbx.hints.last.get(("cc-features", f"*7{ext}"))


async def wait_blf(floor: Floor, predicate: Any, what: str) -> None:
    """The publisher sends Setvar from its own task: re-check on the bus and whenever Asterisk accepted one."""
    blf = floor.app[AGENT_BLF]

    def wake(_agent: str, _state: str) -> None:
        floor.changed.set()

    blf.listeners.append(wake)
    try:
        await floor.wait(predicate, what)
    finally:
        blf.listeners.remove(wake)


async def wait_lamp(floor: Floor, ext: str, device_state: str, status: int) -> None:
    await wait_blf(floor, lambda: lamp(floor, ext) == (device_state, status), f"BLF of {ext} {device_state}")


async def test_pause_with_a_reason_code_then_unpause_reach_queue_live_model_wallboard_and_blf(floor: Floor) -> None:
    await floor.all_available()
    await wait_lamp(floor, ME, "NOT_INUSE", 0)

    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.PAUSE] + "1")
    assert (answer.agent, answer.result, answer.prompt) == (ME, FeatureResult.OK, FeaturePrompt.DONE)
    await floor.wait(lambda: live_state(floor, ME) == (AgentState.PAUSED, "lunch"), "paused for lunch")
    assert (member(floor, ME).paused, member(floor, ME).reason) == (True, "lunch")
    assert (wallboard(floor, ME)["state"], wallboard(floor, ME)["reason"]) == ("paused", "lunch")
    await wait_lamp(floor, ME, "ONHOLD", 16)

    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.UNPAUSE])
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.DONE)
    await floor.wait(lambda: live_state(floor, ME)[0] is AgentState.AVAILABLE, "available again")
    assert member(floor, ME).paused is False
    assert wallboard(floor, ME)["state"] == "available"
    await wait_lamp(floor, ME, "NOT_INUSE", 0)


async def test_an_unknown_reason_code_is_refused_and_changes_nothing(floor: Floor) -> None:
    await floor.all_available()
    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.PAUSE] + "9")
    assert (answer.result, answer.prompt) == (FeatureResult.REFUSED, FeaturePrompt.REFUSED)
    assert "unknown pause reason code '9'" in answer.why
    assert live_state(floor, ME) == (AgentState.AVAILABLE, None)
    assert member(floor, ME).paused is False
    # the phone heard the refusal: the dialplan played the prompt the route named
    assert floor.sim.pbx.phones[ME] is not None


async def test_a_phone_of_no_agent_is_refused_and_nothing_is_recorded(floor: Floor) -> None:
    await floor.all_available()
    for digits in (FEATURE_DIGITS[FeatureCode.PAUSE] + "1", FEATURE_DIGITS[FeatureCode.LOGIN]):
        answer = await dial(floor, SUPERVISOR, digits)
        assert (answer.agent, answer.result, answer.prompt) == (None, FeatureResult.REFUSED, FeaturePrompt.NO_AGENT)
    assert member(floor, SUPERVISOR) is None
    # the live model follows the phone itself (in use while it dialled), but no pause was recorded for it
    record = floor.app[LIVE].tracker.agents.agents.get(SUPERVISOR)
    assert record is None or record.own_pause is None
    assert not [e for e in floor.seen if isinstance(e, AgentStateChanged) and e.agent == SUPERVISOR
                and e.state is AgentState.PAUSED]
    assert SUPERVISOR not in floor.app[AGENT_BLF].published


async def test_log_out_and_back_in_from_the_phone(floor: Floor) -> None:
    await floor.all_available()
    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.LOGOUT])
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.LOGGED_OUT)
    assert member(floor, ME) is None
    # the live model follows Asterisk's QueueMemberRemoved (the agent stays reachable by direct routing, as after
    # the API's logout)
    await floor.wait(lambda: QUEUE not in floor.app[LIVE].tracker.agents.agents[ME].queues, "out of the queue")
    # logging out twice is no error for the agent
    assert (await dial(floor, ME, FEATURE_DIGITS[FeatureCode.LOGOUT])).result is FeatureResult.OK

    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.LOGIN])
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.LOGGED_IN)
    assert member(floor, ME) is not None
    await floor.wait(lambda: QUEUE in floor.app[LIVE].tracker.agents.agents[ME].queues, "in the queue again")
    assert live_state(floor, ME)[0] is AgentState.AVAILABLE


async def test_end_wrap_up_from_the_phone(floor: Floor) -> None:
    await floor.all_available()
    assert (await dial(floor, ME, FEATURE_DIGITS[FeatureCode.WRAPUP_END])).result is FeatureResult.REFUSED
    for ext in ("1002", "1004"):
        floor.sim.pbx.set_dnd(ext, True)
    # the supervisor's key for ME, as Asterisk announces it (ExtensionStatus Status)
    lamp_history: list[str] = []
    floor.sim.pbx.bus.listen(lambda name, data: lamp_history.append(
        data.decode().split("Status: ", 1)[1].split("\r\n", 1)[0]) if name == "ExtensionStatus" and
        f"Exten: *7{ME}\r\n".encode() in data else None)
    floor.sim.pbx.phones[ME].scripted.append(ANSWER)
    await floor.call("+13125550170", talk_s=3.0)
    await floor.wait(lambda: live_state(floor, ME)[0] is AgentState.WRAP_UP, "wrap-up after the call")
    await wait_lamp(floor, ME, "BUSY", 2)
    answer = await dial(floor, ME, FEATURE_DIGITS[FeatureCode.WRAPUP_END])
    assert (answer.result, answer.prompt) == (FeatureResult.OK, FeaturePrompt.DONE)
    await floor.wait(lambda: live_state(floor, ME)[0] is AgentState.AVAILABLE, "available after wrap-up")
    assert member(floor, ME).paused is False
    await wait_lamp(floor, ME, "NOT_INUSE", 0)
    # from the customer's call on (the refused *48 above may still be settling back to Idle): ringing, on the call,
    # wrap-up, the phone in use while it dials *48, available
    assert "8" in lamp_history and lamp_history[lamp_history.index("8"):] == ["8", "1", "2", "1", "0"], lamp_history


async def test_call_back_my_last_missed_caller_dials_the_number_out_through_the_trunk(floor: Floor) -> None:
    await floor.all_available()
    assert (await dial(floor, ME, FEATURE_DIGITS[FeatureCode.CALLBACK])).result is FeatureResult.REFUSED
    me = floor.crm.agents[ME]
    async with floor.app[DATABASE].session() as s:
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, assignee_id=me,
                   callback_e164="+13125550111"))
        s.add(Task(title="Call back", kind=TaskKind.CALLBACK, status=TaskStatus.OPEN, assignee_id=me,
                   callback_e164="+13125550122"))  # the newest
        await s.commit()
    ch = floor.sim.dial_from_phone(ME, FEATURE_DIGITS[FeatureCode.CALLBACK])
    ended = await floor.wait(lambda: [e for e in floor.seen if isinstance(e, CallEnded) and "+13125550122" in
                                      (e.customer or "", e.caller or "", e.did or "")], "the callback call")
    assert not ch.alive
    answer = floor.app[DESK_FEATURES].answers[-1]
    assert (answer.result, answer.dial, answer.user_id) == (FeatureResult.OK, "+13125550122", me)
    assert ended[0].direction == "outbound"


async def test_blf_states_are_published_again_after_asterisk_restarts_and_offline_is_unavailable(floor: Floor) -> None:
    await floor.all_available()
    assert (await dial(floor, ME, FEATURE_DIGITS[FeatureCode.PAUSE] + "2")).result is FeatureResult.OK
    await wait_lamp(floor, ME, "ONHOLD", 16)
    blf = floor.app[AGENT_BLF]
    assert blf.republished == 1  # the first AMI session
    # A fresh Asterisk with an empty astdb (a new host or volume): it knows no custom state at all.
    floor.sim.pbx.hints.astdb.clear()
    await floor.sim.server.restart()
    await wait_blf(floor, lambda: blf.republished == 2 and ME in blf.published, "every agent published again")
    await wait_lamp(floor, ME, "ONHOLD", 16)  # still on training: the keeper put the pause back, the key shows it
    assert live_state(floor, ME) == (AgentState.PAUSED, "training")
    await wait_lamp(floor, "1002", "NOT_INUSE", 0)

    floor.sim.pbx.unregister("1002")
    await floor.wait(lambda: live_state(floor, "1002")[0] is AgentState.OFFLINE, "1002 offline")
    await wait_lamp(floor, "1002", "UNAVAILABLE", 4)
