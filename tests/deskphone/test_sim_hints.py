"""The simulator's custom device states and hints against what Asterisk 20.20.1 showed (the real tier's
test_deskphone.py): Setvar DEVICE_STATE(Custom:...) without a channel sets no variable, the hint's ExtensionStatus
comes first and DeviceStateChange after, only on a change; astdb keeps the value over a restart; ExtensionStateList
lists the hints; a desk phone's feature code runs [cc-features] with the endpoint as the AGI argument."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.pbxsim.callmodel import AgentPhone
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.operations import Operations
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings


def _sim(tmp_path: Path) -> tuple[Simulator, list[tuple[str, dict[str, str]]]]:
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path),
                    clock=VirtualClock(start_epoch_s=time.time()))
    events: list[tuple[str, dict[str, str]]] = []

    def listen(name: str, data: bytes) -> None:
        lines = data.decode().split("\r\n")
        events.append((name, dict(line.split(": ", 1) for line in lines if ": " in line)))

    sim.pbx.bus.listen(listen)
    return sim, events


async def test_a_custom_state_moves_its_hint_first_then_the_device(tmp_path: Path) -> None:
    sim, events = _sim(tmp_path)
    ops = Operations(sim.pbx)
    assert ops.setvar(channel=None, variable="DEVICE_STATE(Custom:agent-1002)", value="NOT_INUSE") is None
    # UNKNOWN -> NOT_INUSE: the device changes, the hint was Idle already
    assert [(n, e.get("Device")) for n, e in events] == [("DeviceStateChange", "Custom:agent-1002")]
    events.clear()
    ops.setvar(channel=None, variable="DEVICE_STATE(Custom:agent-1002)", value="ONHOLD")
    assert [n for n, _ in events] == ["ExtensionStatus", "DeviceStateChange"]
    status = events[0][1]
    assert (status["Exten"], status["Context"], status["Hint"], status["Status"], status["StatusText"]) == (
        "*71002", "cc-features", "Custom:agent-1002", "16", "Hold")
    assert events[0][1]["Privilege"] == events[1][1]["Privilege"] == "call,all"
    assert "VarSet" not in [n for n, _ in events]  # a function is written, not a variable
    events.clear()
    ops.setvar(channel=None, variable="DEVICE_STATE(Custom:agent-1002)", value="ONHOLD")
    assert events == []

    listed = {item[2][1]: dict(item) for item in sim.pbx.hints.list_items("x")}
    assert (listed["*71002"]["Status"], listed["*71002"]["StatusText"]) == ("16", "Hold")
    assert (listed["*71003"]["Status"], listed["*71003"]["StatusText"]) == ("0", "Idle")

    sim.pbx.restart()  # func_devstate load_module reads astdb back
    assert sim.pbx.devices["Custom:agent-1002"] == "ONHOLD"
    assert sim.pbx.hints.last[("cc-features", "*71002")] == 16


async def test_a_feature_code_runs_the_shipped_dialplan_with_the_phones_endpoint(tmp_path: Path) -> None:
    sim, events = _sim(tmp_path)
    sim.set_agi_address("127.0.0.1", 9)  # nobody listens: AGISTATUS=FAILURE, as with the service down
    hung_up = asyncio.Event()
    sim.pbx.bus.listen(lambda name, _data: hung_up.set() if name == "Hangup" else None)
    await sim.start()
    try:
        ch = sim.dial_from_phone("1002", "*461")
        await asyncio.wait_for(hung_up.wait(), 10)
    finally:
        await sim.stop()
    assert not ch.alive
    apps = [(e["Context"], e["Application"], e["AppData"]) for n, e in events if n == "Newexten"]
    # found through [from-internal]'s include: the channel's context stays the phone's own (as in Asterisk)
    assert apps[0] == ("from-internal", "Gosub", "cc-feature,s,1(pause,1)")
    assert ("cc-feature", "AGI", "agi://127.0.0.1:9/feature,pause,1,1002") in apps
    # no answer from the service: the agent hears that an error occurred
    assert ("cc-feature", "Playback", "an-error-has-occurred") in apps
