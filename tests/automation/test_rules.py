"""The rule language: typed configuration, clear errors, and pure matching."""

from __future__ import annotations

import pytest

from callcenter.automation.facts import CallbackOverdue, CallLogged, DealStageChanged, LeadCreated
from callcenter.automation.rules import matches
from callcenter.config import ConfigError, load_settings


def call(outcome: str = "missed", direction: str = "inbound", number: str | None = "+12125550101", did: str = "8001") -> CallLogged:
    return CallLogged(call_id="c1", activity_id=1, direction=direction, outcome=outcome, did=did, number=number,
                      entity=None, record_id=None, responsible_id=None, agent_user_id=None)


def rules(tmp_path, text: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "rules.toml"
    config.write_text(text)
    return load_settings(config, environ={}).automation.rules


def test_rules_load_from_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    loaded = rules(tmp_path, """
[[automation.rules]]
name = "lead task"
when = "lead.created"
then = "task"
title = "Call the client"

[[automation.rules]]
name = "stage hook"
when = "deal.stage_changed"
then = "webhook"
url = "https://crm.example.com/hook"
secret = "0123456789abcdef"

[[automation.rules]]
name = "vip missed"
when = "call.missed"
if_vip = true
then = "notify"
""")
    assert [type(r).__name__ for r in loaded] == ["TaskRule", "WebhookRule", "NotifyRule"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[automation.rules]]\nname="x"\nwhen="call.exploded"\nthen="notify"\n', "when"),
        ('[[automation.rules]]\nname="x"\nwhen="call.missed"\nthen="email"\n', "then"),
        ('[[automation.rules]]\nname="x"\nwhen="call.missed"\nthen="webhook"\nurl="not a url"\nsecret="0123456789abcdef"\n', "url"),
        ('[[automation.rules]]\nname="x"\nwhen="call.missed"\nthen="webhook"\nurl="https://a.b/c"\nsecret="short"\n', "secret"),
        ('[[automation.rules]]\nname="x"\nwhen="call.missed"\nthen="notify"\nif_weather="sunny"\n', "if_weather"),
        ('[[automation.rules]]\nname="x"\nwhen="call.missed"\nthen="notify"\n[[automation.rules]]\nname="x"\nwhen="lead.created"\nthen="notify"\n', "unique"),
    ],
)
def test_bad_rules_are_refused_with_the_key(tmp_path, text: str, named: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=named):
        rules(tmp_path, text)


@pytest.mark.parametrize(
    ("rule", "fact", "vip", "expected"),
    [
        ({"when": "call.missed"}, call(), False, True),
        ({"when": "call.missed"}, call(outcome="abandoned"), False, True),
        ({"when": "call.missed"}, call(outcome="answered"), False, False),
        ({"when": "call.missed"}, call(direction="outbound"), False, False),
        ({"when": "call.ended"}, call(outcome="answered"), False, True),
        ({"when": "call.missed", "if_vip": True}, call(), True, True),
        ({"when": "call.missed", "if_vip": True}, call(), False, False),
        ({"when": "call.missed", "if_vip": False}, call(), True, False),
        ({"when": "call.ended", "if_did": ["8001"]}, call(), False, True),
        ({"when": "call.ended", "if_did": ["8050"]}, call(), False, False),
        ({"when": "call.ended", "if_outcome": ["busy"]}, call(), False, False),
        ({"when": "lead.created"}, LeadCreated(lead_id=1, number="+1", responsible_id=None, source="phone", channel=None, call_id=None), False, True),
        ({"when": "lead.created"}, call(), False, False),
        ({"when": "deal.stage_changed"}, DealStageChanged(deal_id=1, from_stage_id=1, to_stage_id=2, status="open", responsible_id=None, changed_by_id=None, change_id=3), False, True),
        ({"when": "callback.overdue"}, CallbackOverdue(task_id=1, number=None, assignee_id=None, due_at="", missed_count=1), False, True),
    ],
)
def test_matching(rule: dict, fact, vip: bool, expected: bool) -> None:  # type: ignore[no-untyped-def]
    from callcenter.automation.rules import NotifyRule

    built = NotifyRule(name="r", then="notify", **rule)
    assert matches(built, fact, vip_numbers=frozenset({"+12125550101"} if vip else ())) is expected
