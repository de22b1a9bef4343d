"""Audio maths for call recordings, pure numpy (no I/O): headers, decoding, channels, resampling, voice activity,
call metrics.

Asterisk's MixMonitor writes 8 kHz signed 16-bit PCM: ``.wav`` (RIFF), ``.raw``/``.sln`` (headerless, option D
gives two interleaved channels), ``.sln16`` (16 kHz); ``.ulaw``/``.alaw`` are G.711 without a header. Whisper wants
16 kHz mono float32, one channel per speaker, so the pipeline is: header -> decode -> split channels -> resample.
Reading bytes from files is the adapter's job (``audiofile.py``); everything here takes bytes or arrays.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

__all__ = [
    "AudioError",
    "AudioInfo",
    "CallMetrics",
    "Codec",
    "WHISPER_RATE_HZ",
    "call_metrics",
    "decode_pcm",
    "frame_activity",
    "info_for_headerless",
    "parse_wav_header",
    "quiet_cut_points",
    "resample",
    "wav_header",
]

WHISPER_RATE_HZ: Final = 16_000
Codec = Literal["pcm_s16le", "pcm_u8", "pcm_mulaw", "pcm_alaw"]
_BYTES_PER_SAMPLE: Final[dict[str, int]] = {"pcm_s16le": 2, "pcm_u8": 1, "pcm_mulaw": 1, "pcm_alaw": 1}
# WAVE format tags we can decode; GSM (0x31, Asterisk's ".WAV") and compressed others are refused by name.
_WAVE_TAGS: Final[dict[int, str]] = {1: "pcm", 6: "pcm_alaw", 7: "pcm_mulaw", 0xFFFE: "extensible"}
_KNOWN_TAG_NAMES: Final[dict[int, str]] = {0x31: "GSM 6.10", 0x55: "MP3", 0x11: "IMA ADPCM", 0x02: "MS ADPCM", 3: "float"}
# A header that says "0" or "0xFFFFFFFF" bytes of data was never finalised (the writer died before closing it).
_UNFINALISED: Final = (0, 0xFFFFFFFF)


class AudioError(Exception):
    """A file we cannot use as audio. ``code`` is stable (empty, not_audio, unsupported, too_long) for callers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioInfo:
    """What a header (or a headerless file's name) says, checked against the file's real size."""

    source_format: str  # wav, raw, sln, sln16, ulaw, alaw
    codec: Codec
    sample_rate_hz: int
    channels: int
    data_offset_bytes: int
    data_bytes: int  # what the file really holds, whole frames only
    declared_data_bytes: int | None  # what the header claims (None: headerless)
    file_bytes: int
    header_unfinalised: bool = False

    @property
    def frame_bytes(self) -> int:
        return _BYTES_PER_SAMPLE[self.codec] * self.channels

    @property
    def frames(self) -> int:
        return self.data_bytes // self.frame_bytes

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz

    @property
    def declared_duration_s(self) -> float | None:
        if self.declared_data_bytes is None:
            return None
        return self.declared_data_bytes // self.frame_bytes / self.sample_rate_hz

    @property
    def truncated(self) -> bool:
        """The file ends before the data its header announces (copied or written only in part)."""
        return (
            not self.header_unfinalised
            and self.declared_data_bytes is not None
            and self.declared_data_bytes > self.data_bytes + self.frame_bytes
        )

    def describe_truncation(self) -> str:
        declared = self.declared_duration_s or 0.0
        return (
            f"truncated: header announces {self.declared_data_bytes} data bytes ({declared:.1f} s), "
            f"file holds {self.data_bytes} ({self.duration_s:.1f} s)"
        )


