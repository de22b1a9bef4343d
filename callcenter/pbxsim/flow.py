"""How an application hands control back to the dialplan executor, and how simulated threads wait for signals.

Kept apart from the applications so that Dial and Queue (their own modules) and the executor share it without
importing each other.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from callcenter.pbxsim.channels import Channel
from callcenter.pbxsim.clock import TIMEOUT

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["ENDING", "Flow", "pause", "wait_signal"]

# Signals that end whatever the owning process is doing on a channel.
ENDING = ("bye", "restart", "ami_hangup")


class Flow(enum.Enum):
    NEXT = "next"  # go on with priority + 1
    JUMP = "jump"  # the application moved the channel (Goto, Gosub, Redirect)
    STOP = "stop"  # hang up


async def wait_signal(
    pbx: Pbx, channels: list[Channel], timeout_s: float | None
) -> tuple[Channel, str, object] | None:
    """The next signal on any of ``channels`` (inbox order), or None when ``timeout_s`` passes first."""
    while True:
        for ch in channels:
            if ch.inbox:
                kind, payload = ch.inbox.pop(0)
                return ch, kind, payload
        waiter = pbx.clock.waiter()
        for ch in channels:
            ch.waiter = waiter
        try:
            result = await pbx.clock.park(waiter, timeout_s)
        finally:
            for ch in channels:
                if ch.waiter is waiter:
                    ch.waiter = None
        if result is TIMEOUT:
            for ch in channels:
                if ch.inbox:
                    kind, payload = ch.inbox.pop(0)
                    return ch, kind, payload
            return None


async def pause(pbx: Pbx, ch: Channel, seconds: float) -> bool:
    """Wait ``seconds`` unless the channel is hung up or redirected first; True when the wait completed."""
    deadline = pbx.clock.now_s() + seconds
    while True:
        if any(ch.has(kind) for kind in (*ENDING, "redirect")):
            return False
        left = deadline - pbx.clock.now_s()
        if left <= 0:
            return True
        got = await wait_signal(pbx, [ch], left)
        if got is None:
            return True
        _, kind, payload = got
        if kind in (*ENDING, "redirect"):
            ch.inbox.insert(0, (kind, payload))
            return False
