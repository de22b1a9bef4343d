"""Phone number normalisation (pure): any way a person or a PBX writes a number -> one E.164 key.

We accept *possible* numbers, not only *valid* ones: caller ids from carriers and test ranges (555-01xx) are often
not in libphonenumber's allocation tables, and refusing them would lose calls. Internal extensions and garbage are
rejected with a reason.

Digits of other scripts (the rule, explicitly): libphonenumber reads any Unicode decimal digit by its value, so
"+٢٠ ١٠٠ ١٢٣ ٤٥٦٧" (Arabic-Indic) and "+２０..." (fullwidth) are +201001234567, and we keep that. But the default
region (``crm.default_region``) is assumed only for numbers written in ASCII digits: a number in Arabic-Indic, Persian
or any other non-ASCII digits must be international (start with + and the country code), because reading
"٠١٠٠١٢٣٤٥٦٧" as a US national number would key it to a stranger. One number never mixes digit scripts (a way to
make two different-looking numbers the same key).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

MAX_RAW_LENGTH = 64
# Asterisk and carriers spell "no caller id" in many ways; these never identify a customer.
WITHHELD_CALLER_IDS = frozenset({"", "anonymous", "unknown", "unavailable", "private", "restricted", "withheld", "<unknown>"})
_EXTENSION_TAIL = re.compile(r"^(?P<number>.*?\d)\s*(?:[-/]\s*)(?P<ext>\d{1,6})$")


class PhoneError(ValueError):
    """The text is not a phone number we can key a record on; the message says why."""


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str
    raw: str
    extension: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.e164, self.extension)


def is_withheld(raw: str | None) -> bool:
    return raw is None or raw.strip().lower() in WITHHELD_CALLER_IDS


def normalize(raw: str, *, region: str) -> PhoneNumber:
    """Parse `raw` in the context of `region` (ISO 3166) into E.164 plus an extension."""
    if not isinstance(raw, str):
        raise PhoneError("phone number must be text")
    text = raw.strip()
    if is_withheld(text):
        raise PhoneError("no phone number (withheld or empty)")
    if len(text) > MAX_RAW_LENGTH:
        raise PhoneError(f"phone number longer than {MAX_RAW_LENGTH} characters")
    _check_digit_script(text)
    parsed = _parse(text, region)
    if parsed is None:
        # "030 1234567-89": a German-style direct-dial suffix that libphonenumber reads as part of the number.
        match = _EXTENSION_TAIL.match(text)
        if match:
            parsed = _parse(match["number"], region)
            if parsed is not None:
                parsed.extension = match["ext"]
    if parsed is None:
        raise PhoneError(f"not a possible phone number for region {region}: {text!r}")
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return PhoneNumber(e164=e164, raw=text, extension=parsed.extension or "")


def _check_digit_script(text: str) -> None:
    """See the module's rule on digits of other scripts."""
    zeros = {ord(c) - unicodedata.decimal(c) for c in text if c.isdecimal()}  # each script's zero identifies it
    if len(zeros) > 1:
        raise PhoneError("phone number mixes digits of different scripts")
    if zeros and zeros != {ord("0")} and not text.lstrip().startswith(("+", "\uff0b")):
        raise PhoneError("a number written in non-ASCII digits must be international: start with + and the country code")


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return parsed


def try_normalize(raw: str | None, *, region: str) -> PhoneNumber | None:
    """The lenient form for lookups from the call path: a bad caller id simply matches nothing."""
    if raw is None:
        return None
    try:
        return normalize(raw, region=region)
    except PhoneError:
        return None
