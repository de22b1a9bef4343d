"""A FastAGI answer as one channel variable: CC_PLAN = <tag>|<field>|<field>|..., set with one SET VARIABLE.

Every SET VARIABLE is a round trip to Asterisk (and, for an AMI user reading class agi, an AGIExecStart/End pair), so
an answer of eight variables cost eight. Packed, it costs one, and it is all-or-nothing: the dialplan clears CC_PLAN
before AGI() and unpacks it with CUT() only when the tag and the field count (FIELDQTY) are what it expects
(channel_vars.PLAN_FIELDS), so a session cut half-way, or a garbled answer, falls back exactly as no answer does.

The one thing a packed value must never contain is the delimiter: a '|' inside a field would shift every field after
it. Values are checked here and a bad one raises PlanError naming the field; nothing is quietly rewritten, because
only the producer knows what a value should have been (caller names are made display-safe, '|' dropped, where they
are made: callcenter.routing.caller_name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from callcenter.ami.channel_vars import PLAN_DELIMITER, PLAN_FIELDS, ChannelVar, DialplanFunction, PlanTag

__all__ = ["MAX_PLAN_CHARS", "PlanError", "agi_quote", "decode_plan", "encode_plan", "plan_command"]

# res_agi reads one command into a 2048-byte buffer (AGI_BUF_LEN); "SET VARIABLE CC_PLAN" and the quoting take
# about 30 of them, escaping can double a few characters: stay well below.
MAX_PLAN_CHARS: Final = 1800
# A line break would end the AGI command and start another on the live channel; NUL ends a C string early.
_FORBIDDEN: Final = frozenset("\r\n\x00")

PlanName = ChannelVar | DialplanFunction


class PlanError(ValueError):
    """A plan that cannot be packed (a bad field value, a missing or unknown field) or unpacked; says which."""


def encode_plan(tag: PlanTag, values: Mapping[PlanName, str]) -> str:
    """The CC_PLAN value for ``tag`` with ``values`` (every field of PLAN_FIELDS[tag], none other)."""
    fields = PLAN_FIELDS[tag]
    missing = [str(name) for name in fields if name not in values]
    unknown = [str(name) for name in values if name not in fields]
    if missing or unknown:
        raise PlanError(f"{tag} plan: missing fields {missing}, unknown fields {unknown}")
    parts = [tag.value]
    for name in fields:
        value = values[name]
        if not isinstance(value, str):
            raise PlanError(f"{tag} plan field {name}: {value!r} is not a string")
        if PLAN_DELIMITER in value:
            raise PlanError(f"{tag} plan field {name}: {value!r} contains the plan delimiter {PLAN_DELIMITER!r}")
        if not _FORBIDDEN.isdisjoint(value):
            raise PlanError(f"{tag} plan field {name}: {value!r} contains a line break or NUL")
        parts.append(value)
    plan = PLAN_DELIMITER.join(parts)
    if len(plan) > MAX_PLAN_CHARS:
        raise PlanError(f"{tag} plan is {len(plan)} characters, more than one AGI command takes ({MAX_PLAN_CHARS})")
    return plan


def decode_plan(plan: str) -> tuple[PlanTag, dict[PlanName, str]]:
    """The tag and fields of a CC_PLAN value, as the dialplan unpacks it; PlanError where the dialplan would fall
    back (unknown tag, wrong field count). For tests and diagnostics: the dialplan itself does this in Asterisk."""
    raw_tag, *values = plan.split(PLAN_DELIMITER)
    try:
        tag = PlanTag(raw_tag)
    except ValueError:
        raise PlanError(f"plan tag {raw_tag[:20]!r} is not one of {[t.value for t in PlanTag]}") from None
    fields = PLAN_FIELDS[tag]
    if len(values) != len(fields):
        raise PlanError(f"{tag} plan has {len(values) + 1} fields, the dialplan expects {len(fields) + 1}")
    return tag, dict(zip(fields, values, strict=True))


def agi_quote(value: str) -> str:
    """Quote one AGI command argument the way res_agi's parse_args() unquotes it."""
    if any(ch in value for ch in "\r\n\x00"):
        # a line break would end this command and start another one on the live channel
        raise ValueError(f"AGI argument contains a line break or NUL: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_command(tag: PlanTag, values: Mapping[PlanName, str]) -> str:
    """The one AGI command of an answer: SET VARIABLE CC_PLAN "<plan>"."""
    return f"SET VARIABLE {ChannelVar.PLAN.value} {agi_quote(encode_plan(tag, values))}"
