"""The caller's name on the agent's display: set by the route answer as CALLERID(name), from the CRM lookup routing
already makes, within the same budget; nothing on a miss or a lookup over budget; only display-safe characters.

The FastAGI side is real (FastAgiServer on a socket, tests.agi.agi_peer playing Asterisk), as in test_service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callcenter.ami.agi import FastAgiServer, RouteDecision
from callcenter.ami.channel_vars import CcAction, ChannelVar, DialplanFunction
from callcenter.events import AgentState, InProcessBus
from callcenter.routing.caller_name import CallerNameFormat, Charset, display_safe, format_caller_name
from callcenter.routing.crm import CrmMatch
from callcenter.routing.follower import StoreFollower
from callcenter.routing.service import RoutingService
from callcenter.routing.settings import RoutingSettings
from callcenter.routing.state import MemoryRoutingStore
from tests.agi.agi_peer import parse_set_variables, play_asterisk
from tests.routing.test_service import CUSTOMER, DIRECTORY, FAIL_OPEN_QUEUE, MONDAY_10, RULES, Clock, FakeCrm, Rig

NAME = str(DialplanFunction.CALLER_NAME)
LEAD_CALLER = "+12125550177"
VIP_CALLER = "+12125550188"
# the CRM gets 100 ms of it: a name that waited longer than the budget would turn the answer into the fail-open one
FASTAGI_BUDGET_MS = 1_000


# -- the display-safe set ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ascii_", "latin1"),
    [
        ("Jürgen Müller", "Jurgen Muller", "Jürgen Müller"),
        ('Bob "the boss" O\\Neil', "Bob the boss ONeil", "Bob the boss ONeil"),
        ("Eve <eve@x>\r\nSET VARIABLE CC_ACTION hangup", "Eve eve@x SET VARIABLE CC_", "Eve eve@x SET VARIABLE CC_"),
        ("王芳", "", ""),
        ("Zoë\u200b Ltd\t\t(GmbH)", "Zoe Ltd (GmbH)", "Zoë Ltd (GmbH)"),
        ("Łukasz Świątek", "Lukasz Swiatek", "Lukasz Swiatek"),  # outside Latin-1: folded; Ł has no decomposition
        ("Ørsted Straße", "Orsted Strasse", "Ørsted Straße"),
    ],
)
def test_only_display_safe_characters_reach_the_phone(raw: str, ascii_: str, latin1: str) -> None:
    assert display_safe(raw, max_chars=26) == ascii_
    assert display_safe(raw, charset=Charset.LATIN1, max_chars=26) == latin1


def test_names_are_cut_for_small_displays_and_marks_come_first() -> None:
    fmt = CallerNameFormat(max_chars=16)
    assert format_caller_name(fmt, contact="Alexandra Richardson", company="Acme Industries") == "Alexandra Richar"
    assert format_caller_name(fmt, contact="Ann Lee", vip=True, open_callback=True) == "VIP Ann Lee"
    assert format_caller_name(fmt, lead="Roof repair", open_callback=True) == "CB Roof repair"
    assert format_caller_name(CallerNameFormat(), company="Acme") == "Acme"
    assert format_caller_name(CallerNameFormat(template="{company}: {contact}"), contact="Ann", company="Acme") == (
        "Acme: Ann"
    )


def test_nothing_to_show_is_no_name() -> None:
    assert format_caller_name(CallerNameFormat()) is None
    assert format_caller_name(CallerNameFormat(), contact="王芳", vip=True) is None  # a bare "VIP" says nothing
    assert format_caller_name(CallerNameFormat(enabled=False), contact="Ann") is None


def test_a_bad_format_setting_names_itself() -> None:
    with pytest.raises(ValueError, match=r"caller_name[\s\S]*\['phone'\]"):
        RoutingSettings.model_validate({"caller_name": {"format": "{mark}{phone}"}})
    with pytest.raises(ValueError, match="max_chars"):
        RoutingSettings.model_validate({"caller_name": {"max_chars": 0}})


def test_a_name_that_is_not_display_safe_cannot_be_answered() -> None:
    for bad in ('a "quoted" name', "line\nbreak", "x" * 81, "<sip:x>", ""):
        with pytest.raises(ValueError, match="caller name"):
            RouteDecision(action=CcAction.QUEUE, reason="r", queue="support", caller_name=bad)


# -- in the route answer ---------------------------------------------------------------------------------------------


async def ask(rig: Rig, caller: str) -> list[tuple[str, str]]:
    lines = [
        "agi_network: yes", "agi_network_script: inbound", "agi_request: agi://127.0.0.1:4573/inbound",
        "agi_channel: PJSIP/trunk-00000002", "agi_language: en", "agi_type: PJSIP", "agi_uniqueid: 1795390509.2",
        "agi_version: 20.20.1", f"agi_callerid: {caller}", "agi_calleridname: Customer", "agi_dnid: 8002",
        "agi_rdnis: unknown", "agi_context: cc-inbound", "agi_extension: 8002", "agi_priority: 8",
        "agi_arg_1: 1", "agi_arg_2: NONE", "agi_arg_3: 1795390509.2",
    ]
    result = await play_asterisk(rig.server.port, "".join(f"{x}\n" for x in lines).encode() + b"\n")
    assert result.closed_by_server
    return parse_set_variables(result.commands)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = Clock(MONDAY_10)
    crm = FakeCrm({
        CUSTOMER: CrmMatch(entity="deal", record_id=42, e164=CUSTOMER, responsible_user_id=7,
                           contact_name="Jürgen \"JJ\" Müller", company_name="Acme Industries"),
        LEAD_CALLER: CrmMatch(entity="lead", record_id=5, e164=LEAD_CALLER, lead_title="Roof repair",
                              open_callback=True),
        VIP_CALLER: CrmMatch(entity="contact", record_id=6, e164=VIP_CALLER, contact_name="Ann Lee", vip=True),
    })
    store = MemoryRoutingStore()
    bus = InProcessBus()
    follower = StoreFollower(bus=bus, store=store)
    follower.start()
    service = RoutingService(rules=RULES, store=store, directory=DIRECTORY, lookup=crm, clock=clock,
                             crm_budget_ms=100, caller_name=CallerNameFormat(max_chars=24))
    server = FastAgiServer(host="127.0.0.1", port=0, default_queue=FAIL_OPEN_QUEUE, queue_timeout_s=90,
                           time_budget_ms=FASTAGI_BUDGET_MS, decide=service.decide)
    await server.start()
    rig = Rig(store, bus, follower, service, server, clock, crm)
    for agent in ("1002", "1003", "1004"):
        await rig.state(agent, AgentState.AVAILABLE, MONDAY_10 - 600)
    try:
        yield rig
    finally:
        await server.stop()
        await service.aclose()
        await follower.stop()


async def test_a_known_caller_is_named_before_the_action(rig: Rig) -> None:
    answer = await ask(rig, CUSTOMER)
    assert dict(answer)[NAME] == "Jurgen JJ Muller, Acme I"
    # in the same CC_PLAN as the action: the dialplan unpacks both or neither
    assert dict(answer)[ChannelVar.ACTION] == "dial"
    assert rig.crm.asked == [CUSTOMER]  # one lookup serves routing and the name
    assert rig.service.decisions.for_call("1795390509.2")[0].caller_name == "Jurgen JJ Muller, Acme I"


async def test_marks_for_an_open_callback_and_a_vip(rig: Rig) -> None:
    assert dict(await ask(rig, LEAD_CALLER))[NAME] == "CB Roof repair"
    assert dict(await ask(rig, VIP_CALLER))[NAME] == "VIP Ann Lee"


async def test_an_unknown_caller_keeps_their_own_name(rig: Rig) -> None:
    answer = await ask(rig, "+12125550999")
    assert NAME not in dict(answer)
    assert dict(answer)[ChannelVar.ACTION] == "dial"


async def test_a_crm_lookup_over_budget_gives_no_name_and_no_delay(rig: Rig) -> None:
    rig.crm.gate = asyncio.Event()  # the CRM does not answer during this call
    answer = dict(await ask(rig, CUSTOMER))
    assert NAME not in answer
    # routed by the team's strategy without the CRM facts (not the owner, not the fail-open queue of a FastAGI
    # timeout): the name never held the answer beyond the CRM budget
    assert (answer[ChannelVar.ACTION], answer[ChannelVar.REASON]) == ("dial", "least-loaded")
    assert rig.server.counters.decider_timeouts == 0
    rig.crm.gate.set()
    # the lookup went on and filled the cache: the next call from the number is named
    assert rig.service.crm_cache is not None
    await asyncio.wait_for(rig.service.crm_cache.lookup_task(CUSTOMER), 5)
    assert dict(await ask(rig, CUSTOMER))[NAME].startswith("Jurgen")
