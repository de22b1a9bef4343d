"""The simulator is as strict as Asterisk 20 where Asterisk is strict, so a defect only a real Asterisk showed fails
here: manager.conf classes (main/manager.c), list actions that answer an error, a restart's dynamic queue members
(apps/app_queue.c) and the global VarSets of a dialplan reload (pbx/pbx_config.c, main/stasis_channels.c)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from callcenter.pbxsim.callmodel import AgentPhone, Caller
from callcenter.pbxsim.clock import VirtualClock
from callcenter.ami.agi import AgiRequest, RouteDecision
from callcenter.ami.channel_vars import USER_EVENT_AGENT_CONTROL, USER_EVENT_CALLBACK_REQUESTED
from callcenter.ami.events import DIALER_USER_EVENTS, EVENT_CLASSES, KEEP_APPLICATIONS, KEEP_VARIABLES, parse_event
from callcenter.pbxsim.callmodel import PhoneAnswer
from callcenter.pbxsim.manager_conf import (
    ACTIONS,
    ALL,
    FilterError,
    ManagerUser,
    MatchType,
    event_category,
    get_perm,
    load_manager_conf,
    parse_filter,
)
from callcenter.pbxsim.queues import read_persistent_members
from callcenter.pbxsim.simulator import DIALPLANS, Simulator, SimulatorSettings
from tests.pbxsim.conftest import Factory
from tests.pbxsim.harness import CAPTURE_MANAGER_CONF, RawAmiClient, frames_of

SHIPPED_MANAGER_CONF = DIALPLANS / "manager.conf"
SHIPPED_QUEUES_CONF = DIALPLANS / "queues.conf"
PHONES = (AgentPhone(extension="1002"), AgentPhone(extension="1001", registered=False, static_contact=False))


@asynccontextmanager
async def simulator(tmp_path: Path, **settings: object) -> AsyncIterator[Simulator]:
    values: dict[str, object] = {"phones": PHONES, "monitor_dir": tmp_path / "monitor", "record_audio": False}
    values.update(settings)
    sim = Simulator(settings=SimulatorSettings(**values),  # type: ignore[arg-type]
                    clock=VirtualClock(auto=False, start_epoch_s=time.time()))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
        assert sim.clock.errors == []


async def logged_in(sim: Simulator) -> RawAmiClient:
    client = RawAmiClient()
    await client.connect(sim.ami_port)
    await client.wait_for(b"Message: Authentication accepted\r\n")
    return client


def messages(client: RawAmiClient) -> list[dict[str, str]]:
    return [dict(f) for f in frames_of(bytes(client.data))]


def reply_to(client: RawAmiClient, action_id: str) -> dict[str, str]:
    return next(m for m in messages(client) if m.get("ActionID") == action_id and "Response" in m)


def manager_conf(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "manager.conf"
    path.write_text("[general]\nenabled = yes\n\n[callcenter]\nsecret = change-me\n" + "\n".join(lines) + "\n")
    return path


# == write classes: Permission denied ==================================================================================


async def test_an_action_outside_the_write_classes_is_refused_as_asterisk_does(tmp_path: Path) -> None:
    conf = manager_conf(tmp_path, "read = all", "write = agent")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "Originate"), ("ActionID", "o1"), ("Channel", "PJSIP/1002"),
                           ("Context", "cc-agents"), ("Exten", "1002"), ("Priority", "1")))
        await client.send((("Action", "PJSIPShowContacts"), ("ActionID", "c1")))
        await client.send((("Action", "QueueAdd"), ("ActionID", "q1"), ("Queue", "sales"),
                           ("Interface", "PJSIP/1002")))
        await client.send((("Action", "QueueStatus"), ("ActionID", "s1")))  # authority 0: anyone
        await client.wait_for(b"Event: QueueStatusComplete")
        # manager.c process_message: astman_send_error(s, m, "Permission denied"), ActionID echoed
        assert b"Response: Error\r\nActionID: o1\r\nMessage: Permission denied\r\n\r\n" in client.data
        assert b"Response: Error\r\nActionID: c1\r\nMessage: Permission denied\r\n\r\n" in client.data
        assert reply_to(client, "q1")["Message"] == "Added interface to queue"
        assert sim.pbx.stats.originates == 0  # nothing was dialled
        await client.close()


async def test_the_shipped_manager_conf_refuses_exactly_what_its_write_classes_lack(tmp_path: Path) -> None:
    """Every action the simulator answers, sent as the shipped user: refused iff Asterisk would refuse it."""
    (user,) = [u for name, u in load_manager_conf(SHIPPED_MANAGER_CONF).items() if name == "callcenter"]
    async with simulator(tmp_path) as sim:
        client = await logged_in(sim)
        for name in ("Ping", "CoreShowChannels", "QueueStatus", "DeviceStateList", "ExtensionStateList",
                     "PJSIPShowContacts", "Hangup", "Redirect", "Setvar", "Getvar", "Reload", "Originate",
                     "QueuePause", "Events"):
            await client.send((("Action", name), ("ActionID", f"x-{name}"), ("EventMask", "on")))
            denied = reply_to(client, f"x-{name}").get("Message") == "Permission denied"
            authority = ACTIONS[name.lower()][1]
            assert denied == (authority != 0 and not user.write & authority), name
        await client.close()


async def test_list_commands_lists_what_the_user_may_send(tmp_path: Path) -> None:
    conf = manager_conf(tmp_path, "read = all", "write = agent,reporting")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "ListCommands"), ("ActionID", "l1")))
        listed = reply_to(client, "l1")
        # manager.c action_listcommands: "<Action>: <synopsis> (Priv: <authority_to_str>)"
        assert listed["QueueAdd"] == "Add interface to queue. (Priv: agent,all)"
        assert listed["CoreShowChannels"] == "List currently active channels. (Priv: system,reporting,all)"
        assert listed["QueueStatus"] == "Show queue status. (Priv: <none>)"
        assert "PJSIPShowContacts" not in listed and "Originate" not in listed and "Redirect" not in listed
        await client.close()


async def test_a_second_login_is_refused_when_multiple_logins_are_not_allowed(tmp_path: Path) -> None:
    conf = manager_conf(tmp_path, "read = all", "write = all", "allowmultiplelogin = no")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        first = await logged_in(sim)
        second = RawAmiClient()
        await second.connect(sim.ami_port, action_id="login-2")
        await second.wait_for(b"ActionID: login-2\r\n")
        await asyncio.wait_for(second.closed.wait(), 5)
        # manager.c process_message: "Login Already In Use", then the session ends
        assert reply_to(second, "login-2") == {"Response": "Error", "ActionID": "login-2",
                                               "Message": "Login Already In Use"}
        await first.send((("Action", "Ping"), ("ActionID", "p1")))  # the first session is untouched
        assert reply_to(first, "p1")["Ping"] == "Pong"
        await first.close()
        await second.close()


async def test_the_shipped_user_may_send_every_action_the_service_sends(tmp_path: Path) -> None:
    """What the service asks of Asterisk (callcenter/ami/permissions.py) against what the shipped manager.conf grants,
    judged by the simulator's ListCommands with the authorities Asterisk registers: a missing class fails here."""
    from callcenter.ami.permissions import check_permissions, listed_actions

    async with simulator(tmp_path) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "ListCommands"), ("ActionID", "l1")))
        report = check_permissions(listed_actions(reply_to(client, "l1")))
        assert report.complete, report.describe()
        await client.close()


