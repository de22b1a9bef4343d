"""The dialplan reader and the ${...}/$[...] substitution the simulated applications see."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.pbxsim.dialplan import Dialplan, DialplanError, check_condition, evaluate_expression, split_args, substitute
from callcenter.pbxsim.simulator import DIALPLANS


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('"" = ""', "1"),
        ('"NOANSWER" = ""', "0"),
        ('"dial" = "dial"', "1"),
        ('"x" != ""', "1"),
        ("1 + 1", "2"),
        ("2 < 3", "1"),
        ("3 < 3", "0"),
        ("10 < 9", "0"),  # numeric, not string comparison
        ('"8001" = "8050"', "0"),
        ("1 & 0", "0"),
        ("0 | 7", "7"),
        ("!0", "1"),
        ("(1 + 2) * 3", "9"),
        ("1 ? yes : no", "yes"),
        ("", ""),
    ],
)
def test_expressions(expression: str, value: str) -> None:
    assert evaluate_expression(expression) == value


@pytest.mark.parametrize(("text", "truth"), [("", False), ("0", False), ("0.0", False), ("1", True), ("-1", True),
                                             ("abc", True), (" ", False)])
def test_conditions(text: str, truth: bool) -> None:
    assert check_condition(text) is truth


def test_substitution_of_variables_functions_and_nested_expressions() -> None:
    values = {"EXTEN": "8001", "DIALSTATUS": "", "CC_ATTEMPT": "1", "CC_MAX": "3"}

    def call(name: str, arg: str) -> str:
        assert name == "IF"
        cond, _, rest = arg.partition("?")
        yes, _, no = rest.partition(":")
        return yes if check_condition(cond) else no

    sub = lambda text: substitute(text, values.get, call)  # noqa: E731
    assert sub('${IF($["${DIALSTATUS}" = ""]?NONE:${DIALSTATUS})}') == "NONE"
    values["DIALSTATUS"] = "BUSY"
    assert sub('${IF($["${DIALSTATUS}" = ""]?NONE:${DIALSTATUS})}') == "BUSY"
    assert sub("CC_ATTEMPT=$[${CC_ATTEMPT} + 1]") == "CC_ATTEMPT=2"
    assert sub("$[${CC_ATTEMPT} < ${CC_MAX}]?route") == "1?route"
    assert sub("${EXTEN:1}") == "001"
    assert sub("${UNSET}x") == "x"
    with pytest.raises(DialplanError):
        sub("${EXTEN")


def test_application_arguments_split_like_asterisk() -> None:
    assert split_args("PJSIP/1002&PJSIP/1003,20,t") == ["PJSIP/1002&PJSIP/1003", "20", "t"]
    assert split_args("x.wav,r(a,b)t(c)") == ["x.wav", "r(a,b)t(c)"]
    assert split_args('CcCallbackRequested,DID: 8001,Reason: "a,b"') == ["CcCallbackRequested", "DID: 8001",
                                                                          'Reason: "a,b"']


def test_project_dialplan_is_read_with_includes_globals_and_labels() -> None:
    plan = Dialplan.load(DIALPLANS / "extensions.conf")
    assert plan.globals["CC_MAX_ATTEMPTS"] == "3"
    assert plan.find("from-trunk", "8001") is not None and plan.find("from-trunk", "9000") is None
    assert plan.find("cc-inbound", "8001") is plan.find("cc-inbound", "1234567")  # _X.
    route = plan.label("cc-inbound", "8001", "route")
    agi = plan.priority("cc-inbound", "8001", route + 2)
    assert agi is not None and agi.app == "AGI" and "${CHANNEL(linkedid)}" in agi.data
    assert plan.priority("cc-record", "s", 1).app == "GotoIf"
    assert plan.find("cc-agents", "1003").pattern == "_10XX"


def test_capture_dialplan_prefers_the_specific_pattern(traces_dir: Path) -> None:
    plan = Dialplan.load(traces_dir / "config" / "extensions.conf")
    # [from-trunk] is declared twice; _80XX (added by the second block) beats _X. for a contact-center DID
    assert plan.find("from-trunk", "8001").pattern == "_80XX"
    assert plan.find("from-trunk", "7000").pattern == "7000"
    assert plan.find("from-trunk", "5551234").pattern == "_X."
    assert plan.priority("cc-inbound", "8001", 8).app == "AGI"  # the captures' agi_priority: 8


def test_unreadable_dialplans_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "extensions.conf"
    bad.write_text("[ctx]\nexten => 100,1,Dial(PJSIP/100\n")
    with pytest.raises(DialplanError, match="extensions.conf:2"):
        Dialplan.load(bad)
    bad.write_text("[ctx]\nsame => n,NoOp()\n")
    with pytest.raises(DialplanError, match="same"):
        Dialplan.load(bad)
    with pytest.raises(DialplanError, match="cannot read"):
        Dialplan.load(tmp_path / "missing.conf")
