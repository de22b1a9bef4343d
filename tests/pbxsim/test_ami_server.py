"""The simulator's AMI server as a protocol: login rules, responses, list actions, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.ami.connection import AmiConnection, AmiState
from callcenter.ami.events import parse_event
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from tests.pbxsim.harness import CAPTURE_MANAGER_CONF, RawAmiClient, frames_of


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    phones = (AgentPhone(extension="1002"), AgentPhone(extension="1001", registered=False, static_contact=False))
    simulator = Simulator(settings=SimulatorSettings(phones=phones, monitor_dir=tmp_path,
                                                     manager_conf=CAPTURE_MANAGER_CONF),
                          clock=VirtualClock(auto=False, start_epoch_s=time.time()))
    await simulator.start()
    yield simulator
    await simulator.stop()
    assert simulator.clock.errors == []


def messages(client: RawAmiClient) -> list[dict[str, str]]:
    return [dict(f) for f in frames_of(bytes(client.data))]


async def test_banner_login_and_logoff(sim: Simulator) -> None:
    client = RawAmiClient()
    await client.connect(sim.ami_port)
    await client.wait_for(b"Event: SuccessfulAuth")
    assert bytes(client.data).startswith(b"Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nActionID: login-1\r\n"
                                         b"Message: Authentication accepted\r\n\r\nEvent: FullyBooted\r\n")
    await client.logoff()
    assert messages(client)[-1] == {"Response": "Goodbye", "ActionID": "logoff-1", "Message": "Thanks for all the fish."}
    await client.close()


async def test_wrong_secret_gets_the_real_failure_and_the_connection_closes(sim: Simulator) -> None:
    client = RawAmiClient()
    await client.connect(sim.ami_port, secret="nope")
    await asyncio.wait_for(client.closed.wait(), 5)
    assert messages(client) == [{"Response": "Error", "ActionID": "login-1", "Message": "Authentication failed"}]
    await client.close()


async def test_actions_before_login_are_refused(sim: Simulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.ami_port)
    await reader.readline()
    writer.write(b"Action: Ping\r\nActionID: p1\r\n\r\n")
    reply = await reader.readuntil(b"\r\n\r\n")
    assert reply == b"Response: Error\r\nActionID: p1\r\nMessage: Permission denied\r\n\r\n"
    writer.close()


async def test_ping_events_off_and_unknown_action(sim: Simulator) -> None:
    client = RawAmiClient()
    await client.connect(sim.ami_port)
    await client.send((("Action", "Ping"), ("ActionID", "p")))
    await client.send((("Action", "Events"), ("EventMask", "off"), ("ActionID", "e")))
    await client.send((("Action", "Frobnicate"), ("ActionID", "f")))
    sim.pbx.register("1001")  # would be events
    await client.send((("Action", "Ping"), ("ActionID", "p2")))
    replies = {m.get("ActionID"): m for m in messages(client)}
    assert list(replies["p"]) == ["Response", "ActionID", "Ping", "Timestamp"]
    assert replies["e"]["Events"] == "Off"
    # manager.c process_message's words for an action nobody registered
    assert replies["f"] == {"Response": "Error", "ActionID": "f", "Message": "Invalid/unknown command: Frobnicate. "
                            "Use Action: ListCommands to show available commands."}
    assert not any(m.get("Event") == "PeerStatus" for m in messages(client))
    await client.close()


async def test_list_actions_reflect_the_state_and_parse_with_our_parser(sim: Simulator) -> None:
    sim.set_agi_address("127.0.0.1", 9)  # nobody there: AGISTATUS=FAILURE, the dialplan falls back to the queue
    fallback = sim.pbx.dialplan.globals["CC_FALLBACK_QUEUE"]  # where the dialplan sends a call FastAGI never routed
    sim.server.ops.queue_add(queue=fallback, interface="PJSIP/1002", member_name="1002", state_interface="PJSIP/1002",
                             penalty=0, paused=False, reason="")
    sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=2.0))
    sim.call(Caller(number="+12125550100", did="8001", talk_s=60))
    await sim.clock.advance(5.0)
    client = RawAmiClient()
    await client.connect(sim.ami_port)
    for name in ("CoreShowChannels", "QueueStatus", "DeviceStateList", "PJSIPShowContacts"):
        await client.send((("Action", name), ("ActionID", name)))
        await client.wait_for(f"EventList: Complete\r\nListItems".encode())
    frames = messages(client)
    items = [m for m in frames if m.get("ActionID") in ("CoreShowChannels", "QueueStatus", "DeviceStateList",
                                                         "PJSIPShowContacts") and "Event" in m]
    ignored = {"DeviceStateListComplete", "ContactListComplete"}  # the parser knows and drops these two
    assert [m["Event"] for m in items if m["Event"] not in ignored and parse_event(m) is None] == []
    channels = {m["Channel"].split("-")[0]: m for m in items if m["Event"] == "CoreShowChannel"}
    assert sorted(channels) == ["PJSIP/1002", "PJSIP/trunk"]
    assert channels["PJSIP/trunk"]["Duration"] == "00:00:05" and channels["PJSIP/trunk"]["Application"] == "Queue"
    assert channels["PJSIP/trunk"]["BridgeId"] == channels["PJSIP/1002"]["BridgeId"] != ""
    complete = {m["Event"]: int(m["ListItems"]) for m in items if m["Event"].endswith("Complete")}
    assert complete["CoreShowChannelsComplete"] == 2
    member = next(m for m in items if m["Event"] == "QueueMember")
    assert (member["Location"], member["Status"], member["InCall"]) == ("PJSIP/1002", "2", "1")
    devices = {m["Device"]: m["State"] for m in items if m["Event"] == "DeviceStateChange"}
    assert devices["PJSIP/1002"] == "INUSE" and devices["PJSIP/1001"] == "UNAVAILABLE"
    contacts = [m for m in items if m["Event"] == "ContactList"]
    assert [(m["Endpoint"], m["Status"]) for m in contacts] == [("1002", "NonQualified")]
    await client.close()


async def test_refused_logins_and_recovery_seen_by_the_service(sim: Simulator) -> None:
    sim.server.refuse_logins = True
    conn = AmiConnection(host="127.0.0.1", port=sim.ami_port, username="callcenter", secret="callcenter",
                         reconnect_min_s=0.02, reconnect_max_s=0.05)
    conn.start()
    try:
        await conn.wait_until(lambda c: c.state is AmiState.AUTH_FAILED, 5)
        sim.server.refuse_logins = False
        await conn.wait_live(5)
        assert conn.stats.auth_failures >= 1
    finally:
        await conn.stop()


async def test_delayed_events_arrive_late_but_in_order(sim: Simulator) -> None:
    sim.server.event_delay_s = 0.01
    client = RawAmiClient()
    await client.connect(sim.ami_port)
    await client.wait_for(b"Event: SuccessfulAuth")
    sim.pbx.register("1001")
    sim.pbx.unregister("1001")
    await client.wait_for(b"State: UNAVAILABLE")
    names = [m.get("Event") for m in messages(client) if m.get("Event")]
    assert names[-10:] == ["ChallengeSent", "SuccessfulAuth", "PeerStatus", "ContactStatus", "DeviceStateChange"] * 2
    await client.close()


async def test_hangup_and_originate_errors(sim: Simulator) -> None:
    conn = AmiConnection(host="127.0.0.1", port=sim.ami_port, username="callcenter", secret="callcenter")
    conn.start()
    try:
        await conn.wait_live(5)
        with pytest.raises(actions.AmiActionFailed, match="No such channel"):
            await conn.send(actions.hangup(channel="PJSIP/1002-00000099"))
        with pytest.raises(actions.AmiActionFailed, match="Already there"):
            for _ in range(2):
                await conn.send(actions.queue_add(queue="sales", interface="PJSIP/1002"))
        with pytest.raises(actions.AmiActionFailed, match="No such queue"):
            await conn.send(actions.queue_remove(queue="nope", interface="PJSIP/1002"))
        with pytest.raises(actions.AmiActionFailed, match="Interface not found"):
            await conn.send(actions.queue_pause(interface="PJSIP/1099", paused=True))
        # Local channels are not simulated: the Originate is queued, then fails like an unreachable destination
        reply = await conn.send(actions.originate(channel="Local/1002@cc-agents", context="cc-dial-customer",
                                                  exten="5550001", action_id="o-local"))
        assert reply["Message"] == "Originate successfully queued"
    finally:
        await conn.stop()