def test_class_lists_are_read_as_manager_c_reads_them() -> None:
    # get_perm matches every segment but the last as a prefix (ast_instring's strncmp over the segment's length)
    assert get_perm("sys,call") == get_perm("system,call")
    assert get_perm("call,sys") == get_perm("call")
    assert get_perm("all") & get_perm("system,agi,security") == get_perm("system,agi,security")
    assert event_category("agent,all") == get_perm("agent")


# == read classes: events ==============================================================================================


async def test_events_outside_the_read_classes_never_reach_the_session(tmp_path: Path) -> None:
    conf = manager_conf(tmp_path, "read = call,agent", "write = all")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        client = await logged_in(sim)
        sim.pbx.register("1001")  # ChallengeSent/SuccessfulAuth (security), PeerStatus, ContactStatus (system),
        #                           DeviceStateChange (call)
        await client.send((("Action", "Setvar"), ("ActionID", "v1"), ("Variable", "CC_X"), ("Value", "1")))
        await client.send((("Action", "QueueAdd"), ("ActionID", "q1"), ("Queue", "sales"),
                           ("Interface", "PJSIP/1002")))
        await client.wait_for(b"Event: QueueMemberAdded")
        names = [m["Event"] for m in messages(client) if "Event" in m]
        # FullyBooted only for a session reading system (action_login); no security, system or dialplan event
        assert "FullyBooted" not in names and "SuccessfulAuth" not in names
        assert not {"PeerStatus", "ContactStatus", "ChallengeSent", "VarSet"} & set(names)
        assert "DeviceStateChange" in names and "QueueMemberAdded" in names
        await client.close()


