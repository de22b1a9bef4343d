"""[cc-features] / [cc-feature] against the names the service uses (channel_vars): the digits, the AGI arguments,
the answer variables and the BLF hints."""

from __future__ import annotations

import re

from callcenter.ami.channel_vars import (
    AGENT_DEVICE_PREFIX,
    AGI_ROUTE_FEATURE,
    BLF_HINT_PREFIX,
    FEATURE_DIGITS,
    ChannelVar,
    Context,
    DialplanGlobal,
    FeatureAgiArg,
    FeatureCode,
    FeatureResult,
)
from tests.dialplans.test_dialplans import CC_CONTEXTS, DIALPLANS, EXTENSIONS, split_app_args


def _context(name: str) -> str:
    body = CC_CONTEXTS.read_text().split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    return "\n".join(line.split(";", 1)[0] for line in body.splitlines())


def test_every_feature_code_is_dialled_as_channel_vars_spells_it() -> None:
    body = _context("cc-features")
    for code, digits in FEATURE_DIGITS.items():
        assert f"exten => {digits},1,Gosub(cc-feature,s,1({code},))" in body, code
    # the pause reason code rides in the digits after *46
    assert f"exten => _{FEATURE_DIGITS[FeatureCode.PAUSE]}.,1,Gosub(cc-feature,s,1({FeatureCode.PAUSE},${{EXTEN:3}}))" in body
    assert len(FEATURE_DIGITS[FeatureCode.PAUSE]) == 3


def test_the_feature_agi_call_passes_code_argument_and_endpoint() -> None:
    body = _context("cc-feature")
    [data] = re.findall(r"AGI\((.*)\)\s*$", body, re.M)
    url, *args = split_app_args(data)
    assert url == f"agi://${{{DialplanGlobal.AGI_HOSTPORT}}}/{AGI_ROUTE_FEATURE}"
    assert args[FeatureAgiArg.CODE - 1] == "${ARG1}"
    assert args[FeatureAgiArg.ARG - 1] == "${ARG2}"
    assert args[FeatureAgiArg.ENDPOINT - 1] == "${CHANNEL(endpoint)}"
    assert len(args) == max(FeatureAgiArg)
    # the result is cleared before the AGI call and an empty one (service unreachable) plays the error prompt
    assert body.index(f"Set({ChannelVar.FEATURE_RESULT}=)") < body.index("AGI(")
    assert f'GotoIf($["${{{ChannelVar.FEATURE_RESULT}}}" = ""]?failed)' in body
    assert f"Playback(${{{ChannelVar.FEATURE_PROMPT}}})" in body


def test_callback_goes_out_as_a_click_to_call_does() -> None:
    body = _context("cc-features")
    assert (f'"${{{ChannelVar.FEATURE_RESULT}}}" = "{FeatureResult.OK}" & "${{{ChannelVar.FEATURE_DIAL}}}" != ""]'
            f"?{Context.DIAL_CUSTOMER},${{{ChannelVar.FEATURE_DIAL}}},1)") in body


def test_blf_hints_cover_the_shipped_agents() -> None:
    """Every sample agent of pjsip.conf has a hint on its custom device state, and the key dials the agent."""
    agents = re.findall(r"^\[(\d+)\]\(agent-endpoint\)", (DIALPLANS / "pjsip.conf").read_text(), re.M)
    body = _context("cc-features")
    assert agents
    for agent in agents:
        assert f"exten => {BLF_HINT_PREFIX}{agent},hint,{AGENT_DEVICE_PREFIX}{agent}" in body
        assert f"exten => {BLF_HINT_PREFIX}{agent},1,Goto(cc-agents,{agent},1)" in body


def test_the_phones_context_includes_the_feature_codes() -> None:
    internal = EXTENSIONS.read_text().split("[from-internal]", 1)[1].split("\n[", 1)[0]
    assert "include => cc-features" in internal
