"""Call scripts (pure): the placeholder syntax, filling in one pass, refusals naming the placeholder, and a campaign
definition's script and disposition codes refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.dialer.campaign import parse_campaign
from callcenter.dialer.scripts import PLACEHOLDERS, fill, parse_script
from crm_core.errors import Invalid

BASE = {"name": "Overdue", "saved_report_id": 1, "team_id": 1, "caller_id": "+442079460000", "mode": "preview"}


def test_fill_puts_values_in_and_marks_what_is_missing() -> None:
    script = parse_script("Hello {contact.first_name}, this is {agent.name} about {deal.title}. {{not a field}}")
    filled = fill(script, {"contact.first_name": "Ann", "agent.name": "Alice Agent", "deal.title": None})
    assert filled.text == "Hello Ann, this is Alice Agent about . {not a field}"
    fields = [(p.get("field"), p["text"], p.get("missing")) for p in filled.to_json()["parts"] if "field" in p]
    assert fields == [("contact.first_name", "Ann", False), ("agent.name", "Alice Agent", False),
                      ("deal.title", "", True)]


def test_a_value_is_text_never_markup_nor_a_placeholder_again() -> None:
    # A customer who calls themselves "{agent.name}" or writes HTML into their name gets exactly that shown.
    script = parse_script("Hi {contact.first_name} / {agent.name}")
    filled = fill(script, {"contact.first_name": "<img src=x onerror=alert(1)>{agent.name}", "agent.name": "Al"})
    assert filled.text == "Hi <img src=x onerror=alert(1)>{agent.name} / Al"
    assert filled.parts[1].text == "<img src=x onerror=alert(1)>{agent.name}"  # the page puts it in as text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {contact.shoe_size}", "unknown placeholder {contact.shoe_size}"),
        ("Hello {__class__}", "unknown placeholder {__class__}"),
        ("Hello {contact.first_name.__class__}", "unknown placeholder {contact.first_name.__class__}"),
        ("Hello {contact.first_name", "a lone '{' at character 7"),
        ("Hello }", "a lone '}' at character 7"),
        ("Hello {}", "unknown placeholder {}"),
        ("Hello {contact.custom.Shoe}", "unknown placeholder {contact.custom.Shoe}"),
        ("Hello {user.custom.salary}", "unknown placeholder {user.custom.salary}"),
        ("bell \x07", "control characters"),
    ],
)
def test_bad_scripts_are_refused_naming_what(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(")):
        parse_script(text)


def test_every_catalogued_placeholder_parses_and_custom_fields_by_kind() -> None:
    script = parse_script(" ".join("{%s}" % name for name in PLACEHOLDERS))
    assert script.fields == set(PLACEHOLDERS) and script.custom_fields == set()
    custom = parse_script("{contact.custom.contract_no} {deal.custom.renewal_on} {contact.custom.contract_no}")
    assert custom.custom_fields == {("contact", "contract_no"), ("deal", "renewal_on")}


def _invalid(extra: dict[str, Any]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_campaign({**BASE, **extra})
    return caught.value


def test_a_campaign_keeps_its_script_and_codes_with_defaults_written_out() -> None:
    definition = parse_campaign({**BASE, "script": "Hello {contact.first_name}",
                                 "dispositions": {"promised_to_pay": {"label": "Promised to pay", "counts_as": "interested",
                                                                      "set_fields": {"custom.promise": "yes"}, "stage": 3}}})
    stored = definition.to_json()
    assert stored["script"] == "Hello {contact.first_name}"
    assert stored["dispositions"]["promised_to_pay"] == {
        "label": "Promised to pay", "counts_as": "interested", "set_fields": {"custom.promise": "yes"}, "stage": 3,
        "lead_status": None, "campaign_dnc": False}
    assert parse_campaign(stored) == definition  # what is stored reads back the same


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"script": "Hi {contact.nickname}"}, "script", "unknown placeholder {contact.nickname}"),
        ({"dispositions": {"Promised": {"label": "x", "counts_as": "sale"}}}, "dispositions.Promised", "lower-case"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "paid"}}}, "dispositions.p.counts_as", "sale"),
        ({"dispositions": {"p": {"label": " ", "counts_as": "sale"}}}, "dispositions.p.label", "blank"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "stage": "3"}}}, "dispositions.p.stage", "integer"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "set_fields": {"responsible_id": 4}}}},
         "dispositions.p.set_fields.responsible_id", "not a field a disposition may set"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "set_fields": {"call_consent": "maybe"}}}},
         "dispositions.p.set_fields.call_consent", "granted"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "set_fields": {"do_not_call": "yes"}}}},
         "dispositions.p.set_fields.do_not_call", "true or false"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "lead_status": "converted"}}},
         "dispositions.p.lead_status", "converting"),
        ({"dispositions": {"p": {"label": "x", "counts_as": "sale", "colour": "red"}}}, "dispositions.p.colour", ""),
    ],
)
def test_bad_campaign_scripts_and_codes_name_the_field(extra: dict[str, Any], field: str, message: str) -> None:
    error = _invalid(extra)
    assert error.field == field and message in error.message, (error.field, error.message)