def parse_wav_header(head: bytes, *, file_bytes: int) -> AudioInfo:
    """Parse a RIFF/WAVE header from the first bytes of a file of ``file_bytes`` bytes.

    Walks the chunk list to ``data`` (skipping LIST, fact...), so files from any writer work, and compares the
    announced data size with what the file really holds: less means truncated, a never-finalised size (0 or
    0xFFFFFFFF, left by a writer that died) means "trust the file size".
    """
    if file_bytes == 0:
        raise AudioError("empty", "empty file (0 bytes)")
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError("not_audio", "not a WAV file (no RIFF/WAVE header)")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(head):
                raise AudioError("not_audio", "WAV fmt chunk is too short")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == 0xFFFE and size >= 40 and body + 26 <= len(head):
                (tag,) = struct.unpack_from("<H", head, body + 24)  # the sub-format GUID starts with the real tag
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("not_audio", "WAV data chunk before its fmt chunk")
            return _wav_info(fmt, data_offset=body, declared=size, file_bytes=file_bytes)
        offset = body + size + (size & 1)  # chunks are word-aligned
    if fmt is None:
        raise AudioError("not_audio", "WAV header has no fmt chunk" if file_bytes > len(head) or offset >= len(head)
                         else "WAV header is cut off before its fmt chunk")
    raise AudioError("not_audio", "WAV header has no data chunk (file cut off inside the header?)")


def _wav_info(fmt: tuple[int, int, int, int], *, data_offset: int, declared: int, file_bytes: int) -> AudioInfo:
    tag, channels, rate, bits = fmt
    if tag not in _WAVE_TAGS:
        name = _KNOWN_TAG_NAMES.get(tag, f"format tag 0x{tag:04x}")
        raise AudioError("unsupported", f"unsupported WAV encoding: {name} (expected 16-bit PCM, mu-law or a-law)")
    codec: Codec
    if tag == 1:
        if bits == 16:
            codec = "pcm_s16le"
        elif bits == 8:
            codec = "pcm_u8"
        else:
            raise AudioError("unsupported", f"unsupported WAV sample size: {bits} bits")
    else:
        codec = "pcm_alaw" if tag == 6 else "pcm_mulaw"
    if not 1 <= channels <= 8:
        raise AudioError("unsupported", f"unsupported channel count: {channels}")
    if not 4000 <= rate <= 192_000:
        raise AudioError("unsupported", f"unsupported sample rate: {rate} Hz")
    frame = _BYTES_PER_SAMPLE[codec] * channels
    available = max(file_bytes - data_offset, 0)
    unfinalised = declared in _UNFINALISED and available > 0
    data = available if unfinalised else min(declared, available)
    return AudioInfo(
        source_format="wav",
        codec=codec,
        sample_rate_hz=rate,
        channels=channels,
        data_offset_bytes=data_offset,
        data_bytes=data - data % frame,
        declared_data_bytes=None if unfinalised else declared,
        file_bytes=file_bytes,
        header_unfinalised=unfinalised,
    )


# Asterisk's headerless formats by file extension: (codec, rate, default channels).
_HEADERLESS: Final[dict[str, tuple[Codec, int]]] = {
    "raw": ("pcm_s16le", 8000),
    "sln": ("pcm_s16le", 8000),
    "slin": ("pcm_s16le", 8000),
    "sln16": ("pcm_s16le", 16000),
    "ulaw": ("pcm_mulaw", 8000),
    "ul": ("pcm_mulaw", 8000),
    "pcm": ("pcm_mulaw", 8000),
    "alaw": ("pcm_alaw", 8000),
    "al": ("pcm_alaw", 8000),
}


def info_for_headerless(extension: str, *, file_bytes: int, channels: int) -> AudioInfo:
    """Headerless files carry no format: it follows from the extension (Asterisk's naming) and the dialplan
    (MixMonitor option D = two interleaved channels)."""
    ext = extension.lower().lstrip(".")
    if ext not in _HEADERLESS:
        raise AudioError("unsupported", f"unknown audio file type .{ext}")
    if file_bytes == 0:
        raise AudioError("empty", "empty file (0 bytes)")
    codec, rate = _HEADERLESS[ext]
    frame = _BYTES_PER_SAMPLE[codec] * channels
    return AudioInfo(
        source_format=ext,
        codec=codec,
        sample_rate_hz=rate,
        channels=channels,
        data_offset_bytes=0,
        data_bytes=file_bytes - file_bytes % frame,
        declared_data_bytes=None,
        file_bytes=file_bytes,
    )


def wav_header(*, channels: int, sample_rate_hz: int, data_bytes: int, codec: Codec = "pcm_s16le") -> bytes:
    """A canonical 44-byte header, to store headerless recordings as playable WAV without re-encoding."""
    tag = {"pcm_s16le": 1, "pcm_u8": 1, "pcm_alaw": 6, "pcm_mulaw": 7}[codec]
    width = _BYTES_PER_SAMPLE[codec]
    if data_bytes > 0xFFFFFFFF - 36:
        raise AudioError("too_long", "recording is larger than a WAV file can describe (4 GiB)")
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, tag, channels, sample_rate_hz,
        sample_rate_hz * channels * width, channels * width, 8 * width, b"data", data_bytes,
    )


