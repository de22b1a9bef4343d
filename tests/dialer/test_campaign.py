"""A campaign definition from JSON: the defaults it writes out, the rules it gives may_dial, and bad input refused with
the path of the field at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callcenter.dialer.campaign import CampaignDefinition, parse_campaign
from callcenter.dialer.compliance import AfterLast, ConsentRule
from callcenter.dialer.outcomes import AttemptOutcome, CampaignMode
from callcenter.dialer.windows import DEFAULT_WINDOWS, Hours
from crm_core.errors import Invalid

GOOD: dict[str, Any] = {
    "name": "Overdue invoices",
    "saved_report_id": 12,
    "team_id": 3,
    "caller_id": "+442079460000",
    "mode": "predictive",
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def test_minimal_definition_gets_the_safe_defaults_written_out() -> None:
    campaign = parse_campaign(GOOD)
    assert campaign.mode is CampaignMode.PREDICTIVE and campaign.priority == 5
    rules = campaign.rules()
    assert rules.windows == DEFAULT_WINDOWS
    assert rules.law.ring_s == 25 and rules.law.redial_after_abandon_s == 72 * 3600
    assert rules.law.abandon.cap_pct == 3.0 and rules.law.abandon.window_s == 86_400
    assert rules.law.consent is ConsentRule.GRANTED
    assert rules.retry.rules[AttemptOutcome.NO_ANSWER].max_attempts == 4
    stored = campaign.to_json()
    assert stored["law"]["abandon"]["amd_false_positive_rate"] == 0.1 and stored["windows"]["sun"] == []
    # What is stored reads back to the same definition (also from text).
    assert parse_campaign(stored) == campaign
    assert parse_campaign(json.dumps(stored)) == campaign


def test_everything_configurable() -> None:
    campaign = parse_campaign(with_(
        mode="progressive",
        windows={"mon": [{"start": "08:30", "end": "12:00"}, {"start": "13:00", "end": "19:00"}],
                 "sun": [{"start": "12:00", "end": "16:00"}]},
        fallback_zone="Europe/London",
        retry={"no_answer": {"delay_s": 3600, "max_attempts": 2}, "busy": None, "max_attempts_per_number": 3,
               "abandoned": {"delay_s": 96 * 3600, "max_attempts": 1}, "after_last": "agent_task"},
        law={"abandon": {"window_s": 30 * 86_400, "cap_pct": 2.5, "amd_false_positive_rate": 0.05},
             "ring_s": 15, "redial_after_abandon_s": 96 * 3600, "consent": "not_refused"},
        priority=9,
    ))
    rules = campaign.rules()
    assert rules.windows.days[0] == (Hours(510, 720), Hours(780, 1140))
    assert rules.windows.days[1] == () and rules.windows.days[6] == (Hours(720, 960),)  # unnamed days: closed
    assert rules.fallback_zone == "Europe/London"
    assert AttemptOutcome.BUSY not in rules.retry.rules  # null: busy ends the number
    assert rules.retry.rules[AttemptOutcome.NO_ANSWER].delay_s == 3600
    assert rules.retry.max_attempts_per_number == 3 and rules.retry.after_last is AfterLast.AGENT_TASK
    assert rules.law.abandon.window_s == 30 * 86_400 and rules.law.abandon.cap_pct == 2.5
    assert rules.law.ring_s == 15 and rules.law.consent is ConsentRule.NOT_REFUSED
    assert rules.law.redial_after_abandon_s == 96 * 3600
    # A retry after an abandon sooner than the campaign's own wait after one is refused, naming the retry rule.
    with pytest.raises(Invalid) as caught:
        parse_campaign(with_(law={"redial_after_abandon_s": 96 * 3600}))
    assert caught.value.field == "retry.abandoned.delay_s"
    assert campaign.priority == 9


def _deep(levels: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(levels):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


BAD = [
    (with_(colour="red"), "colour", "Extra inputs"),
    (with_(law={"ring_time": 20}), "law.ring_time", "Extra inputs"),
    (with_(law={"ring_s": 10}), "law.ring_s", "at least 15 s"),
    (with_(law={"ring_s": "20"}), "law.ring_s", "valid number"),
    (with_(law={"abandon": {"cap_pct": 5}}), "law.abandon.cap_pct", "at most 3"),
    (with_(law={"abandon": {"cap_pct": 0}}), "law.abandon.cap_pct", "above 0"),
    (with_(law={"abandon": {"window_s": 40 * 86_400}}), "law.abandon.window_s", "less than or equal"),
    (with_(law={"abandon": {"amd_false_positive_rate": -0.1}}), "law.abandon.amd_false_positive_rate", "greater"),
    (with_(law={"redial_after_abandon_s": 3600}), "law.redial_after_abandon_s", "72 h"),
    (with_(law={"consent": "maybe"}), "law.consent", "granted"),
    (with_(caller_id="not a number"), "caller_id", "E.164"),
    (with_(caller_id="+4420794600"), "caller_id", "valid"),
    (with_(caller_id="anonymous"), "caller_id", "required"),
    (with_(caller_id=442079460000), "caller_id", "valid string"),
    (with_(windows={"mon": [{"start": "20:00", "end": "09:00"}]}), "windows.mon[0].end", "after start"),
    (with_(windows={"tue": [{"start": "09:00", "end": "09:00"}]}), "windows.tue[0].end", "after start"),
    (with_(windows={"wed": [{"start": "9:00", "end": "17:00"}]}), "windows.wed[0].start", "HH:MM"),
    (with_(windows={"thu": [{"start": "09:00", "end": "25:00"}]}), "windows.thu[0].end", "HH:MM"),
    (with_(windows={"fri": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}),
     "windows.fri", "overlap"),
    (with_(windows={"monday": []}), "windows.monday", "Extra inputs"),
    (with_(windows={"mon": _deep(5000)}), "windows.mon[0][0][0][0][0][0][0]", "nested deeper than 8"),
    (with_(fallback_zone="Mars/Olympus"), "fallback_zone", "IANA"),
    (with_(retry={"abandoned": {"delay_s": 3600, "max_attempts": 1}}), "retry.abandoned.delay_s", "redial_after"),
    (with_(retry={"busy": {"delay_s": -5, "max_attempts": 1}}), "retry.busy.delay_s", "greater"),
    (with_(retry={"machine": {"delay_s": 60}}), "retry.machine.max_attempts", "Field required"),
    (with_(retry={"max_attempts_per_number": 0}), "retry.max_attempts_per_number", "greater"),
    (with_(retry={"after_last": "retry_forever"}), "retry.after_last", "close"),
    (with_(mode="robocall"), "mode", "preview"),
    (with_(priority=0), "priority", "greater"),
    (with_(priority=True), "priority", "valid integer"),
    (with_(saved_report_id=2**63), "saved_report_id", "between"),
    (with_(saved_report_id=1.5), "saved_report_id", "valid integer"),
    (with_(team_id=None), "team_id", "valid integer"),
    (with_(name=""), "name", "at least 1"),
    (with_(name="   "), "name", "blank"),
    (with_(name="Line\nbreak"), "name", "single line"),
    (with_(name="x" * 201), "name", "at most 200"),
    ({k: v for k, v in GOOD.items() if k != "caller_id"}, "caller_id", "Field required"),
    ([GOOD], "definition", "JSON object"),
    ("{not json", "definition", "not valid JSON"),
    ('{"name": ' + "[" * 5000 + "]" * 5000 + "}", "definition", "nested deeper"),
]


@pytest.mark.parametrize("data, field, message", BAD, ids=[f"{i}-{case[1]}" for i, case in enumerate(BAD)])
def test_bad_input_names_the_field(data: Any, field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_campaign(data)
    assert caught.value.field == field, caught.value.message
    assert message in caught.value.message


def test_the_model_is_frozen() -> None:
    campaign = parse_campaign(GOOD)
    with pytest.raises(Exception):
        campaign.priority = 1  # type: ignore[misc]
    assert isinstance(campaign, CampaignDefinition)
