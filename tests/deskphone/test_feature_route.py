"""The feature route's answers to input it cannot act on, without Asterisk: a phone of no agent, an unknown feature
word, a malformed endpoint, bad reason-code settings. Nothing may be touched (the runtime here has no AMI at all)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from callcenter.ami.channel_vars import FeatureAgiArg, FeaturePrompt, FeatureResult
from callcenter.config import ConfigError, Settings
from callcenter.deskphone.features import PhoneFeatures, parse_pause_reasons
from callcenter.routing.directory import AgentInfo, StaticDirectory


def _features() -> PhoneFeatures:
    def no_ami() -> None:
        raise AssertionError("a refused code must not reach Asterisk")

    routing = SimpleNamespace(directory=StaticDirectory([AgentInfo(agent="1002", team="Sales", user_id=1)]),
                              agent_control=no_ami)
    return PhoneFeatures(routing=routing, live=None, db=None, pause_reasons={"1": "lunch"})


def _headers(code: str, arg: str, endpoint: str) -> dict[str, str]:
    return {f"agi_arg_{FeatureAgiArg.CODE}": code, f"agi_arg_{FeatureAgiArg.ARG}": arg,
            f"agi_arg_{FeatureAgiArg.ENDPOINT}": endpoint}


@pytest.mark.parametrize("endpoint", ["1099", "", "10 02", "1002;x", "x" * 40])
async def test_a_phone_of_no_agent_is_refused(endpoint: str) -> None:
    answer = await _features().answer(_headers("pause", "1", endpoint))
    assert (answer.agent, answer.result, answer.prompt) == (None, FeatureResult.REFUSED, FeaturePrompt.NO_AGENT)


async def test_an_unknown_feature_word_is_refused() -> None:
    answer = await _features().answer(_headers("selfdestruct", "", "1002"))
    assert (answer.result, answer.prompt) == (FeatureResult.REFUSED, FeaturePrompt.REFUSED)
    assert "unknown feature" in answer.why


@pytest.mark.parametrize("code", ["9", "12345", "1#", "*"])
async def test_an_unknown_reason_code_is_refused_before_anything_is_sent(code: str) -> None:
    answer = await _features().answer(_headers("pause", code, "1002"))
    assert (answer.agent, answer.result, answer.prompt) == ("1002", FeatureResult.REFUSED, FeaturePrompt.REFUSED)


@pytest.mark.parametrize("reasons, message", [
    ({"x": "lunch"}, "must be 1-4 digits"),
    ({"12345": "lunch"}, "must be 1-4 digits"),
    ({"1": "  "}, "1-80 characters"),
    ({"1": "wrap-up"}, "reserved"),
])
def test_bad_reason_code_settings_are_refused_naming_the_entry(reasons: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pause_reasons(reasons)
    with pytest.raises((ValueError, ConfigError)):
        Settings(deskphone={"pause_reasons": reasons})


def test_reason_texts_are_kept_on_one_line() -> None:
    assert parse_pause_reasons({"2": "team\r\ntraining"}) == {"2": "team training"}
