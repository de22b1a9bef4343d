"""Adapter: journals the calls FastAGI routes while AMI is down and, once the session is back and the live model
resynced, writes those that ended in the gap through the normal path (CallEnded, then RecordingReady) - once.

It sits in the AMI consumer chain (it must see `Connected` and act right after the tracker applied a `Resync`) and
on the bus (CallRouted in, CallEnded out). A journalled call the resync finds still up is the tracker's: its own
CallEnded comes later and clears the entry, so nothing is written twice.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from callcenter.ami.channel_vars import RECORDING_RX_SUFFIX, RECORDING_STEREO_SUFFIX, RECORDING_TX_SUFFIX
from callcenter.ami.connection import Connected, Item, Resync
from callcenter.events import CallEnded, CallRouted, EventBus
from callcenter.recording.audio import FRAME_S, AudioError, frame_activity
from callcenter.recording.audiofile import MappedAudio
from callcenter.recovery.gap import RoutedCall, SpoolFacts, rebuild

log = logging.getLogger("callcenter.recovery")

MAX_JOURNAL = 10_000  # calls routed during one outage; the oldest go first if an outage outlasts it
RECORDING_GRACE_S = 10.0  # as the recording pipeline's missing_grace_s default: how long a hung-up call's file may lag
RECORDING_POLL_S = 0.1
Consumer = Callable[[Item], Awaitable[None] | None]


class GapRecovery:
    def __init__(
        self,
        *,
        inner: Consumer,
        bus: EventBus,
        ami_down: Callable[[], bool],
        open_call_ids: Callable[[], set[str]],
        spool_dir: Path,
        asterisk_spool_dir: str,
        clock: Callable[[], float] = time.time,
        instance: str | None = None,
        recording_grace_s: float = RECORDING_GRACE_S,
    ) -> None:
        self.instance = instance  # only this instance's own FastAGI answers are its to recover
        self.inner = inner
        self.bus = bus
        self.ami_down = ami_down
        self.open_call_ids = open_call_ids
        self.spool_dir = spool_dir
        self.asterisk_spool_dir = asterisk_spool_dir.rstrip("/")
        self.clock = clock
        self.recording_grace_s = recording_grace_s
        self.journal: collections.OrderedDict[str, RoutedCall] = collections.OrderedDict()
        self.recovered = 0
        self._connected_at_s: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._routed, event_type=CallRouted)
        bus.subscribe(self._ended, event_type=CallEnded)

    # -- the bus ------------------------------------------------------------------------------------------------

    def _routed(self, event: CallRouted) -> None:
        if event.instance != self.instance:
            return  # another instance answered: its own journal holds the call if its AMI was down too
        known = self.journal.get(event.call_id)
        if known is None:
            if not self.ami_down():
                return  # the live model sees this call's channels: it is the tracker's to write
            known = self.journal[event.call_id] = RoutedCall(
                call_id=event.call_id, uniqueid=event.uniqueid, caller=event.caller, did=event.did,
                first_at_s=event.at_s,
            )
            while len(self.journal) > MAX_JOURNAL:
                dropped, _ = self.journal.popitem(last=False)
                log.error("call %s routed while AMI was down is forgotten (journal full)", dropped)
            log.warning("call %s routed while AMI is down: journalled for recovery", event.call_id)
        known.add(event)

    def _ended(self, event: CallEnded) -> None:
        self.journal.pop(event.call_id, None)

    # -- the AMI consumer chain ---------------------------------------------------------------------------------

    def __call__(self, item: Item) -> Awaitable[None] | None:
        if isinstance(item, Connected):
            self._connected_at_s = self.clock()
        result = self.inner(item)
        if isinstance(item, Resync):
            if result is None:
                self._after_resync()
            else:
                return self._then_recover(result)
        return result

    async def _then_recover(self, result: Awaitable[None]) -> None:
        await result
        self._after_resync()

    def _after_resync(self) -> None:
        login_s = self._connected_at_s if self._connected_at_s is not None else self.clock()
        still_up = self.open_call_ids()
        gone = [c for c in self.journal.values() if c.first_at_s <= login_s and c.call_id not in still_up]
        for call in list(self.journal.values()):
            if call.call_id in still_up:
                del self.journal[call.call_id]  # the tracker adopted it at the resync and will end it itself
        if not gone:
            return
        for call in gone:
            del self.journal[call.call_id]
        self.idle.clear()
        task = asyncio.create_task(self._recover(gone, found_at_s=self.clock()), name="gap-recovery")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self.idle.set()

    async def _recover(self, calls: list[RoutedCall], *, found_at_s: float) -> None:
        deadline_s = asyncio.get_running_loop().time() + self.recording_grace_s
        for call in calls:
            facts = await self._spool_facts_within(call.uniqueid, deadline_s) if call.uniqueid else None
            ended, recording = rebuild(call, facts, found_at_s=found_at_s)
            log.warning(
                "call %s ended while AMI was down: written as %s from FastAGI's %d decision(s)%s (approximate)",
                call.call_id, ended.outcome.value, len(call.decisions),
                " and its recording" if facts else ", no recording found",
            )
            self.recovered += 1
            self.bus.publish(ended)
            if recording is not None:
                self.bus.publish(recording)

    # -- the spool (in a thread: file and numpy work) -----------------------------------------------------------

    async def _spool_facts_within(self, uniqueid: str, deadline_s: float) -> SpoolFacts | None:
        # MixMonitor closes its file on its own thread after the hangup, and a brief outage can end before that:
        # a recording not there yet would make an answered call a missed one. One grace for the whole batch.
        loop = asyncio.get_running_loop()
        while (facts := await asyncio.to_thread(self._spool_facts, uniqueid)) is None and loop.time() < deadline_s:
            await asyncio.sleep(RECORDING_POLL_S)
        return facts

    def _spool_facts(self, uniqueid: str) -> SpoolFacts | None:
        def named(name: str) -> str:
            return f"{self.asterisk_spool_dir}/{name}"

        stereo = self.spool_dir / f"{uniqueid}{RECORDING_STEREO_SUFFIX}.raw"
        mixed = self.spool_dir / f"{uniqueid}.wav"
        agent_leg = self.spool_dir / f"{uniqueid}{RECORDING_TX_SUFFIX}.wav"
        try:
            if stereo.is_file():
                audio, agent_channel, main = MappedAudio.open(stereo), 1, stereo
                path, legs = named(stereo.name), ()
            elif mixed.is_file():
                main = mixed
                has_legs = agent_leg.is_file()
                audio = MappedAudio.open(agent_leg if has_legs else mixed)
                agent_channel = 0
                path = named(mixed.name)
                legs = (named(f"{uniqueid}{RECORDING_RX_SUFFIX}.wav"), named(agent_leg.name)) if has_legs else ()
            else:
                return None
            samples = audio.read()
            rate = audio.info.sample_rate_hz
            duration_s = audio.frames / rate if rate else 0.0
            agent = samples[:, agent_channel] if samples.size else np.zeros(0, dtype=np.float32)
            active = frame_activity(agent, rate_hz=rate) if rate else np.zeros(0, dtype=bool)
            audio.close()
            closed_at_s = main.stat().st_mtime
        except (OSError, AudioError) as exc:
            log.error("recovering call %s: its recording cannot be read: %s", uniqueid, exc)
            return None
        first = int(np.argmax(active)) * FRAME_S if active.any() else None
        return SpoolFacts(path=path, leg_paths=legs, closed_at_s=closed_at_s, duration_s=duration_s,
                          agent_speech_s=float(active.sum()) * FRAME_S, first_agent_speech_s=first)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