async def test_the_shipped_read_classes_filter_the_stream(tmp_path: Path) -> None:
    (user,) = [u for name, u in load_manager_conf(SHIPPED_MANAGER_CONF).items() if name == "callcenter"]
    async with simulator(tmp_path) as sim:
        client = await logged_in(sim)
        sim.pbx.register("1001")
        await client.send((("Action", "Ping"), ("ActionID", "p1")))
        events = [m for m in messages(client) if "Event" in m and "Privilege" in m]
        assert events, "the shipped user reads no event at all"
        for event in events:
            category = event_category(event["Privilege"])
            assert user.read & category == category, event
        # the bus raised them all; the session got only those of its classes
        if not user.read & get_perm("security"):
            assert b"Event: SuccessfulAuth" not in client.data
        await client.close()


async def test_events_mask_and_eventfilter_narrow_the_stream_further(tmp_path: Path) -> None:
    conf = manager_conf(tmp_path, "read = all", "write = all", "eventfilter = !Event: DeviceStateChange")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "Events"), ("ActionID", "e1"), ("EventMask", "agent")))
        await client.send((("Action", "Events"), ("ActionID", "e2"), ("EventMask", "")))
        sim.pbx.register("1001")  # system and call events: not in the mask
        await client.send((("Action", "QueueAdd"), ("ActionID", "q1"), ("Queue", "sales"),
                           ("Interface", "PJSIP/1002")))
        await client.wait_for(b"Event: QueueMemberAdded")
        assert reply_to(client, "e1")["Events"] == "On"
        assert reply_to(client, "e2") == {"Response": "Error", "ActionID": "e2", "Message": "Invalid event mask"}
        after_login = [m["Event"] for m in messages(client) if "Event" in m][2:]  # FullyBooted, SuccessfulAuth
        assert after_login == ["QueueMemberAdded"]  # DeviceStateChange: class call, and filtered out by the user
        await client.close()


# == eventfilter (manager.c manager_add_filter / should_send_event) =================================================


def event_text(name: str, *headers: tuple[str, str]) -> str:
    """An event as manager.c queues it (eqe->eventdata): Event, Privilege, then the body, CRLF-ended."""
    lines = [("Event", name), ("Privilege", "call,all"), *headers]
    return "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"


