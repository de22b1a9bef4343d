"""The supervisor's listen / whisper / barge Originate: exact AMI headers per mode, and refused values."""

from __future__ import annotations

import pytest

from callcenter.ami import actions
from callcenter.ami.channel_vars import OriginateVar, SpyMode


@pytest.mark.parametrize(
    ("mode", "options", "label"),
    [(SpyMode.LISTEN, "qESu", "Listen"), (SpyMode.WHISPER, "qESuw", "Whisper"), (SpyMode.BARGE, "qESuB", "Barge")],
)
def test_chanspy_originate_headers(mode: SpyMode, options: str, label: str) -> None:
    action = actions.chanspy(
        supervisor="1001", spied_channel="PJSIP/1002-0000000a", agent="1002", mode=mode, action_id="spy-1"
    )
    assert action == {
        "Action": "Originate",
        "ActionID": "spy-1",
        "Channel": "PJSIP/1001",
        "Application": "ChanSpy",
        "Data": f"PJSIP/1002-0000000a,{options}",
        "CallerID": f'"{label} 1002" <1002>',
        "Timeout": "20000",
        "Async": "true",
        "Variable": [f"{OriginateVar.SPY}={mode.value}"],
    }


def test_every_mode_spies_on_one_exact_channel_quietly_and_ends_with_it() -> None:
    for mode, options in actions.CHANSPY_OPTIONS.items():
        # u: the exact channel, q: no beep/name, E+S: the supervisor's phone hangs up when the agent's leg is gone
        assert set("quES") <= set(options), mode
        assert not set(options) & set("bdXxcWo"), mode
    assert set(actions.CHANSPY_OPTIONS) == set(SpyMode)
    assert "w" in actions.CHANSPY_OPTIONS[SpyMode.WHISPER] and "B" not in actions.CHANSPY_OPTIONS[SpyMode.WHISPER]
    assert "B" in actions.CHANSPY_OPTIONS[SpyMode.BARGE] and "w" not in actions.CHANSPY_OPTIONS[SpyMode.BARGE]
    assert not set("wB") & set(actions.CHANSPY_OPTIONS[SpyMode.LISTEN])


def test_mode_given_as_its_string_and_a_timeout() -> None:
    action = actions.chanspy(supervisor="1001", spied_channel="1795390491.3", agent="1002", mode="whisper",  # type: ignore[arg-type]
                             timeout_ms=5_000)
    assert (action["Data"], action["Timeout"], action["Variable"]) == ("1795390491.3,qESuw", "5000", ["CC_SPY=whisper"])
    assert action["ActionID"]


@pytest.mark.parametrize(
    "kw",
    [
        {"supervisor": "1001/x"},
        {"supervisor": ""},
        {"supervisor": "10\r\n01"},
        {"agent": '1002" <1'},
        {"spied_channel": "PJSIP/1002-0000000a,qB"},  # would add options
        {"spied_channel": "PJSIP/1002 -1"},
        {"spied_channel": ""},
        {"mode": "eavesdrop"},
        {"timeout_ms": 0},
    ],
)
def test_bad_values_are_refused(kw: dict) -> None:
    args = {"supervisor": "1001", "spied_channel": "PJSIP/1002-0000000a", "agent": "1002", "mode": SpyMode.LISTEN, **kw}
    with pytest.raises(ValueError):
        actions.chanspy(**args)
