"""AMI wire format as Asterisk 20 writes it: CRLF lines, a blank line after each message, headers in Asterisk's order.

Everything the simulator sends goes through ``frame``; events go through ``EventBus.emit`` which adds ``Privilege``
and ``Timestamp`` (epoch seconds with 6 decimals, from the simulation clock) and hands the frame to every listener
(AMI sessions, test recorders) in one order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Final

__all__ = [
    "BANNER",
    "EventBus",
    "Headers",
    "PRIV_AGENT",
    "PRIV_AGI",
    "PRIV_CALL",
    "PRIV_DIALPLAN",
    "PRIV_SECURITY",
    "PRIV_SYSTEM",
    "event_tv",
    "frame",
    "parse_action",
]

Headers = list[tuple[str, str]]

BANNER: Final = b"Asterisk Call Manager/9.0.0\r\n"
PRIV_CALL: Final = "call,all"
PRIV_DIALPLAN: Final = "dialplan,all"
PRIV_AGI: Final = "agi,all"
PRIV_AGENT: Final = "agent,all"
PRIV_SYSTEM: Final = "system,all"
PRIV_SECURITY: Final = "security,all"


def frame(headers: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in headers).encode("utf-8") + b"\r\n"


def event_tv(epoch_s: float) -> str:
    """Security events' EventTV/SessionTV: ``2026-11-22T23:34:50.715+0000``."""
    moment = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


Listener = Callable[[str, bytes], None]


class EventBus:
    """Stamps events and fans them out, synchronously and in emit order, to the AMI sessions and recorders."""

    def __init__(self, *, stamp: Callable[[], float]) -> None:
        self._stamp = stamp
        self._listeners: list[Listener] = []
        self.emitted = 0

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def emit(self, name: str, privilege: str, headers: Sequence[tuple[str, str]], *, timestamp: bool = True) -> None:
        head: Headers = [("Event", name), ("Privilege", privilege)]
        if timestamp:
            head.append(("Timestamp", f"{self._stamp():.6f}"))
        data = frame([*head, *headers])
        self.emitted += 1
        for listener in tuple(self._listeners):
            listener(name, data)


def parse_action(raw: bytes) -> list[tuple[str, str]]:
    """One action's header lines, in order, repeated keys kept (``Variable:`` may appear several times)."""
    out: list[tuple[str, str]] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        out.append((key.strip(), value[1:] if value.startswith(" ") else value))
    return out