@pytest.mark.parametrize(
    ("criteria", "value", "why"),
    [
        ("eventfilter", "", "Legacy filter with no filter pattern"),
        ("eventfilter", "!", "Legacy filter with no filter pattern"),
        ("eventfilter", "XX[X", "Unable to compile regex filter"),
        ("eventfilter(name(Newchannel", "", "Filter options not formatted correctly"),
        ("eventfilter(action(drop))", "", "'action' option 'drop' is unknown"),
        ("eventfilter(name(Newchannel),method(glob))", "x", "'method' option 'glob' is unknown"),
        ("eventfilter(event(Newchannel))", "", "Filter option 'event(Newchannel' is unknown"),
        ("eventfilter(name(Newchannel),method(regex))", "", "method can't be 'regex' with no filter pattern"),
        ("eventfilter(name(Newchannel))", "x", "method can't be 'none' with a filter pattern"),
        ("eventfilter(action(include))", "", "No name or header option found and no filter pattern"),
    ],
)
def test_eventfilters_asterisk_refuses_are_refused(criteria: str, value: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(FilterError, match=re.escape(why)):
        parse_filter(criteria, value)
    # and a manager.conf holding one loads without it, saying why (Asterisk logs a warning and drops the line)
    (user,) = load_manager_conf(manager_conf(tmp_path, "read = all", f"{criteria} = {value}")).values()
    assert user.filters == () and len(user.filter_errors) == 1 and why in user.filter_errors[0]


def test_advanced_eventfilters_match_as_manager_c_matches() -> None:
    newchannel_local = event_text("Newchannel", ("Channel", "Local/1002@cc-agents-00000001;1"))
    newchannel_pjsip = event_text("Newchannel", ("Channel", "PJSIP/1002-00000001"))
    hangup_local = event_text("Hangup", ("Channel", "Local/1002@cc-agents-00000001;1"))
    by_name = parse_filter("eventfilter(name(Newchannel))", "")
    assert (by_name.exclude, by_name.match_type, by_name.header) == (False, MatchType.NONE, None)
    assert by_name.matches(newchannel_pjsip) and not by_name.matches(hangup_local)
    # the sample's "exclude Newchannel events with a Channel header that starts with Local/"
    local = parse_filter("eventfilter(action(exclude),name(Newchannel),header(Channel),method(starts_with))", "Local/")
    assert local.exclude and local.header == "Channel:"
    assert local.matches(newchannel_local) and not local.matches(newchannel_pjsip) and not local.matches(hangup_local)
    # header values are matched alone (blanks skipped); a regex sees no "Channel: " prefix; empty values never match
    exact = parse_filter("eventfilter(header(Variable:),method(exact))", "CC_PLAN")
    assert exact.matches(event_text("VarSet", ("Variable", "CC_PLAN"), ("Value", "")))
    assert not exact.matches(event_text("VarSet", ("Variable", "CC_PLAN2"), ("Value", "")))
    anchored = parse_filter("eventfilter(header(Value),method(regex))", "^$|^x")
    assert not anchored.matches(event_text("VarSet", ("Variable", "A"), ("Value", "")))
    # the legacy '!' still excludes, action(...) wins over it; legacy regexes see the whole text
    assert parse_filter("eventfilter(action(include),name(Hangup))", "!").exclude is False
    legacy = parse_filter("eventfilter", "!Event: (Newchannel|Hangup).*Channel: Local/")
    assert legacy.exclude and legacy.matches(hangup_local) and not legacy.matches(newchannel_pjsip)
    # include and exclude together: an include must match, then no exclude may
    user = ManagerUser(name="u", secret="", read=ALL, filters=(by_name, local))
    assert user.wants(newchannel_pjsip) and not user.wants(newchannel_local) and not user.wants(hangup_local)


# Events the service types (callcenter.ami.events) that never pass through the event queue: list items written to the
# session as an action's answer (astman_append), never filtered; and two that are not wire names or not used.
LIST_ITEMS = {"QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete", "CoreShowChannel",
              "CoreShowChannelsComplete", "ContactList"}
NOT_FILTERED_IN = {"GlobalVarSet", "AGIExecStart", "AGIExecEnd"}  # a VarSet; class agi, which read leaves out


def shipped_user() -> ManagerUser:
    return load_manager_conf(SHIPPED_MANAGER_CONF)["callcenter"]


def test_the_shipped_eventfilter_lets_through_every_event_the_service_reads() -> None:
    user = shipped_user()
    assert user.filter_errors == ()
    assert {f.exclude for f in user.filters} == {False}, "include filters only: everything else is dropped"
    for name in set(EVENT_CLASSES) - LIST_ITEMS - NOT_FILTERED_IN - {"VarSet", "Newexten", "UserEvent"}:
        assert user.wants(event_text(name, ("Channel", "PJSIP/1002-00000001"))), name
    for variable in {*KEEP_VARIABLES, "CC_ACTION", "CC_PLAN", "CC_FALLBACK_QUEUE"}:
        assert user.wants(event_text("VarSet", ("Variable", variable), ("Value", "x"))), variable
    for application in KEEP_APPLICATIONS:
        assert user.wants(event_text("Newexten", ("Application", application), ("AppData", "x"))), application
    for user_event in {*DIALER_USER_EVENTS, USER_EVENT_AGENT_CONTROL, USER_EVENT_CALLBACK_REQUESTED}:
        assert user.wants(event_text("UserEvent", ("UserEvent", user_event))), user_event


@pytest.mark.parametrize(
    "event",
    [
        event_text("Newexten", ("Application", "Set"), ("AppData", "CC_ACTION=dial")),
        event_text("Newexten", ("Application", "DialPlan"), ("AppData", "")),  # not Dial: the regex is anchored
        event_text("VarSet", ("Variable", "BRIDGEPVTCALLID"), ("Value", "x")),
        event_text("VarSet", ("Variable", "AGISTATUS"), ("Value", "SUCCESS")),
        event_text("VarSet", ("Variable", "LOCAL(ARG1)"), ("Value", "login")),
        event_text("VarSet", ("Variable", "XDIALSTATUS"), ("Value", "x")),
        event_text("UserEvent", ("UserEvent", "SiteOwnEvent")),
        event_text("AGIExecStart", ("Command", "SET VARIABLE CC_PLAN x")),
        event_text("RTCPSent"),
        event_text("Hold"),
        event_text("MusicOnHoldStart"),
        event_text("NewAccountCode"),
        event_text("ExtensionStatus"),
    ],
    ids=lambda text: text.split("\r\n")[0] + "/" + text.split("\r\n")[2],
)
def test_the_shipped_eventfilter_drops_what_the_service_never_reads(event: str) -> None:
    assert not shipped_user().wants(event)
    headers = {k: v.lstrip() for k, _, v in (line.partition(":") for line in event.strip().split("\r\n"))}
    if headers["Event"] not in NOT_FILTERED_IN:
        assert parse_event(headers) is None  # the parser would have dropped it too


def without_eventfilters(path: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "manager-unfiltered.conf"
    copy.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith("eventfilter")))
    return copy


