"""MixMonitor output as real audio files: 8 kHz 16-bit, written when the monitored channel hangs up.

File names and formats follow the captures (INDEX.md, "Recordings"): ``<uid>.wav`` (mix) with ``r(<uid>-rx.wav)``
(audio read from the channel: the customer) and ``t(<uid>-tx.wav)`` (audio written to it: the agent), or with option
``D`` one ``<uid>-stereo.raw`` of interleaved s16le (left = customer, right = agent). As on Asterisk, audio exists
only while frames flow, i.e. from the moment the channel is Up: ringing is not recorded, queue hold is (music).

Voices are tone-based stand-ins (distinct pitch for customer and agent, speaking in turns, silence in between) so
that the two sides stay separable; a scenario can provide 8 kHz WAV speech for either side instead (``voices/``
ships a few synthesised lines with their text, which the demo's callers and agents say, so its recordings can be
transcribed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import wave
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from callcenter.pbxsim.channels import Channel

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["VOICES", "RecordingWriter", "RecordingSpec", "voice_pairs"]

log = logging.getLogger("callcenter.pbxsim.recordings")

RATE_HZ: Final = 8000
VOICES: Final = Path(__file__).with_name("voices")
_MAX_SECONDS: Final = 4 * 3600


@dataclass(slots=True, kw_only=True)
class RecordingSpec:
    main: Path
    rx: Path | None = None
    tx: Path | None = None
    stereo: bool = False  # option D: one 2-channel .raw
    up_s: float | None = None
    connected_s: float | None = None
    seed: int = 0
    customer_speech: Path | None = None
    agent_speech: Path | None = None
    written: list[Path] = field(default_factory=list)


def _voice(n: int, *, pitch_hz: float, rng: random.Random) -> np.ndarray:
    """A speech-like signal of ``n`` samples: a buzz with harmonics, amplitude-modulated at syllable rate."""
    t = np.arange(n) / RATE_HZ
    wobble = 1 + 0.03 * np.sin(2 * np.pi * 0.7 * t + rng.random() * 6)
    phase = 2 * np.pi * pitch_hz * np.cumsum(wobble) / RATE_HZ
    buzz = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * (3.5 + rng.random()) * t) ** 2
    return (buzz * syllables * 3000).astype(np.float32)


def _music(n: int) -> np.ndarray:
    t = np.arange(n) / RATE_HZ
    notes = np.array([262.0, 330.0, 392.0, 523.0])
    freq = notes[(t * 2).astype(int) % len(notes)]
    return (np.sin(2 * np.pi * freq * t) * 1200).astype(np.float32)


def voice_pairs() -> tuple[tuple[Path, Path], ...]:
    """(customer, agent) speech of the calls in ``voices/manifest.json``: each pair is one short exchange."""
    manifest = json.loads((VOICES / "manifest.json").read_text())
    return tuple((VOICES / call["customer"][0], VOICES / call["agent"][0]) for call in manifest["calls"])


def _speech_file(path: Path) -> np.ndarray | None:
    from callcenter.recording.audio import AudioError
    from callcenter.recording.audiofile import MappedAudio

    try:
        audio = MappedAudio.open(path)  # 16-bit, mu-law or A-law WAV
    except (OSError, AudioError) as exc:
        log.warning("speech %s unreadable (%s); using tones", path, exc)
        return None
    try:
        if audio.info.sample_rate_hz != RATE_HZ:
            log.warning("speech %s is not 8 kHz; using tones", path)
            return None
        return audio.read()[:, 0] * 32768.0  # back to 16-bit sample units (what the render works in), exactly
    finally:
        audio.close()


def render(spec: RecordingSpec, ended_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(rx, tx) sample arrays of the whole recording."""
    start = spec.up_s if spec.up_s is not None else ended_s
    total = max(0.0, min(ended_s - start, _MAX_SECONDS))
    n = int(total * RATE_HZ)
    rx = np.zeros(n, dtype=np.float32)
    tx = np.zeros(n, dtype=np.float32)
    if n == 0:
        return rx, tx
    rng = random.Random(spec.seed)
    talk_from = n if spec.connected_s is None else max(0, int((spec.connected_s - start) * RATE_HZ))
    if talk_from > 0:
        tx[:talk_from] = _music(talk_from)  # hold music written to the caller before an agent came
    customer = _speech_file(spec.customer_speech) if spec.customer_speech else None
    agent = _speech_file(spec.agent_speech) if spec.agent_speech else None
    pos = talk_from
    speaker = 1  # the agent greets first
    while pos < n:
        target = tx if speaker else rx
        recorded = agent if speaker else customer
        if recorded is not None:
            # a scenario's speech is played whole, once, as that side's first turn
            piece = recorded[: n - pos]
            target[pos:pos + len(piece)] = piece
            end = pos + max(len(piece), 1)
            if speaker:
                agent = None
            else:
                customer = None
        else:
            end = min(n, pos + int(rng.uniform(1.5, 5.0) * RATE_HZ))
            target[pos:end] = _voice(end - pos, pitch_hz=210.0 if speaker else 120.0, rng=rng)
        pos = min(n, end + int(rng.uniform(0.3, 1.0) * RATE_HZ))
        speaker ^= 1
    return rx, tx


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def _publish(path: Path, write: Callable[[Path], None]) -> None:
    """Write beside ``path`` and rename into place: a reader that finds the name finds the whole file (the service
    looks for it as soon as the call's RecordingReady arrives, while this runs in a thread)."""
    part = path.with_name(path.name + ".part")
    write(part)
    os.replace(part, path)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    def write(target: Path) -> None:
        with wave.open(str(target), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE_HZ)
            w.writeframes(_pcm(samples))

    _publish(path, write)


