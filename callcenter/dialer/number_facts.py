"""A number as the dialer's checks read it (pure, no I/O): libphonenumber parses it once, and that one parse says
whether it may be dialled at all (it parses, is written in canonical E.164, is a valid number) and which time zones
it maps to. ``compliance.may_dial`` and ``windows.callee_zones`` both read it.

Cached per number string in a bounded LRU: the campaign runner walks its whole list on every pass, and parsing,
validating and finding the zones of a number costs ~40 us of libphonenumber (4 s for 100,000 numbers) for an answer
that depends on nothing but the number and the library's metadata. An entry costs ~160 bytes (its key and its slot:
the answers themselves are shared), so the full cache is ~32 MB; a list longer than ``NUMBER_CACHE_SIZE`` is judged
uncached on every pass (a sequential walk through an LRU smaller than the walk hits nothing), still correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import timezone as number_zones

__all__ = ["NUMBER_CACHE_SIZE", "NumberFacts", "cache_info", "clear_cache", "number_facts"]

# Room for a 100,000-row list and then some (the campaigns' lists share it); ~16 MB per 100,000 numbers held.
NUMBER_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """``parse_error``: libphonenumber's message when the text is not a number at all (the rest then says nothing).
    ``zones``: the number's zones that the tz database knows (libphonenumber's "Etc/Unknown" left out), sorted."""

    parse_error: str | None
    canonical: bool  # formatting the parsed number as E.164 gives back the very text
    valid: bool  # libphonenumber's is_valid_number: a number that can be allocated
    zones: tuple[str, ...]


def number_facts(e164: str) -> NumberFacts:
    """What libphonenumber says of ``e164``, parsed with no default region (only "+" and a country code parse)."""
    if not isinstance(e164, str):  # the checks refuse these before; never a cache key (a list is not hashable)
        return _facts(e164)
    return _cached(e164)


def cache_info() -> object:
    return _cached.cache_info()


def clear_cache() -> None:
    _cached.cache_clear()


@lru_cache(maxsize=NUMBER_CACHE_SIZE)
def _cached(e164: str) -> NumberFacts:
    return _facts(e164)


def _facts(e164: str) -> NumberFacts:
    from callcenter.dialer.windows import load_zone  # windows reads this module: imported when first needed

    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        return _shared(str(exc), False, False, ())
    canonical = phonenumbers.format_number(number, PhoneNumberFormat.E164) == e164
    valid = phonenumbers.is_valid_number(number)
    zones = tuple(sorted({name for name in number_zones.time_zones_for_number(number) if load_zone(name)}))
    return _shared(None, canonical, valid, zones)


@lru_cache(maxsize=4_096)
def _shared(parse_error: str | None, canonical: bool, valid: bool, zones: tuple[str, ...]) -> NumberFacts:
    # A few hundred distinct answers (zone sets x flags, a handful of parse messages) for any number of numbers: the
    # cache holds one object per answer, so an entry costs its key and its slot, not a copy of its zones.
    return NumberFacts(parse_error, canonical, valid, zones)