async def _one_routed_call(service: Factory, conf: Path) -> list[dict[str, str]]:
    """An inbound call routed by FastAGI to 1002, answered, 5 s of talk; the events one session received."""
    async def decide(request: AgiRequest) -> RouteDecision:
        return RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=15, reason="owner")

    svc = await service(decide=decide, manager_conf=conf)
    client = RawAmiClient()
    await client.connect(svc.sim.ami_port)
    await client.wait_for(b"Message: Authentication accepted\r\n")
    svc.sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=2.0))
    svc.sim.call(Caller(number="+12125550001", did="8001", talk_s=5.0))
    (call,) = await svc.wait_ended()
    assert call.answered_by == "1002"
    await client.send((("Action", "Ping"), ("ActionID", "end")))
    await client.wait_for(b"ActionID: end")
    await client.close()
    return [m for m in messages(client) if "Event" in m and "Privilege" in m]


async def test_the_shipped_eventfilter_thins_a_call_and_the_service_still_follows_it(
    service: Factory, tmp_path: Path
) -> None:
    unfiltered = await _one_routed_call(service, without_eventfilters(SHIPPED_MANAGER_CONF, tmp_path))
    filtered = await _one_routed_call(service, SHIPPED_MANAGER_CONF)
    # what the parser would have typed is the same on both sessions: nothing the service reads is lost
    typed = [parse_event(e) for e in unfiltered]
    assert [type(e).__name__ for e in typed if e is not None] == [
        type(e).__name__ for e in map(parse_event, filtered) if e is not None]
    assert len(filtered) == len([e for e in typed if e is not None]), "every event on the wire is one we type"
    dropped = Counter(e["Event"] for e in unfiltered) - Counter(e["Event"] for e in filtered)
    assert {"Newexten", "VarSet"} <= set(dropped)
    assert not [e for e in filtered if e["Event"] == "Newexten" and e["Application"] not in KEEP_APPLICATIONS]
    print(f"\nevents per routed call, shipped read classes: {len(unfiltered)} unfiltered, {len(filtered)} with "
          f"the shipped eventfilter; dropped {dict(dropped)}")


# == list actions that answer an error ==============================================================================