def write_files(spec: RecordingSpec, ended_s: float) -> list[Path]:
    rx, tx = render(spec, ended_s)
    spec.main.parent.mkdir(parents=True, exist_ok=True)
    if spec.stereo:
        both = np.empty(len(rx) * 2, dtype=np.float32)
        both[0::2], both[1::2] = rx, tx
        _publish(spec.main, lambda target: target.write_bytes(_pcm(both)))
        return [spec.main]
    # The legs before the mix: a reader that finds the mix finds its legs too, as on Asterisk, whose MixMonitor
    # creates all three files when it starts.
    legs = []
    for path, samples in ((spec.rx, rx), (spec.tx, tx)):
        if path is not None:
            _write_wav(path, samples)
            legs.append(path)
    _write_wav(spec.main, rx + tx)
    return [spec.main, *legs]


class RecordingWriter:
    """MixMonitors in progress by channel; files are rendered off the event loop when the channel hangs up."""

    def __init__(self, *, monitor_dir: Path, enabled: bool = True) -> None:
        self.monitor_dir = monitor_dir
        self.enabled = enabled
        self._active: dict[str, RecordingSpec] = {}
        self._pending: set[Future[list[Path]] | asyncio.Future[list[Path]]] = set()
        self.files: list[Path] = []
        self.speech: dict[str, tuple[Path | None, Path | None]] = {}

    def path(self, name: str) -> Path:
        return Path(name) if name.startswith("/") else self.monitor_dir / name

    def start(self, ch: Channel, spec: RecordingSpec) -> None:
        spec.up_s = ch.up_s
        self._active[ch.uniqueid] = spec

    def connected(self, a: Channel, b: Channel, pbx: Pbx) -> None:
        for ch in (a, b):
            spec = self._active.get(ch.uniqueid)
            if spec is not None and spec.connected_s is None:
                spec.connected_s = pbx.clock.now_s()
            if spec is not None and spec.up_s is None:
                spec.up_s = ch.up_s

    def channel_gone(self, ch: Channel, pbx: Pbx) -> None:
        spec = self._active.pop(ch.uniqueid, None)
        if spec is None:
            return
        if spec.up_s is None:
            spec.up_s = ch.up_s
        pbx.stats.recordings_written += 1
        if not self.enabled:
            return
        ended = pbx.clock.now_s()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, write_files, spec, ended)
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[list[Path]]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("recording not written: %s", error)
            return
        self.files.extend(future.result())

    async def flush(self) -> None:
        """Wait until every recording of a finished call is on disk."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
