"""``callcenter transcribe PATH...``: transcribe recordings from disk, outside the queue, with a progress display.

Files of one take are grouped by name (``x.wav`` + ``x-rx.wav`` + ``x-tx.wav``, or ``x-stereo.raw``), so each call
is transcribed with its speakers separated. One JSON object per take goes to stdout (or readable text with
``text=True``); progress and a summary go to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from callcenter.recording.audio import AudioError
from callcenter.recording.audiofile import probe
from callcenter.recording.pipeline import PermanentError, channels_for_take, transcribe_take
from callcenter.recording.settings import RecordingSettings
from callcenter.recording.transcriber import Transcriber, WhisperTranscriber

__all__ = ["group_takes", "transcribe_paths"]

_AUDIO_EXTS = {".wav", ".raw", ".sln", ".slin", ".sln16", ".ulaw", ".ul", ".pcm", ".alaw", ".al"}
_ROLE = re.compile(r"^(?P<base>.+?)[-_](?P<role>rx|tx|stereo)(?P<rest>\..*)?$", re.IGNORECASE)


@dataclass(slots=True)
class Take:
    name: str
    files: dict[str, Path] = field(default_factory=dict)


def group_takes(paths: Sequence[Path]) -> list[Take]:
    """Group files into takes by their base name; a 2-channel file is a stereo take (left = customer)."""
    takes: dict[str, Take] = {}
    for path in paths:
        name = path.name
        if path.suffix.lower() in _AUDIO_EXTS:
            name = name[: -len(path.suffix)]
        match = _ROLE.match(name)
        base, role = (match["base"], match["role"].lower()) if match else (name, "mix")
        if role == "mix":
            try:
                if probe(path).channels == 2:
                    role = "stereo"
            except (AudioError, OSError):
                pass  # reported when the take is transcribed
        take = takes.setdefault(str(path.parent / base), Take(name=base))
        take.files.setdefault(role, path)
    return list(takes.values())


class _Progress:
    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.live = stream.isatty()

    def step(self, index: int, name: str, speaker: str, done_s: float) -> None:
        if self.live:
            self.stream.write(f"\r[{index}/{self.total}] {name}: {speaker} {done_s:7.1f} s ")
            self.stream.flush()

    def line(self, text: str) -> None:
        self.stream.write(("\r" if self.live else "") + text + "\n")
        self.stream.flush()


def transcribe_paths(
    paths: Sequence[str | Path],
    *,
    settings: RecordingSettings | None = None,
    transcriber: Transcriber | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
    text: bool = False,
) -> list[dict[str, Any]]:
    """Transcribe each take; returns the results (also written to ``out``). A bad file is reported, not fatal."""
    settings = settings or RecordingSettings()
    out = out if out is not None else sys.stdout
    bar = _Progress(progress if progress is not None else sys.stderr, 0)
    transcriber = transcriber or WhisperTranscriber.from_settings(settings)
    takes = group_takes([Path(p) for p in paths])
    bar.total = len(takes)
    results: list[dict[str, Any]] = []
    audio_s = wall_s = 0.0
    for index, take in enumerate(takes, start=1):
        started = time.perf_counter()
        try:
            result = transcribe_take(
                channels_for_take(take.files), transcriber, window_s=settings.window_s,
                max_duration_s=settings.max_transcribe_s,
                progress=lambda speaker, done_s, i=index, n=take.name: bar.step(i, n, speaker, done_s),
            )
        except (PermanentError, OSError) as exc:
            bar.line(f"[{index}/{len(takes)}] {take.name}: error: {exc}")
            entry = {"take": take.name, "files": {k: str(v) for k, v in take.files.items()}, "error": str(exc)}
            results.append(entry)
            out.write(json.dumps(entry) + "\n")
            continue
        took = time.perf_counter() - started
        audio_s += result.duration_s
        wall_s += took
        rtf = took / result.duration_s if result.duration_s else 0.0
        bar.line(f"[{index}/{len(takes)}] {take.name}: {result.duration_s:.1f} s of audio in {took:.1f} s "
                 f"(real-time factor {rtf:.2f}), {len(result.turns)} turns")
        entry = {
            "take": take.name,
            "files": {k: str(v) for k, v in take.files.items()},
            "duration_s": round(result.duration_s, 2),
            "language": result.language,
            "model": result.model,
            "metrics": result.metrics,
            "conversation": result.conversation(),
        }
        results.append(entry)
        if text:
            out.write(f"== {take.name} ({result.duration_s:.1f} s)\n{result.text}\n")
        else:
            out.write(json.dumps(entry) + "\n")
        out.flush()
    if audio_s:
        bar.line(f"{len(takes)} recording(s), {audio_s:.1f} s of audio in {wall_s:.1f} s "
                 f"(real-time factor {wall_s / audio_s:.2f})")
    return results