async def test_pjsip_show_contacts_without_a_contact_is_an_error(tmp_path: Path) -> None:
    phones = (AgentPhone(extension="1001", registered=False, static_contact=False),)
    async with simulator(tmp_path, phones=phones, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "PJSIPShowContacts"), ("ActionID", "c1")))
        await client.send((("Action", "CoreShowChannels"), ("ActionID", "c2")))
        await client.send((("Action", "QueueStatus"), ("ActionID", "c3"), ("Queue", "sales")))
        await client.wait_for(b"Event: QueueStatusComplete")
        # res_pjsip/pjsip_options.c ami_show_contacts: astman_send_error(s, m, "No Contacts found\n") -- the newline
        # is on the wire before the CRLF; no EventList, no ContactListComplete
        assert b"Response: Error\r\nActionID: c1\r\nMessage: No Contacts found\n\r\n\r\n" in client.data
        assert b"ContactListComplete" not in client.data
        # CoreShowChannels and QueueStatus answer an empty list with their Complete event
        assert b"Event: CoreShowChannelsComplete\r\nActionID: c2\r\nEventList: Complete\r\nListItems: 0\r\n" \
            in client.data
        sim.pbx.register("1001")
        await client.send((("Action", "PJSIPShowContacts"), ("ActionID", "c4")))
        await client.wait_for(b"Event: ContactListComplete")
        assert reply_to(client, "c4")["EventList"] == "start"
        await client.close()


# == a restart and dynamic queue members ===========================================================================


async def _members_after_restart(sim: Simulator) -> list[dict[str, str]]:
    client = await logged_in(sim)
    await client.send((("Action", "QueueAdd"), ("ActionID", "a1"), ("Queue", "sales"), ("Interface", "PJSIP/1002"),
                       ("MemberName", "7"), ("Penalty", "2"), ("Paused", "1"), ("Reason", "lunch")))
    await client.send((("Action", "QueueAdd"), ("ActionID", "a2"), ("Queue", "sales"),
                       ("Interface", "PJSIP/1001"), ("MemberName", "8")))
    await sim.clock.advance(30.0)
    await sim.server.cli("core restart now")
    await client.close()
    again = await logged_in(sim)
    await again.send((("Action", "QueueStatus"), ("ActionID", "s1"), ("Queue", "sales")))
    await again.wait_for(b"Event: QueueStatusComplete")
    members = [m for m in messages(again) if m.get("Event") == "QueueMember"]
    await again.close()
    return members


async def test_a_restart_forgets_dynamic_members_and_pauses_without_persistentmembers(tmp_path: Path) -> None:
    assert read_persistent_members(SHIPPED_QUEUES_CONF) is False  # the shipped queues.conf: persistentmembers = no
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        assert await _members_after_restart(sim) == []


async def test_persistentmembers_brings_members_back_paused_with_their_reason(tmp_path: Path) -> None:
    queues = tmp_path / "queues.conf"
    queues.write_text(SHIPPED_QUEUES_CONF.read_text().replace("persistentmembers = no", "persistentmembers = yes"))
    assert read_persistent_members(queues) is True
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF, queues_conf=queues) as sim:
        members = await _members_after_restart(sim)
        boot = int(sim.pbx.boot_s)
        # app_queue.c reload_queue_members -> add_to_queue(interface, membername, penalty, paused, ..., reason):
        # astdb kept those; create_queue_member starts LoginTime (and LastPause, when paused) at the new boot
        by_location = {m["Location"]: m for m in members}
        assert sorted(by_location) == ["PJSIP/1001", "PJSIP/1002"]
        paused = by_location["PJSIP/1002"]
        assert (paused["Name"], paused["Penalty"], paused["Paused"], paused["PausedReason"]) == ("7", "2", "1", "lunch")
        assert (paused["LoginTime"], paused["LastPause"], paused["CallsTaken"]) == (str(boot), str(boot), "0")
        free = by_location["PJSIP/1001"]
        assert (free["Paused"], free["PausedReason"], free["LastPause"]) == ("0", "", "0")
        # member_add_to_queue publishes each member's pause pseudo-device (DeviceStateList lists it)
        assert (sim.pbx.devices["Queue:sales_pause_PJSIP/1002"], sim.pbx.devices["Queue:sales_pause_PJSIP/1001"]) == (
            "INUSE", "NOT_INUSE")


# == global VarSets on a dialplan reload ============================================================================


def _global_varsets(data: bytes) -> list[list[tuple[str, str]]]:
    return [f for f in frames_of(data) if ("Event", "VarSet") in f and ("Channel", "none") in f]


async def _reload_stream(sim: Simulator, reload: Callable[[RawAmiClient], object]) -> RawAmiClient:
    client = await logged_in(sim)
    await client.wait_for(b"Event: SuccessfulAuth")
    result = reload(client)
    if hasattr(result, "__await__"):
        await result  # type: ignore[misc]
    await client.send((("Action", "Ping"), ("ActionID", "after")))
    return client


