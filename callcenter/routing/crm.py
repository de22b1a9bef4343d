"""What routing asks the CRM about a caller, and a cache in front of it.

The lookup itself lives on the database side (the composition root implements ``CrmLookup``); routing only needs
the small ``CrmMatch``. The cache keeps the FastAGI answer fast for repeat callers, shares one in-flight lookup
between simultaneous calls from the same number, and is told explicitly (``invalidate``) when ownership changes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CachedLookup", "CrmLookup", "CrmMatch"]

log = logging.getLogger("callcenter.routing")


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmMatch:
    """The record a calling number belongs to. When a number has several (a contact with an open deal), the
    implementation picks the one whose owner should get the call (open deal first, then contact, company, lead)."""

    entity: str  # contact | company | lead | deal
    record_id: int
    e164: str
    responsible_user_id: int | None = None
    last_agent_user_id: int | None = None  # user who last talked with this number (from call activities)
    last_talked_at_s: float | None = None  # epoch seconds of that call
    vip: bool = False
    # for the caller name on the agent's phone (callcenter.routing.caller_name); the lookup fills what it has
    contact_name: str | None = None  # "first last" of the contact whose number it is
    company_name: str | None = None  # the company whose number it is, or the contact's company
    lead_title: str | None = None
    open_callback: bool = False  # an open callback task for this number


class CrmLookup(Protocol):
    """``await lookup("+12125550101")`` -> CrmMatch, or None for an unknown / company-own number. Gets the caller id
    as Asterisk sent it (E.164 or national); normalising is the implementation's job (crm_core.records.lookup_phone
    does it)."""

    def __call__(self, number: str, /) -> Awaitable[CrmMatch | None]: ...


def _strip(number: str) -> str:
    return "".join(number.split())


class CachedLookup:
    """TTL + LRU cache over a CrmLookup, with single-flight and explicit invalidation.

    ``normalize`` maps a caller id to the cache key (pass the CRM's E.164 normaliser so that "+1 212..." and
    "212..." share one entry and ``invalidate("+1212...")`` reaches both). Unknown numbers are cached for the
    shorter ``negative_ttl_s``: a lead may be created for them any moment. Errors are not cached.
    """

    def __init__(
        self,
        *,
        lookup: CrmLookup,
        ttl_s: float = 60.0,
        negative_ttl_s: float = 10.0,
        max_entries: int = 100_000,
        normalize: Callable[[str], str] = _strip,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._normalize = normalize
        self._clock = clock
        self._entries: collections.OrderedDict[str, tuple[float, CrmMatch | None]] = collections.OrderedDict()
        self._inflight: dict[str, asyncio.Task[CrmMatch | None]] = {}
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def key(self, number: str) -> str:
        return self._normalize(number)

    def cached(self, number: str) -> tuple[bool, CrmMatch | None]:
        """(found, match) from the cache alone."""
        key = self._normalize(number)
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, match = entry
        if expires <= self._clock():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        self.hits += 1
        return True, match

    def lookup_task(self, number: str) -> asyncio.Task[CrmMatch | None]:
        """The in-flight lookup for ``number`` (started if there is none). Its result lands in the cache even if
        the caller stops waiting for it (the FastAGI budget), so the next call from the number is fast."""
        key = self._normalize(number)
        task = self._inflight.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._lookup(number))
            self._inflight[key] = task
            task.add_done_callback(lambda t, key=key: self._landed(key, t))
        return task

    async def get(self, number: str) -> CrmMatch | None:
        found, match = self.cached(number)
        if found:
            return match
        return await asyncio.shield(self.lookup_task(number))

    def _landed(self, key: str, task: asyncio.Task[CrmMatch | None]) -> None:
        if self._inflight.get(key) is not task:
            return  # invalidated while in flight: the answer may predate the change
        del self._inflight[key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.errors += 1
            log.warning("CRM lookup failed for %s: %r", key, error)
            return
        match = task.result()
        ttl = self._ttl_s if match is not None else self._negative_ttl_s
        self._entries[key] = (self._clock() + ttl, match)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, number: str | None = None) -> None:
        """Forget ``number`` (a caller id or an E.164; entries whose match has that E.164 go too), or everything."""
        if number is None:
            self._entries.clear()
            self._inflight.clear()
            return
        key = self._normalize(number)
        self._entries.pop(key, None)
        self._inflight.pop(key, None)
        stale = [k for k, (_, m) in self._entries.items() if m is not None and m.e164 == number]
        for k in stale:
            del self._entries[k]

    def __len__(self) -> int:
        return len(self._entries)
