"""E-mail templates with ``$placeholders`` (string.Template) over a fixed set of a deal's and its contact's fields.

Only the names in ``DEAL_FIELDS`` exist: a template naming another is a configuration error that names it, found
when the settings load, not when the first customer should have had the letter. Values are plain text; nothing in
them is evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template

# What a deal-stage e-mail may say, and where each value comes from.
DEAL_FIELDS: dict[str, str] = {
    "deal_id": "the deal's id",
    "deal_title": "the deal's title",
    "deal_amount": "the deal's amount (empty when none)",
    "deal_currency": "the deal's currency (ISO 4217)",
    "deal_status": "open, won or lost",
    "stage": "the stage the deal moved to",
    "previous_stage": "the stage it came from (empty for a new deal)",
    "pipeline": "the deal's pipeline",
    "contact_first_name": "the contact's first name",
    "contact_last_name": "the contact's last name",
    "contact_name": "first and last name",
    "contact_position": "the contact's position",
    "company_name": "the deal's (else the contact's) company",
    "manager_name": "the deal's responsible user",
    "manager_email": "the responsible user's e-mail",
}


class TemplateError(ValueError):
    """A template names an unknown placeholder or is malformed; the message names it."""


def check_template(text: str, *, known: Mapping[str, str] = DEAL_FIELDS) -> str:
    template = Template(text)
    if not template.is_valid():
        raise TemplateError("malformed placeholder: write $name or ${name}, and $$ for a dollar sign")
    unknown = [name for name in template.get_identifiers() if name not in known]
    if unknown:
        raise TemplateError(f"unknown placeholder ${unknown[0]}; known: {', '.join('$' + k for k in known)}")
    return text


def render(text: str, values: Mapping[str, str], *, one_line: bool = False) -> str:
    """Fill in the placeholders (all checked by ``check_template``); a header value (``one_line``) gets its line
    breaks turned into spaces, so a deal title cannot add a header."""
    out = Template(text).substitute({name: str(values.get(name, "")) for name in DEAL_FIELDS})
    if one_line:
        out = " ".join(out.replace("\r", " ").replace("\n", " ").split())
    return out