async def test_module_reload_of_pbx_config_sets_every_global_again(tmp_path: Path) -> None:
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        file_globals = [(k, v) for k, v in sim.pbx.dialplan.loaded_globals()]
        assert file_globals, "the shipped extensions.conf has [globals]"
        client = await _reload_stream(sim, lambda c: c.send((("Action", "Reload"), ("ActionID", "r1"),
                                                             ("Module", "pbx_config"))))
        varsets = _global_varsets(bytes(client.data))
        # main/stasis_channels.c varset_to_ami without a snapshot: Channel: none, Uniqueid: none, no channel block
        assert [[k for k, _ in f] for f in varsets] == [
            ["Event", "Privilege", "Timestamp", "Channel", "Uniqueid", "Variable", "Value"]] * len(file_globals)
        assert [(dict(f)["Variable"], dict(f)["Value"]) for f in varsets] == file_globals
        assert dict(varsets[0])["Privilege"] == "dialplan,all"
        # the ack "Module Reloaded" (manager.c action_reload); the module's VarSets, then loader.c's Reload event
        names = [dict(f).get("Event") or dict(f).get("Response") for f in frames_of(bytes(client.data))]
        assert names[3:] == ["Success", *["VarSet"] * len(file_globals), "Reload", "Success"]
        assert reply_to(client, "r1")["Message"] == "Module Reloaded"
        await client.close()


async def test_cli_dialplan_reload_sends_the_globals_and_no_reload_event(tmp_path: Path) -> None:
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        client = await _reload_stream(sim, lambda _c: sim.server.cli("dialplan reload"))
        assert len(_global_varsets(bytes(client.data))) == len(sim.pbx.dialplan.loaded_globals())
        assert b"Event: Reload" not in client.data  # captures: module_reload ("dialplan reload -> no AMI event")
        await client.close()


async def test_reload_of_an_unknown_module_is_refused_with_its_reload_event(tmp_path: Path) -> None:
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        client = await _reload_stream(sim, lambda c: c.send((("Action", "Reload"), ("ActionID", "r1"),
                                                             ("Module", "res_nothing.so"))))
        assert reply_to(client, "r1") == {"Response": "Error", "ActionID": "r1", "Message": "No such module"}
        reload = next(dict(f) for f in frames_of(bytes(client.data)) if ("Event", "Reload") in f)
        assert (reload["Module"], reload["Status"]) == ("res_nothing.so", "2")  # AST_MODULE_RELOAD_NOT_FOUND
        assert _global_varsets(bytes(client.data)) == []
        await client.close()


async def test_a_global_setvar_is_announced_and_a_restart_forgets_it(tmp_path: Path) -> None:
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        client = await logged_in(sim)
        await client.send((("Action", "Setvar"), ("ActionID", "v1"), ("Variable", "CC_NOTE"),
                           ("Value", 'say "hi"')))
        await client.wait_for(b"Variable: CC_NOTE")
        (varset,) = [dict(f) for f in _global_varsets(bytes(client.data))]
        assert varset["Value"] == 'say \\"hi\\"'  # ast_escape_c_alloc
        await client.close()
        await sim.server.cli("core restart now")
        assert "CC_NOTE" not in sim.pbx.dialplan.globals


@pytest.mark.parametrize("command", ["module reload", "module reload pbx_config.so"])
async def test_the_capture_dialplan_without_globals_reloads_silently(traces_dir: Path, tmp_path: Path,
                                                                     command: str) -> None:
    """The capture PBX's [globals] is empty: module reload sent only Reload (captures: module_reload)."""
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF,
                         dialplan=traces_dir / "config" / "extensions.conf") as sim:
        client = await _reload_stream(sim, lambda _c: sim.server.cli(command))
        events = [dict(f)["Event"] for f in frames_of(bytes(client.data)) if ("Privilege", "system,all") in f]
        assert events[-1] == "Reload" and _global_varsets(bytes(client.data)) == []
        await client.close()


# == argument checks made before anything happens ==================================================================

