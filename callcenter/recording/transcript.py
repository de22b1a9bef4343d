"""Transcripts as plain data (pure): words and segments per speaker, merged into one conversation.

Each side of a call is transcribed on its own channel, so speaker labels are exact (no diarisation guesswork); the
merge only has to interleave the two sides in time and group a speaker's consecutive segments into turns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CUSTOMER", "AGENT", "UNKNOWN", "Segment", "Turn", "Word", "conversation_text", "merge_channels", "shift",
           "split_at_pauses"]

CUSTOMER: Final = "customer"
AGENT: Final = "agent"
UNKNOWN: Final = "unknown"  # a mono mix: both voices in one channel


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "text": self.text,
                "p": round(self.probability, 3)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    speaker: str
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(slots=True, kw_only=True)
class Turn:
    """One speaker's uninterrupted stretch of speech; ``overlap`` = the other side talked during it."""

    speaker: str
    start_s: float
    end_s: float
    text: str
    words: list[Word] = field(default_factory=list)
    overlap: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "start_s": round(self.start_s, 2),
            "end_s": round(self.end_s, 2),
            "text": self.text,
            "overlap": self.overlap,
            "words": [w.as_dict() for w in self.words],
        }


def shift(segments: Iterable[Segment], offset_s: float) -> list[Segment]:
    """Segments of a window that started ``offset_s`` into the channel, in channel time."""
    if offset_s == 0:
        return list(segments)
    return [
        Segment(
            speaker=s.speaker,
            start_s=s.start_s + offset_s,
            end_s=s.end_s + offset_s,
            text=s.text,
            words=tuple(Word(start_s=w.start_s + offset_s, end_s=w.end_s + offset_s, text=w.text,
                             probability=w.probability) for w in s.words),
        )
        for s in segments
    ]


def split_at_pauses(segment: Segment, *, min_pause_s: float = 1.0) -> list[Segment]:
    """One segment per stretch of speech: split where the speaker paused at least ``min_pause_s`` between words.

    A batched Whisper chunk holds up to 30 s of one channel's speech with the pauses cut out, so it can span several
    of the speaker's turns, with the other side talking in between on its own channel; split back by word times, the
    turns interleave as they happened. A segment without word times stays whole.
    """
    words = segment.words
    if len(words) < 2:
        return [segment]
    out: list[Segment] = []
    start = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].start_s - words[i - 1].end_s >= min_pause_s:
            part = words[start:i]
            out.append(Segment(speaker=segment.speaker, start_s=part[0].start_s, end_s=part[-1].end_s,
                               text=_join(w.text for w in part), words=part))
            start = i
    return out if len(out) > 1 else [segment]


def _join(parts: Iterable[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def merge_channels(by_speaker: Mapping[str, Sequence[Segment]], *, max_gap_s: float = 1.5) -> list[Turn]:
    """Interleave the speakers' segments by start time into turns.

    A speaker's next segment joins their current turn when nobody else started speaking in between and the pause is
    under ``max_gap_s``; a segment that starts while the other side's turn is still running marks both turns as
    overlapping (overtalk, interruptions). Ties in start time keep a stable order (customer before agent).
    """
    order = {name: i for i, name in enumerate(by_speaker)}
    segments = sorted(
        (s for segs in by_speaker.values() for s in segs if s.text.strip()),
        key=lambda s: (s.start_s, order.get(s.speaker, 99), s.end_s),
    )
    turns: list[Turn] = []
    for seg in segments:
        last = turns[-1] if turns else None
        if last is not None and last.speaker == seg.speaker and seg.start_s - last.end_s < max_gap_s:
            last.end_s = max(last.end_s, seg.end_s)
            last.text = _join((last.text, seg.text))
            last.words.extend(seg.words)
            continue
        turn = Turn(speaker=seg.speaker, start_s=seg.start_s, end_s=seg.end_s, text=seg.text.strip(),
                    words=list(seg.words))
        # Overlap with any earlier turn of another speaker still running when this one starts.
        for earlier in reversed(turns):
            if earlier.end_s <= seg.start_s - 60:
                break
            if earlier.speaker != seg.speaker and earlier.end_s > seg.start_s:
                earlier.overlap = turn.overlap = True
        turns.append(turn)
    return turns


def conversation_text(turns: Sequence[Turn]) -> str:
    """"speaker: text" lines: what the full-text index sees and what a human skims."""
    return "\n".join(f"{t.speaker}: {t.text}" for t in turns)
