"""Reading recordings from disk (the adapter around ``audio.py``): probe a header, map the samples lazily.

Samples are memory-mapped, never read whole: a 2-hour recording is 115 MB of PCM and 460 MB as float32 at 16 kHz,
so the pipeline decodes it window by window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from callcenter.recording.audio import AudioError, AudioInfo, decode_pcm, info_for_headerless, parse_wav_header

__all__ = ["HEADER_PROBE_BYTES", "MappedAudio", "is_stereo_name", "probe"]

# RIFF headers are tiny, but some writers put a large LIST/bext chunk before the data.
HEADER_PROBE_BYTES: Final = 256 * 1024
_HEADERLESS_EXTS: Final = frozenset({"raw", "sln", "slin", "sln16", "ulaw", "ul", "pcm", "alaw", "al"})


def is_stereo_name(path: str | Path) -> bool:
    """MixMonitor option D writes one interleaved 2-channel .raw; our dialplan names it ``<uid>-stereo.raw``."""
    return Path(path).stem.lower().endswith("stereo")


def probe(path: Path, *, channels_if_headerless: int | None = None) -> AudioInfo:
    """Header facts checked against the file size. Raises ``AudioError`` (empty, not_audio, unsupported) and
    ``OSError`` (missing, unreadable) for the caller to report."""
    size = path.stat().st_size
    ext = path.suffix.lower().lstrip(".")
    if ext in _HEADERLESS_EXTS:
        channels = channels_if_headerless or (2 if is_stereo_name(path) else 1)
        return info_for_headerless(ext, file_bytes=size, channels=channels)
    if size == 0:
        raise AudioError("empty", "empty file (0 bytes)")
    with path.open("rb") as f:
        head = f.read(HEADER_PROBE_BYTES)
    return parse_wav_header(head, file_bytes=size)


@dataclass(slots=True)
class MappedAudio:
    """A recording's samples as (frames, channels), decoded on demand for any frame range."""

    info: AudioInfo
    _raw: np.ndarray | None

    @classmethod
    def open(cls, path: Path, *, channels_if_headerless: int | None = None) -> MappedAudio:
        info = probe(path, channels_if_headerless=channels_if_headerless)
        if info.data_bytes == 0:
            return cls(info, None)
        # np.memmap maps pages lazily: a sparse 2-hour file of silence costs nothing until read.
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=info.data_offset_bytes, shape=(info.data_bytes,))
        return cls(info, raw)

    @property
    def frames(self) -> int:
        return self.info.frames

    def read(self, start_frame: int = 0, stop_frame: int | None = None) -> np.ndarray:
        """float32 (frames, channels) for [start_frame, stop_frame)."""
        stop = self.frames if stop_frame is None else min(stop_frame, self.frames)
        if self._raw is None or stop <= start_frame:
            return np.zeros((0, self.info.channels), dtype=np.float32)
        fb = self.info.frame_bytes
        chunk = np.asarray(self._raw[start_frame * fb : stop * fb])
        return decode_pcm(chunk, codec=self.info.codec, channels=self.info.channels)

    def close(self) -> None:
        # Dropping the last reference unmaps; closing explicitly would fail while a decoded view is alive.
        self._raw = None