REFUSED = [
    # main/manager.c action_originate, in its order
    ((("Channel", ""),), "Originate", "Channel not specified"),
    ((("Channel", "PJSIP/1002"), ("Context", "cc-agents"), ("Exten", "1002"), ("Priority", "nolabel")), "Originate",
     "Invalid priority"),
    ((("Channel", "PJSIP/1002"), ("Application", "Wait"), ("Timeout", "soon")), "Originate", "Invalid timeout"),
    ((("Channel", "1002"), ("Application", "Wait")), "Originate", "Invalid channel"),
    ((("Channel", "PJSIP/1002"), ("Application", "System"), ("Data", "rm -rf /")), "Originate",
     "Originate Access Forbidden: app or data blacklisted"),
    ((("Channel", "PJSIP/1002"), ("Application", "Wait"), ("Data", "${SHELL(id)}")), "Originate",
     "Originate Access Forbidden: app or data blacklisted"),
    ((("Channel", "PJSIP/1002"), ("Context", "cc-agents"), ("Exten", "nosuch"), ("Priority", "1")), "Originate",
     "Extension does not exist."),
    ((("Channel", "PJSIP/1002"), ("Context", "cc-agents"), ("Exten", "1002")), "Originate",
     "Originate with 'Exten' requires 'Context' and 'Priority'"),
    # action_redirect
    ((("Channel", "PJSIP/1002-00000001"), ("Context", "cc-agents"), ("Exten", "1002")), "Redirect",
     "Priority not specified"),
    ((("Channel", "PJSIP/1002-00000001"), ("Context", "cc-agents"), ("Exten", "1002"), ("Priority", "1")), "Redirect",
     "Channel does not exist: PJSIP/1002-00000001"),
    # ast_manager_hangup_helper, action_setvar, action_getvar
    ((), "Hangup", "No channel specified"),
    ((("Value", "1"),), "Setvar", "No variable specified"),
    ((), "Getvar", "No variable specified"),
    # apps/app_queue.c manager_add/remove/pause_queue_member
    ((("Interface", "PJSIP/1002"),), "QueueAdd", "'Queue' not specified."),
    ((("Queue", "sales"),), "QueueAdd", "'Interface' not specified."),
    ((("Queue", "sales"),), "QueueRemove", "Need 'Queue' and 'Interface' parameters."),
    ((("Interface", "PJSIP/1002"),), "QueuePause", "Need 'Interface' and 'Paused' parameters."),
]


@pytest.mark.parametrize(("headers", "action", "message"), REFUSED, ids=[m for _, _, m in REFUSED])
async def test_actions_with_missing_or_bad_arguments_get_asterisks_words(
        tmp_path: Path, headers: tuple[tuple[str, str], ...], action: str, message: str) -> None:
    # write = all but system: the blacklisted Originate applications and data need system
    conf = manager_conf(tmp_path, "read = all",
                        "write = call,originate,agent,reporting,dialplan,user,config,command,agi")
    async with simulator(tmp_path, manager_conf=conf) as sim:
        client = await logged_in(sim)
        await client.send((("Action", action), ("ActionID", "x1"), *headers))
        assert reply_to(client, "x1") == {"Response": "Error", "ActionID": "x1", "Message": message}
        assert sim.pbx.stats.originates == 0
        await client.close()


async def test_a_redirect_to_a_missing_extension_is_accepted_and_the_channel_ends_there(tmp_path: Path) -> None:
    """action_redirect does not check the target (async_goto); the channel finds no extension and hangs up."""
    async with simulator(tmp_path, manager_conf=CAPTURE_MANAGER_CONF) as sim:
        sim.set_agi_address("127.0.0.1", 9)  # no FastAGI: the caller waits in the fallback queue
        sim.call(Caller(number="+12125550100", did="8001", talk_s=60))
        await sim.clock.advance(3.0)
        (trunk,) = [ch.name for ch in sim.pbx.live_channels() if ch.endpoint == "trunk"]
        client = await logged_in(sim)
        await client.send((("Action", "Redirect"), ("ActionID", "r1"), ("Channel", trunk), ("Context", "cc-agents"),
                           ("Exten", "nosuch"), ("Priority", "1")))
        assert reply_to(client, "r1")["Message"] == "Redirect successful"
        await sim.clock.advance(3.0)
        assert sim.pbx.live_channels() == []
        await client.close()
