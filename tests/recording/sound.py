"""Test audio: WAV files written with the stdlib, speech clips placed on a call's timeline."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

import numpy as np

from callcenter.pbxsim.recordings import VOICES
from callcenter.recording.audiofile import MappedAudio

CLIPS = VOICES  # the demo's voices are the tests' clips: synthesised speech with known text
RATE_HZ = 8000


def manifest() -> dict:
    return json.loads((CLIPS / "manifest.json").read_text())


def clip(name: str) -> np.ndarray:
    """A committed clip as float32 mono at 8 kHz (they are mu-law WAVs: decoded by our own code)."""
    audio = MappedAudio.open(CLIPS / name)
    try:
        return audio.read()[:, 0].copy()
    finally:
        audio.close()


def write_wav(path: Path, samples: np.ndarray, *, rate_hz: int = RATE_HZ) -> Path:
    """float32 (n,) or (n, channels) in [-1, 1] -> 16-bit PCM WAV."""
    data = samples if samples.ndim == 2 else samples[:, None]
    pcm = np.clip(np.round(data * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(pcm.tobytes())
    return path


def timeline(duration_s: float, parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Silence of ``duration_s`` with each clip placed at its start time (plus a little line noise)."""
    out = np.random.default_rng(7).normal(0, 3e-4, int(duration_s * RATE_HZ)).astype(np.float32)
    for start_s, samples in parts:
        a = int(start_s * RATE_HZ)
        out[a : a + len(samples)] += samples[: len(out) - a]
    return out


def wav_header_claiming(*, channels: int, rate_hz: int, data_bytes: int) -> bytes:
    """A 44-byte PCM header announcing ``data_bytes`` (whatever follows it really)."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, rate_hz,
                       rate_hz * channels * 2, channels * 2, 16, b"data", data_bytes)