# -- decoding -----------------------------------------------------------------------------------------------------

def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign = (u & 0x80) != 0
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign, 0x84 - magnitude, magnitude - 0x84).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = (a & 0x80) != 0
    exponent = (a >> 4) & 0x07
    mantissa = (a & 0x0F).astype(np.int32)
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign, magnitude, -magnitude).astype(np.float32) / 32768.0


_MULAW: Final = _mulaw_table()
_ALAW: Final = _alaw_table()


def decode_pcm(data: bytes | memoryview | np.ndarray, *, codec: Codec, channels: int) -> np.ndarray:
    """Bytes -> float32 in [-1, 1], shape (frames, channels). A trailing partial frame is dropped."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    frame = _BYTES_PER_SAMPLE[codec] * channels
    raw = raw[: len(raw) - len(raw) % frame]
    if codec == "pcm_s16le":
        samples = raw.view("<i2").astype(np.float32) / 32768.0
    elif codec == "pcm_u8":
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif codec == "pcm_mulaw":
        samples = _MULAW[raw]
    else:
        samples = _ALAW[raw]
    return samples.reshape(-1, channels)


# -- resampling ---------------------------------------------------------------------------------------------------

def _lowpass(cutoff: float, *, phases: int, zero_crossings: int = 16, beta: float = 8.0) -> np.ndarray:
    """Kaiser-windowed sinc; ``cutoff`` as a fraction of the (upsampled) Nyquist rate. Unity DC gain per phase."""
    half = zero_crossings * phases
    n = np.arange(-half, half + 1, dtype=np.float64)
    taps = cutoff * np.sinc(cutoff * n / phases) * np.kaiser(len(n), beta)
    return (taps / taps.sum() * phases).astype(np.float32)


def resample(x: np.ndarray, *, from_hz: int, to_hz: int) -> np.ndarray:
    """Band-limited resampling of a mono float32 signal.

    Integer ratios (8 -> 16 kHz for Whisper, 48 -> 16 kHz) use a polyphase windowed-sinc filter: each output phase
    is one short convolution, so the cost is taps/L per output sample and nothing is ever zero-stuffed in memory.
    Other ratios (44.1 kHz) low-pass then interpolate linearly, which is ample for speech recognition.
    """
    if from_hz == to_hz or len(x) == 0:
        return np.asarray(x, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    g = math.gcd(from_hz, to_hz)
    up, down = to_hz // g, from_hz // g
    if down == 1:
        taps = _lowpass(0.95, phases=up)  # pass 95 % of the input band: telephone speech ends at 3.4 kHz anyway
        delay = (len(taps) - 1) // 2
        out = np.empty(len(x) * up, dtype=np.float32)
        for phase in range(up):
            # y[n*up + phase] = sum_k taps[offset + k*up] * x[n + shift - k]: only the taps that meet a real input
            # sample (not a stuffed zero) for this phase, with the filter's centre delay taken out.
            offset = (phase + delay) % up
            sub = taps[offset::up]
            shift = (phase + delay - offset) // up
            full = np.convolve(x, sub)
            out[phase::up] = full[shift : shift + len(x)]
        return out
    if up == 1:
        taps = _lowpass(0.95 / down, phases=1)
        filtered = np.convolve(x, taps, mode="same")
        return np.ascontiguousarray(filtered[::down], dtype=np.float32)
    if to_hz < from_hz:
        x = np.convolve(x, _lowpass(0.95 * to_hz / from_hz, phases=1), mode="same").astype(np.float32)
    n_out = int(len(x) * to_hz // from_hz)
    positions = np.arange(n_out, dtype=np.float64) * (from_hz / to_hz)
    return np.interp(positions, np.arange(len(x)), x).astype(np.float32)


# -- voice activity and call metrics ------------------------------------------------------------------------------

FRAME_S: Final = 0.02


def frame_activity(
    x: np.ndarray,
    *,
    rate_hz: int,
    frame_s: float = FRAME_S,
    floor_dbfs: float = -45.0,
    above_noise_db: float = 12.0,
    fill_gap_s: float = 0.3,
    min_speech_s: float = 0.1,
) -> np.ndarray:
    """Per-frame "someone is talking" flags from energy, robust enough for call metrics.

    The threshold adapts to the line: 12 dB over the channel's noise floor (its 10th-percentile frame), never below
    an absolute -45 dBFS, so hiss on a quiet leg is not talk. Pauses between words shorter than ``fill_gap_s`` are
    bridged and blips shorter than ``min_speech_s`` (clicks) dropped, so "talk time" counts phrases, not syllables.
    """
    size = max(int(rate_hz * frame_s), 1)
    n = len(x) // size
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = np.asarray(x[: n * size], dtype=np.float32).reshape(n, size)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    db = 10 * np.log10(power + 1e-12)
    noise = float(np.percentile(db, 10))
    active = db > max(floor_dbfs, noise + above_noise_db)
    active = _fill_runs(active, value=False, max_len=int(round(fill_gap_s / frame_s)), inner_only=True)
    return _fill_runs(active, value=True, max_len=int(round(min_speech_s / frame_s)) - 1, inner_only=False)


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, lengths, values) of the runs of equal values."""
    if len(flags) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=bool)
    change = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [len(flags)])))
    return starts, lengths, flags[starts]


