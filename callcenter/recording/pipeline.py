"""One recording take -> a speaker-labelled conversation and call metrics.

Channels: the stereo file of MixMonitor option D (left = customer, right = agent), or the r()/t() legs (rx =
customer, tx = agent), or - when only the mix exists - one channel with unknown speakers. Each channel is
transcribed on its own. Long channels are cut into windows at pauses (bounded memory, no word cut in two), and
windows in which nobody speaks never reach Whisper: that is faster, and Whisper tends to "hear" words in silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from callcenter.recording.audio import (
    FRAME_S,
    WHISPER_RATE_HZ,
    AudioError,
    CallMetrics,
    call_metrics,
    frame_activity,
    quiet_cut_points,
    resample,
)
from callcenter.recording.audiofile import MappedAudio
from callcenter.recording.transcriber import Transcriber
from callcenter.recording.transcript import AGENT, CUSTOMER, UNKNOWN, Segment, Turn, conversation_text, merge_channels, shift

__all__ = ["ChannelSpec", "PermanentError", "TakeResult", "channels_for_take", "transcribe_take"]

# Activity is computed per block so that its adaptive noise floor follows the line (and memory stays small).
ACTIVITY_BLOCK_S: Final = 60.0
# Audio kept around each window's speech so that Whisper hears word onsets and the tail of the last word. A second
# of lead-in is what Whisper was trained with; at 0.3 s the first word of a window was misheard more often (bench:
# 8 fewer word errors in 330 on the reference calls), and the VAD inside the transcriber drops the extra silence.
PAD_S: Final = 1.0


class PermanentError(Exception):
    """An input no retry can fix (not audio, longer than allowed): the job goes dead at once, with this reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSpec:
    speaker: str
    path: Path
    channel: int = 0


@dataclass(slots=True, kw_only=True)
class TakeResult:
    turns: list[Turn]
    metrics: dict[str, Any]
    language: str | None
    duration_s: float
    model: str
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return conversation_text(self.turns)

    def conversation(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.turns]


def channels_for_take(files: Mapping[str, Path]) -> list[ChannelSpec]:
    """role -> path (stereo, rx, tx, mix) to the channels to transcribe, preferring separated speakers."""
    if "stereo" in files:
        return [ChannelSpec(speaker=CUSTOMER, path=files["stereo"], channel=0),
                ChannelSpec(speaker=AGENT, path=files["stereo"], channel=1)]
    if "rx" in files and "tx" in files:
        return [ChannelSpec(speaker=CUSTOMER, path=files["rx"]), ChannelSpec(speaker=AGENT, path=files["tx"])]
    if "mix" in files:
        return [ChannelSpec(speaker=UNKNOWN, path=files["mix"])]
    # One leg only (the other was missing): still worth transcribing, the speaker is known.
    if "rx" in files:
        return [ChannelSpec(speaker=CUSTOMER, path=files["rx"])]
    if "tx" in files:
        return [ChannelSpec(speaker=AGENT, path=files["tx"])]
    raise PermanentError("no audio file to transcribe in this recording")


def _activity(audio: MappedAudio, channel: int) -> np.ndarray:
    rate = audio.info.sample_rate_hz
    block = int(ACTIVITY_BLOCK_S * rate)
    parts = []
    for start in range(0, audio.frames, block):
        samples = audio.read(start, start + block)[:, channel]
        parts.append(frame_activity(samples, rate_hz=rate))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _windows(activity: np.ndarray, *, window_s: float) -> list[tuple[int, int]]:
    """[start, stop) frame ranges with speech, cut at pauses, each trimmed to its speech plus padding."""
    cuts = [0, *quiet_cut_points(activity, frame_s=FRAME_S, window_s=window_s, search_s=min(30.0, window_s / 4)),
            len(activity)]
    pad = int(PAD_S / FRAME_S)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        spoken = np.flatnonzero(activity[a:b])
        if len(spoken) == 0:
            continue
        out.append((max(a, a + int(spoken[0]) - pad), min(b, a + int(spoken[-1]) + 1 + pad)))
    return out


def transcribe_take(
    specs: list[ChannelSpec],
    transcriber: Transcriber,
    *,
    window_s: float = 600.0,
    max_duration_s: float = 4 * 3600.0,
    progress: Callable[[str, float], None] | None = None,
) -> TakeResult:
    """Blocking (numpy + Whisper): run it in a worker thread or process, never on an event loop."""
    opened: dict[Path, MappedAudio] = {}
    timings = {"decode_s": 0.0, "whisper_s": 0.0}
    try:
        for spec in specs:
            if spec.path not in opened:
                try:
                    opened[spec.path] = MappedAudio.open(spec.path)
                except AudioError as exc:
                    raise PermanentError(f"{spec.path.name}: {exc.message}") from None
        longest = max((a.info.duration_s for a in opened.values()), default=0.0)
        if longest > max_duration_s:
            raise PermanentError(
                f"recording is {longest / 3600:.1f} h long, over recording.max_transcribe_s "
                f"({max_duration_s / 3600:.1f} h): not transcribed"
            )
        by_speaker: dict[str, list[Segment]] = {}
        activity: dict[str, np.ndarray] = {}
        language = None
        for spec in specs:
            audio = opened[spec.path]
            if spec.channel >= audio.info.channels:
                raise PermanentError(f"{spec.path.name} has {audio.info.channels} channel(s), no channel {spec.channel}")
            rate = audio.info.sample_rate_hz
            t0 = time.perf_counter()
            act = _activity(audio, spec.channel)
            activity[spec.speaker] = act
            timings["decode_s"] += time.perf_counter() - t0
            segments: list[Segment] = []
            for a, b in _windows(act, window_s=window_s):
                t0 = time.perf_counter()
                start_frame = int(a * FRAME_S * rate)
                samples = audio.read(start_frame, int(b * FRAME_S * rate))[:, spec.channel]
                pcm16k = resample(samples, from_hz=rate, to_hz=WHISPER_RATE_HZ)
                t1 = time.perf_counter()
                found, lang = transcriber.transcribe(pcm16k, speaker=spec.speaker)
                timings["decode_s"] += t1 - t0
                timings["whisper_s"] += time.perf_counter() - t1
                language = language or lang
                segments.extend(shift(found, start_frame / rate))
                if progress is not None:
                    progress(spec.speaker, b * FRAME_S)
            by_speaker[spec.speaker] = segments
        metrics = _metrics(activity, duration_s=longest)
        return TakeResult(turns=merge_channels(by_speaker), metrics=metrics, language=language, duration_s=longest,
                          model=transcriber.name, timings_s=timings)
    finally:
        for audio in opened.values():
            audio.close()


def _metrics(activity: dict[str, np.ndarray], *, duration_s: float) -> dict[str, Any]:
    if CUSTOMER in activity or AGENT in activity:
        empty = np.zeros(0, dtype=bool)
        m: CallMetrics = call_metrics(customer=activity.get(CUSTOMER, empty), agent=activity.get(AGENT, empty))
        out: dict[str, Any] = m.as_dict()
    else:  # a mono mix: who talked is unknown, silence is still measurable
        m = call_metrics(customer=activity.get(UNKNOWN, np.zeros(0, dtype=bool)), agent=np.zeros(0, dtype=bool))
        out = {"duration_s": round(m.duration_s, 2), "talk_s": round(m.customer_talk_s, 2),
               "silence_s": round(m.silence_s, 2), "longest_silence_s": round(m.longest_silence_s, 2)}
    out["duration_s"] = round(duration_s, 2)
    return out
