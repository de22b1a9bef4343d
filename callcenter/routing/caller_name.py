"""The caller's name for the agent's desk phone display, from the CRM facts routing already fetched.

Set by the route answer as ``CALLERID(name)`` on the inbound channel; Dial() and Queue() present the calling
channel's caller id to the phone (the INVITE's From display name), and a transferred customer carries it along.

The display-safe set: chan_pjsip writes the name into the From header's quoted-string as UTF-8, but desk phones'
fonts differ (many show Latin-1 at best, some only ASCII), so the default is printable ASCII with accents folded
("Müller" -> "Muller"); ``charset = "latin1"`` keeps printable Latin-1. Whatever else is dropped, and always the
characters that break a layer on the way: ``"`` and ``\\`` (the SIP quoted-string and the AGI argument quoting),
``<`` and ``>`` (Asterisk's caller id parser reads ``"name" <num>``), ``|`` (the route answer's CC_PLAN delimiter:
one inside the name would shift the plan's fields), and control characters. A name with nothing
left after that is no name: the phone shows the number, as on a CRM miss.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["CallerNameFormat", "Charset", "display_safe", "format_caller_name"]

# what a format may use: {mark} (VIP / open-callback mark), {who} (contact, company / lead title as below),
# {contact}, {company}, {lead}
FIELDS: Final = frozenset({"mark", "who", "contact", "company", "lead"})
_NEVER: Final = frozenset('"\\<>|')


class Charset(StrEnum):
    ASCII = "ascii"
    LATIN1 = "latin1"


def _allowed(ch: str, charset: Charset) -> bool:
    if ch in _NEVER:
        return False
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return True
    return charset is Charset.LATIN1 and 0xA0 <= code <= 0xFF


# Latin letters Unicode does not decompose into a base letter plus accents, spelled as their readers would
_FOLD: Final = str.maketrans({
    "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "ß": "ss",
    "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th", "Ð": "D", "ð": "d",
})


def _fold(ch: str, charset: Charset) -> str:
    """``ch`` itself when the display shows it, else its base letters ("ą" -> "a"), else nothing."""
    if _allowed(ch, charset):
        return ch
    if ch.isspace():
        return " "
    folded = unicodedata.normalize("NFKD", ch.translate(_FOLD))
    return "".join(c for c in folded if _allowed(c, charset))


def display_safe(text: str, *, charset: Charset = Charset.ASCII, max_chars: int = 24) -> str:
    """``text`` reduced to what a small display shows: the safe set above (other letters folded to their base
    letters), whitespace runs as one space, at most ``max_chars`` characters (cut, no ellipsis: a 16-character
    display has no room for one)."""
    if text.isascii() and text.isprintable() and _NEVER.isdisjoint(text):
        kept = text  # the usual name: nothing to fold or drop (a tenth of the per-character path's cost)
    else:
        kept = "".join(_fold(ch, charset) for ch in unicodedata.normalize("NFC", text))
    return " ".join(kept.split())[:max_chars].rstrip()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerNameFormat:
    """``template``: str.format fields from FIELDS. ``vip_mark`` / ``callback_mark``: {mark} for a VIP caller or one
    with an open callback (VIP wins). Checked at construction so a bad setting stops the start, naming itself."""

    enabled: bool = True
    template: str = "{mark}{who}"
    max_chars: int = 24
    charset: Charset = Charset.ASCII
    vip_mark: str = "VIP "
    callback_mark: str = "CB "

    def __post_init__(self) -> None:
        names = {name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None}
        unknown = names - FIELDS
        if unknown:
            raise ValueError(f"template uses {sorted(unknown)}; allowed: {sorted(FIELDS)}")
        if not 1 <= self.max_chars <= 80:
            raise ValueError(f"max_chars must be in 1..80, got {self.max_chars}")


def format_caller_name(
    fmt: CallerNameFormat,
    *,
    contact: str | None = None,
    company: str | None = None,
    lead: str | None = None,
    vip: bool = False,
    open_callback: bool = False,
) -> str | None:
    """The display name, or None when there is nothing to show (no record, disabled, nothing display-safe)."""
    if not fmt.enabled:
        return None
    contact, company, lead = (" ".join((s or "").split()) for s in (contact, company, lead))
    if contact and company:
        who = f"{contact}, {company}"
    else:
        who = contact or company or lead
    if not display_safe(who, charset=fmt.charset, max_chars=fmt.max_chars):
        return None  # nothing of the name itself is display-safe: a bare mark says nothing, show the number
    mark = fmt.vip_mark if vip else (fmt.callback_mark if open_callback else "")
    text = fmt.template.format(mark=mark, who=who, contact=contact, company=company, lead=lead)
    safe = display_safe(text, charset=fmt.charset, max_chars=fmt.max_chars)
    return safe or None
