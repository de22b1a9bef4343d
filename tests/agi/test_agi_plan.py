"""CC_PLAN: a FastAGI answer packed into one variable; bad values are refused naming the field."""

from __future__ import annotations

import pytest

from callcenter.ami.agi import RouteDecision
from callcenter.ami.agi_plan import MAX_PLAN_CHARS, PlanError, decode_plan, encode_plan, plan_command
from callcenter.ami.channel_vars import PLAN_DELIMITER, PLAN_FIELDS, ChannelVar, DialplanFunction, PlanTag
from callcenter.routing.caller_name import display_safe
from tests.agi.agi_peer import asterisk_parse_args

OUTBOUND = {
    ChannelVar.ACTION: "dial",
    ChannelVar.DIAL_NUMBER: "+12125550101",
    ChannelVar.PRESENTED_NUM: "",
    ChannelVar.REASON: "outbound",
}


def test_a_plan_is_its_tag_then_every_field_in_order() -> None:
    assert encode_plan(PlanTag.OUTBOUND, OUTBOUND) == "outbound1|dial|+12125550101||outbound"
    assert decode_plan("outbound1|dial|+12125550101||outbound") == (PlanTag.OUTBOUND, OUTBOUND)


def test_every_plan_round_trips_through_agi_quoting() -> None:
    for tag, fields in PLAN_FIELDS.items():
        values = {name: f"v{i}, (x) \"q\" \\ $[1]" for i, name in enumerate(fields)}
        argv = asterisk_parse_args(plan_command(tag, values))
        assert argv[:3] == ["SET", "VARIABLE", "CC_PLAN"]
        assert decode_plan(argv[3]) == (tag, values)


@pytest.mark.parametrize("bad", ["a|b", "|", "end|"])
def test_a_value_holding_the_delimiter_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(PlanError, match=r"outbound1 plan field CC_REASON: .* contains the plan delimiter '\|'"):
        encode_plan(PlanTag.OUTBOUND, {**OUTBOUND, ChannelVar.REASON: bad})


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_a_line_break_or_nul_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(PlanError, match="field CC_DIAL_NUMBER: .* line break or NUL"):
        encode_plan(PlanTag.OUTBOUND, {**OUTBOUND, ChannelVar.DIAL_NUMBER: bad})


def test_missing_unknown_and_non_string_fields_are_refused() -> None:
    with pytest.raises(PlanError, match=r"missing fields \['CC_REASON'\], unknown fields \[\]"):
        encode_plan(PlanTag.OUTBOUND, {k: v for k, v in OUTBOUND.items() if k is not ChannelVar.REASON})
    with pytest.raises(PlanError, match=r"unknown fields \['CC_AGENT'\]"):
        encode_plan(PlanTag.OUTBOUND, {**OUTBOUND, ChannelVar.AGENT: "1001"})
    with pytest.raises(PlanError, match="field CC_DIAL_NUMBER: 5 is not a string"):
        encode_plan(PlanTag.OUTBOUND, {**OUTBOUND, ChannelVar.DIAL_NUMBER: 5})  # type: ignore[dict-item]


def test_a_plan_too_long_for_one_agi_command_is_refused() -> None:
    with pytest.raises(PlanError, match=f"more than one AGI command takes \\({MAX_PLAN_CHARS}\\)"):
        encode_plan(PlanTag.OUTBOUND, {**OUTBOUND, ChannelVar.DIAL_NUMBER: "1" * MAX_PLAN_CHARS})


@pytest.mark.parametrize(
    ("plan", "why"),
    [
        ("", "plan tag '' is not one of"),
        ("inbound0|queue", "plan tag 'inbound0'"),
        ("outbound1|dial|+1", "outbound1 plan has 3 fields, the dialplan expects 5"),
        ("outbound1|dial|+1|x|y|z", "has 6 fields"),
    ],
)
def test_decoding_refuses_what_the_dialplan_would_not_unpack(plan: str, why: str) -> None:
    with pytest.raises(PlanError, match=why):
        decode_plan(plan)


def test_route_decisions_refuse_the_delimiter_in_every_packed_value() -> None:
    with pytest.raises(ValueError, match="dial target 'PJSIP/1|2'"):
        RouteDecision.for_dial(["PJSIP/1|2"], ring_timeout_s=20, reason="owner")
    with pytest.raises(ValueError, match="dial options"):
        RouteDecision.for_dial(["PJSIP/1"], ring_timeout_s=20, reason="owner", dial_options="m|x")
    with pytest.raises(ValueError, match="reason must match"):
        RouteDecision.for_queue("support", reason="a|b")
    with pytest.raises(ValueError, match=r"caller name 'Doe \| Sons' .* '\|'"):
        RouteDecision(action=RouteDecision.for_hangup(reason="x").action, reason="x", caller_name="Doe | Sons")


def test_caller_names_lose_the_delimiter_when_made_display_safe() -> None:
    name = display_safe("Doe | Sons, Ltd (VIP)")
    assert PLAN_DELIMITER not in name
    assert name == "Doe Sons, Ltd (VIP)"
    decision = RouteDecision(action=RouteDecision.for_hangup(reason="x").action, reason="x", caller_name=name)
    _, fields = decode_plan(asterisk_parse_args(decision.plan_command(default_queue="q", default_queue_timeout_s=1))[3])
    assert fields[DialplanFunction.CALLER_NAME] == "Doe Sons, Ltd (VIP)"
