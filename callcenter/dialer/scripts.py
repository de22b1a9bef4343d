"""Call scripts: text with placeholders the agent reads during a call, the customer's fields filled in (pure).

The syntax is deliberately tiny: ``{contact.first_name}`` is a placeholder, ``{{`` and ``}}`` are literal braces,
nothing else is special. There are no expressions, filters or attribute lookups: a placeholder is a key into a fixed
catalogue (``PLACEHOLDERS``) and filling is one pass of string replacement, so neither a script nor a customer's data
can run code or reach anything but the catalogued values (a value that itself reads ``{agent.name}`` stays that text).

``{contact.custom.<key>}`` (also ``company``, ``lead``, ``deal``) is a record's custom field; which keys exist is data,
checked against the definitions when the script is saved.

A script is checked when it is saved (``parse_script``): an unknown placeholder or a stray brace is a ValueError naming
it. Filled scripts are returned as parts (literal text and filled fields) as well as one text, so a page can show the
fields apart and put everything in as text, never as HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_core.input_rules import check_text

__all__ = ["CUSTOM_PLACEHOLDER", "MAX_SCRIPT_CHARS", "PLACEHOLDERS", "FilledScript", "Part", "Script", "fill", "parse_script"]

MAX_SCRIPT_CHARS = 10_000

# Every placeholder a script may use, with what it stands for (the resolver fills them from the call's records).
PLACEHOLDERS: dict[str, str] = {
    "customer.name": "the called or calling record's name (contact, lead person or title, company)",
    "customer.phone": "the customer's number on this call",
    "contact.first_name": "the contact's first name",
    "contact.last_name": "the contact's last name",
    "contact.name": "the contact's full name",
    "contact.position": "the contact's position",
    "company.name": "the customer's company",
    "lead.title": "the lead's title",
    "lead.person_name": "the lead's person",
    "lead.company_name": "the lead's company name",
    "lead.product_interest": "what the lead is interested in",
    "deal.title": "the customer's open deal",
    "deal.amount": "its amount",
    "deal.currency": "its currency",
    "deal.stage": "its stage's name",
    "agent.name": "the agent's name",
    "agent.first_name": "the agent's first name",
    "campaign.name": "the campaign's name (campaign calls)",
}

# A record's custom field ({contact.custom.contract_no}): its key is checked against the custom field definitions when
# the script is saved (script_store.check_custom_fields), as the catalogue above cannot know them.
CUSTOM_PLACEHOLDER = re.compile(r"^(contact|company|lead|deal)\.custom\.([a-z][a-z0-9_]{0,63})$")

# "{{", "}}", a placeholder, or a lone brace (an error); everything between is literal text.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    field: str | None = None  # a filled placeholder's name; None: the script's own text
    missing: bool = False  # the record has no value for it (shown as a gap, not as made-up text)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.field is not None:
            out["field"] = self.field
            out["missing"] = self.missing
        return out


@dataclass(frozen=True, slots=True)
class Script:
    """A checked script: literal strings and placeholder names, in order."""

    parts: tuple[tuple[str, str | None], ...]  # (literal text, None) or ("", placeholder name)

    @property
    def fields(self) -> set[str]:
        return {name for _, name in self.parts if name is not None}

    @property
    def custom_fields(self) -> set[tuple[str, str]]:
        """(entity, key) of every custom-field placeholder."""
        return {(m.group(1), m.group(2)) for name in self.fields if (m := CUSTOM_PLACEHOLDER.match(name))}


@dataclass(frozen=True, slots=True)
class FilledScript:
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "parts": [p.to_json() for p in self.parts]}


def parse_script(text: str) -> Script:
    """The script, or ValueError naming the first unknown placeholder or stray brace (for the caller to locate)."""
    if len(text) > MAX_SCRIPT_CHARS:
        raise ValueError(f"at most {MAX_SCRIPT_CHARS} characters")
    check_text(text, multiline=True)
    parts: list[tuple[str, str | None]] = []
    literal: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[at:match.start()])
        at = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(f"a lone {token!r} at character {match.start() + 1}: write {token * 2} for a brace")
        name = name.strip()
        if name not in PLACEHOLDERS and not CUSTOM_PLACEHOLDER.match(name):
            raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(sorted(PLACEHOLDERS))}, and "
                             "<contact|company|lead|deal>.custom.<key> for a custom field)")
        parts.append(("".join(literal), None))
        literal = []
        parts.append(("", name))
    literal.append(text[at:])
    parts.append(("".join(literal), None))
    return Script(tuple(p for p in parts if p[1] is not None or p[0]))


def fill(script: Script, values: Mapping[str, Any]) -> FilledScript:
    """Each placeholder replaced by its value as text (None or "" marks it missing); one pass, nothing re-read."""
    out: list[Part] = []
    for literal, name in script.parts:
        if name is None:
            out.append(Part(literal))
            continue
        value = values.get(name)
        text = "" if value is None else str(value)
        out.append(Part(text, field=name, missing=not text))
    return FilledScript(tuple(out))