def _fill_runs(flags: np.ndarray, *, value: bool, max_len: int, inner_only: bool) -> np.ndarray:
    """Flip runs of ``value`` no longer than ``max_len`` (optionally only those between two other runs)."""
    if max_len <= 0:
        return flags
    out = flags.copy()
    starts, lengths, values = _runs(flags)
    for i, (start, length, v) in enumerate(zip(starts, lengths, values)):
        if v != value or length > max_len:
            continue
        if inner_only and (i == 0 or i == len(starts) - 1):
            continue
        out[start : start + length] = not value
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CallMetrics:
    duration_s: float
    customer_talk_s: float
    agent_talk_s: float
    overtalk_s: float  # both talking at once
    silence_s: float  # nobody talking, between the first and the last word
    longest_silence_s: float  # the longest such stretch ("dead air")

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 2) for k in self.__slots__}  # type: ignore[attr-defined]


def call_metrics(*, customer: np.ndarray, agent: np.ndarray, frame_s: float = FRAME_S) -> CallMetrics:
    """Talk time per side, overtalk and silences from the two sides' activity flags (same frame grid).

    Silence is measured inside the conversation (first to last speech of either side): hold music and the
    ring-out before the first word are not dead air.
    """
    n = max(len(customer), len(agent))
    c = np.zeros(n, dtype=bool)
    a = np.zeros(n, dtype=bool)
    c[: len(customer)] = customer
    a[: len(agent)] = agent
    anyone = c | a
    spoken = np.flatnonzero(anyone)
    if len(spoken):
        inner = ~anyone[spoken[0] : spoken[-1] + 1]
        starts, lengths, values = _runs(inner)
        longest = int(lengths[values].max()) if values.any() else 0
        silence = int(inner.sum())
    else:
        longest = silence = n
    return CallMetrics(
        duration_s=n * frame_s,
        customer_talk_s=float(c.sum()) * frame_s,
        agent_talk_s=float(a.sum()) * frame_s,
        overtalk_s=float((c & a).sum()) * frame_s,
        silence_s=silence * frame_s,
        longest_silence_s=longest * frame_s,
    )


def quiet_cut_points(activity: np.ndarray, *, frame_s: float, window_s: float, search_s: float) -> list[int]:
    """Frame indices where to cut a long channel into windows of at most ``window_s``, each cut placed in the
    longest silence of the last ``search_s`` before the limit, so that no word is cut in two."""
    window = int(window_s / frame_s)
    search = max(min(int(search_s / frame_s), window - 1), 1)
    cuts: list[int] = []
    start = 0
    n = len(activity)
    while n - start > window:
        lo, hi = start + window - search, start + window
        region = activity[lo:hi]
        starts, lengths, values = _runs(region)
        quiet = [(length, s) for s, length, v in zip(starts, lengths, values) if not v]
        if quiet:
            length, s = max(quiet)
            cut = lo + int(s) + int(length) // 2
        else:
            cut = hi  # nonstop talk: cut at the limit
        cuts.append(cut)
        start = cut
    return cuts
