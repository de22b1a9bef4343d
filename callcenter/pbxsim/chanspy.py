"""app_chanspy's ChanSpy(): a channel (the supervisor's phone) listens to another one, optionally talking into it.

No capture of ChanSpy exists in tests/data/ami-traces, so the behaviour follows app_chanspy.c (common_exec /
channel_spy) and the events the Asterisk 20 AMI docs describe:

* the spying channel is answered if it is not up yet, and flagged so that nobody can spy on a spy;
* without ``q`` a beep (and the spied channel's name, not simulated) is played to the spying channel first;
* the argument is a channel name prefix, or with ``u`` one exact channel name or uniqueid (missing: exit at once);
  ``b`` only takes bridged channels; channels found are scanned every 100 ms until one is there (with ``S``: stop
  instead when a pass finds none);
* ``ChanSpyStart`` carries the Spyer* and Spyee* channel blocks; ``ChanSpyStop`` only the Spyer* block, because
  app_chanspy publishes the stop without the spyee (which may be gone already; the docs' event description lists a
  Spyee* block it never fills);
* spying ends when the spying channel hangs up, or when the spied channel does: then ``E`` exits, otherwise the scan
  starts again (with ``u`` that finds nothing and exits).

Audio is not simulated; what was asked (options, whisper, barge) is kept in ``Pbx.spy_log`` for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from callcenter.pbxsim.channels import UP, Channel
from callcenter.pbxsim.dialplan import split_args
from callcenter.pbxsim.flow import ENDING, Flow, pause, wait_signal

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["SpyRecord", "app_chanspy"]

BEEP_S: Final = 0.25  # the "beep" prompt played to the spying channel without option q
SCAN_S: Final = 0.1  # common_exec waits 100 ms for a digit between two scans
_OPTION_ARGS: Final = re.compile(r"\([^)]*\)")  # v(-2), g(grp), x(#)...: the letters are what matters here


@dataclass(slots=True)
class SpyRecord:
    spyer: str
    spyer_uniqueid: str
    spyee: str
    spyee_uniqueid: str
    options: str
    started_s: float
    ended_s: float | None = None


def _flags(options: str) -> frozenset[str]:
    return frozenset(_OPTION_ARGS.sub("", options))


def _target(pbx: Pbx, me: Channel, spec: str, flags: frozenset[str]) -> Channel | None:
    for ch in pbx.live_channels():
        if ch is me or ch.uniqueid in pbx.spying:
            continue
        if "u" in flags:
            if spec not in (ch.name, ch.uniqueid):
                continue
        elif spec and not ch.name.startswith(spec):
            continue
        if "b" in flags and ch.bridge is None:
            continue
        return ch
    return None


async def _spy(pbx: Pbx, me: Channel, target: Channel, options: str) -> bool:
    """Spy until one side is gone; True when the spying channel itself is ending."""
    record = SpyRecord(spyer=me.name, spyer_uniqueid=me.uniqueid, spyee=target.name, spyee_uniqueid=target.uniqueid,
                       options=options, started_s=pbx.clock.now_s())
    pbx.spy_log.append(record)
    pbx.emit.chanspy_start(me, target)
    pbx.spied_by.setdefault(target.uniqueid, []).append(me)
    try:
        while True:
            got = await wait_signal(pbx, [me], None)
            if got is None:
                continue
            _, kind, payload = got
            if kind in ENDING or kind == "redirect":
                me.inbox.insert(0, (kind, payload))  # the owner of the channel still has to see it
                return True
            if kind == "spyee_gone":
                return False
    finally:
        spies = pbx.spied_by.get(target.uniqueid)
        if spies is not None and me in spies:
            spies.remove(me)
        record.ended_s = pbx.clock.now_s()
        pbx.emit.chanspy_stop(me)


async def app_chanspy(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    spec = args[0].strip() if args else ""
    spec = "" if spec == "all" else spec
    options = args[1].strip() if len(args) > 1 else ""
    flags = _flags(options)
    if ch.state != UP:
        pbx.set_state(ch, UP)
    pbx.spying.add(ch.uniqueid)
    try:
        beep = "q" not in flags
        while ch.alive and not any(ch.has(kind) for kind in ENDING):
            if beep and not await pause(pbx, ch, BEEP_S):
                return Flow.STOP
            target = _target(pbx, ch, spec, flags)
            if target is None:
                if ("u" in flags and spec) or "S" in flags:
                    return Flow.STOP
                beep = False
                if not await pause(pbx, ch, SCAN_S):
                    return Flow.STOP
                continue
            if await _spy(pbx, ch, target, options) or "E" in flags:
                return Flow.STOP
            beep = "q" not in flags
        return Flow.STOP
    finally:
        pbx.spying.discard(ch.uniqueid)
