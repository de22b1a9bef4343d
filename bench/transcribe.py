"""Transcription: our pipeline against bare faster-whisper, same files, same model object, same run.

Ours: ``callcenter.recording.pipeline.transcribe_take`` on the recording as MixMonitor wrote it (r()/t() legs or the
option-D stereo .raw): numpy decoding, channel split, 8 -> 16 kHz resampling, speech windows, one Whisper pass per
speaker, merge, call metrics.
Baselines, on the same speakers' audio as 8 kHz WAV files (faster-whisper decodes and resamples them with PyAV):
  * ``WhisperModel.transcribe`` with the same decoding options (beam size, language, word timestamps);
  * ``BatchedInferencePipeline.transcribe`` (batch_size 8, its default VAD), the same options otherwise.

Files: the real recordings in tests/data/ami-traces/recordings, a reference set of synthesised calls with known
text (espeak-ng when installed, else the committed clips in callcenter/pbxsim/voices), and one long call made of those
(hold music on the agent's leg first, then the reference calls one after another with pauses between them) - the
case where the two baselines differ most. The reference and long calls give the word error rate per method.

    python bench/transcribe.py [--rounds 3] [--calls 6] [--long-s 180] [--beam-size 5] [--make-clips]

Prints a table, then ONE JSON line of figures (overhead ratio vs the faster baseline, real-time factors, WER).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from callcenter.recording.audiofile import MappedAudio  # noqa: E402
from callcenter.recording.pipeline import channels_for_take, transcribe_take  # noqa: E402
from callcenter.recording.transcriber import WhisperTranscriber  # noqa: E402
from callcenter.recording.transcript import AGENT, CUSTOMER  # noqa: E402

RECORDINGS = REPO.parent / "shared" / "ami-traces" / "recordings"
CLIPS = REPO / "callcenter" / "pbxsim" / "voices"
RATE_HZ = 8000

# Reference calls for the word error rate: (customer lines, agent lines), spoken in turns.
SCRIPT = [
    (["Hello, my printer arrived broken and I would like a refund."],
     ["I am sorry to hear that. I will send you a replacement printer today."]),
    (["Can you tell me when my order will be delivered?"], ["Your order will arrive on Friday morning."]),
    (["I was charged twice for my subscription this month."],
     ["Thank you for letting us know. I can see the second payment and I will cancel it now."]),
    (["My internet connection keeps dropping every evening."],
     ["Please restart the router and tell me if the light turns green."]),
    (["I would like to change the address on my account."], ["Of course. What is the new street and city?"]),
    (["Could you please call me back tomorrow after lunch?"], ["Certainly, I have booked a call for two in the afternoon."]),
]


@dataclass
class Call:
    name: str
    files: dict[str, Path]  # what MixMonitor wrote: rx/tx legs or a stereo file (ours)
    speakers: dict[str, Path]  # one 8 kHz WAV per speaker (the baselines)
    duration_s: float
    reference: dict[str, str] = field(default_factory=dict)  # speaker -> known text


# -- inputs -------------------------------------------------------------------------------------------------------

def write_wav(path: Path, samples: np.ndarray) -> Path:
    import wave

    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(pcm.tobytes())
    return path


def read_mono(path: Path, channel: int = 0) -> np.ndarray:
    audio = MappedAudio.open(path)
    try:
        return audio.read()[:, channel].copy()
    finally:
        audio.close()


def espeak(text: str, voice: str, out: Path) -> np.ndarray:
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE_HZ), "-c", "1", "-b", "16", "-e", "signed-integer", str(out)],
                   check=True)
    raw.unlink()
    return read_mono(out)


def synthesised_calls(tmp: Path, count: int) -> list[Call]:
    """Turn-taking calls with known text: espeak-ng if installed, else the committed clips."""
    have_espeak = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
    if have_espeak:
        script = SCRIPT[:count]
    else:
        manifest = json.loads((CLIPS / "manifest.json").read_text())
        script = [([manifest["clips"][c]["text"] for c in call["customer"]],
                   [manifest["clips"][a]["text"] for a in call["agent"]]) for call in manifest["calls"]]
    calls = []
    for i, (customer_lines, agent_lines) in enumerate(script):
        parts: dict[str, list[np.ndarray]] = {CUSTOMER: [], AGENT: []}
        for speaker, lines, voice in ((CUSTOMER, customer_lines, "en-us"), (AGENT, agent_lines, "en-us+f3")):
            for j, line in enumerate(lines):
                if have_espeak:
                    parts[speaker].append(espeak(line, voice, tmp / f"s{i}-{speaker}-{j}.wav"))
                else:
                    name = (manifest["calls"][i]["customer"] if speaker == CUSTOMER else manifest["calls"][i]["agent"])[j]
                    parts[speaker].append(read_mono(CLIPS / name))
        # Agent greets... customer speaks, agent answers, with short pauses, on a shared clock.
        t = 0.6
        placed: dict[str, list[tuple[float, np.ndarray]]] = {CUSTOMER: [], AGENT: []}
        for speaker in (CUSTOMER, AGENT):
            for clip in parts[speaker]:
                placed[speaker].append((t, clip))
                t += len(clip) / RATE_HZ + 0.7
        duration_s = t + 0.5
        tracks = {}
        for speaker in (CUSTOMER, AGENT):
            track = np.random.default_rng(i).normal(0, 3e-4, int(duration_s * RATE_HZ)).astype(np.float32)
            for start, clip in placed[speaker]:
                a = int(start * RATE_HZ)
                track[a : a + len(clip)] += clip
            tracks[speaker] = track
        rx = write_wav(tmp / f"call{i}-rx.wav", tracks[CUSTOMER])
        tx = write_wav(tmp / f"call{i}-tx.wav", tracks[AGENT])
        calls.append(Call(name=f"synth{i}", files={"rx": rx, "tx": tx}, speakers={CUSTOMER: rx, AGENT: tx},
                          duration_s=duration_s,
                          reference={CUSTOMER: " ".join(customer_lines), AGENT: " ".join(agent_lines)}))
    return calls


def hold_music(n: int) -> np.ndarray:
    """What a queue plays to the caller before an agent answers (MixMonitor records it on the agent's leg)."""
    t = np.arange(n) / RATE_HZ
    notes = np.array([262.0, 330.0, 392.0, 523.0])
    return (0.04 * np.sin(2 * np.pi * notes[(t * 2).astype(int) % len(notes)] * t)).astype(np.float32)


def long_call(tmp: Path, reference: list[Call], *, min_duration_s: float, hold_s: float = 30.0,
              pause_s: float = 8.0) -> Call:
    """Hold music, then the reference calls back to back with pauses, until ``min_duration_s``: a long call with
    known text (the hold music is not speech: it must not appear in the transcript)."""
    tracks = {CUSTOMER: [np.zeros(int(hold_s * RATE_HZ), np.float32)],
              AGENT: [hold_music(int(hold_s * RATE_HZ))]}
    text: dict[str, list[str]] = {CUSTOMER: [], AGENT: []}
    duration_s = hold_s
    rng = np.random.default_rng(11)
    while duration_s < min_duration_s:
        for call in reference:
            for speaker in (CUSTOMER, AGENT):
                tracks[speaker].append(read_mono(call.speakers[speaker]))
                tracks[speaker].append(rng.normal(0, 3e-4, int(pause_s * RATE_HZ)).astype(np.float32))
                text[speaker].append(call.reference[speaker])
            duration_s += call.duration_s + pause_s
            if duration_s >= min_duration_s:
                break
    rx = write_wav(tmp / "long-rx.wav", np.concatenate(tracks[CUSTOMER]))
    tx = write_wav(tmp / "long-tx.wav", np.concatenate(tracks[AGENT]))
    return Call(name="long", files={"rx": rx, "tx": tx}, speakers={CUSTOMER: rx, AGENT: tx}, duration_s=duration_s,
                reference={k: " ".join(v) for k, v in text.items()})


def real_calls(tmp: Path) -> list[Call]:
    calls = []
    uid = "inbound_agi_dial_answer__1795390491.0"
    rx, tx = RECORDINGS / f"{uid}-rx.wav", RECORDINGS / f"{uid}-tx.wav"
    if rx.exists():
        calls.append(Call(name="real-rx-tx", files={"rx": rx, "tx": tx}, speakers={CUSTOMER: rx, AGENT: tx},
                          duration_s=13.5))
    stereo = RECORDINGS / "inbound_agi_dial_answer_cdr__1795390948.9-stereo.raw"
    if stereo.exists():
        left = write_wav(tmp / "stereo-left.wav", read_mono(stereo, 0))
        right = write_wav(tmp / "stereo-right.wav", read_mono(stereo, 1))
        calls.append(Call(name="real-stereo-raw", files={"stereo": stereo}, speakers={CUSTOMER: left, AGENT: right},
                          duration_s=13.5))
    return calls


# -- methods ------------------------------------------------------------------------------------------------------

Method = Callable[[Call], dict[str, str]]


def make_methods(transcriber: WhisperTranscriber, beam_size: int) -> dict[str, Method]:
    from faster_whisper import BatchedInferencePipeline

    model = transcriber.load()  # one model object for all three: the comparison is about what is around it
    batched = BatchedInferencePipeline(model)
    options = {"language": "en", "beam_size": beam_size, "word_timestamps": True, "condition_on_previous_text": False}

    def ours(call: Call) -> dict[str, str]:
        result = transcribe_take(channels_for_take(call.files), transcriber)
        return {s: " ".join(t.text for t in result.turns if t.speaker == s) for s in (CUSTOMER, AGENT)}

    def bare(call: Call) -> dict[str, str]:
        out = {}
        for speaker, path in call.speakers.items():
            segments, _ = model.transcribe(str(path), vad_filter=False, **options)
            out[speaker] = " ".join(s.text.strip() for s in segments)
        return out

    def bare_batched(call: Call) -> dict[str, str]:
        out = {}
        for speaker, path in call.speakers.items():
            segments, _ = batched.transcribe(str(path), batch_size=8, **options)
            out[speaker] = " ".join(s.text.strip() for s in segments)
        return out

    return {"ours": ours, "whisper_transcribe": bare, "whisper_batched": bare_batched}


# -- word error rate ------------------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


# -- main ---------------------------------------------------------------------------------------------------------

def make_clips() -> None:
    manifest = json.loads((CLIPS / "manifest.json").read_text())
    for name, spec in manifest["clips"].items():
        raw = CLIPS / f"{name}.espeak.wav"
        subprocess.run(["espeak-ng", "-v", spec["voice"], "-s", "150", "-w", str(raw), spec["text"]], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", "-b", "8", str(CLIPS / name)],
                       check=True)
        raw.unlink()
        print("wrote", CLIPS / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=6, help="synthesised reference calls (espeak-ng)")
    parser.add_argument("--long-s", type=float, default=180.0, help="length of the long call (0: none)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--make-clips", action="store_true", help="regenerate callcenter/pbxsim/voices and exit")
    args = parser.parse_args()
    if args.make_clips:
        make_clips()
        return 0

    transcriber = WhisperTranscriber(beam_size=args.beam_size)
    t0 = time.perf_counter()
    transcriber.load()
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        reference = synthesised_calls(tmp, args.calls)
        if args.long_s > 0:
            reference.append(long_call(tmp, reference, min_duration_s=args.long_s))
        calls = real_calls(tmp) + reference
        audio_s = sum(c.duration_s for c in calls)
        methods = make_methods(transcriber, args.beam_size)
        for method in methods.values():  # warm-up: first-call allocations are not what we measure
            method(calls[0])
        times: dict[str, list[float]] = {name: [] for name in methods}
        long_times: dict[str, list[float]] = {name: [] for name in methods}
        texts: dict[str, dict[str, dict[str, str]]] = {name: {} for name in methods}
        for round_no in range(args.rounds):
            # Rotate the order each round so that no method always runs on a warmer (or hotter) machine.
            order = list(methods)[round_no % len(methods):] + list(methods)[: round_no % len(methods)]
            for name in order:
                started = time.perf_counter()
                for call in calls:
                    call_started = time.perf_counter()
                    texts[name][call.name] = methods[name](call)
                    if call.name == "long":
                        long_times[name].append(time.perf_counter() - call_started)
                times[name].append(time.perf_counter() - started)

    wall = {name: statistics.median(t) for name, t in times.items()}
    wer = {}
    for name in methods:
        errors = total = 0
        for call in reference:
            for speaker, ref in call.reference.items():
                r = words(ref)
                errors += edit_distance(r, words(texts[name][call.name].get(speaker, "")))
                total += len(r)
        wer[name] = errors / total if total else None
    fastest_baseline = min(wall["whisper_transcribe"], wall["whisper_batched"])
    overhead = wall["ours"] / fastest_baseline - 1

    print(f"model: {transcriber.name} (loaded in {load_s:.2f} s), {os.cpu_count()} cores, beam {args.beam_size}")
    print(f"{len(calls)} calls ({len(reference)} synthesised with known text, the longest "
          f"{max(c.duration_s for c in calls):.0f} s), {audio_s:.1f} s of audio, "
          f"median of {args.rounds} rounds")
    print(f"{'method':<22}{'wall s':>9}{'RTF':>8}{'WER':>8}")
    for name in methods:
        print(f"{name:<22}{wall[name]:>9.2f}{wall[name] / audio_s:>8.3f}{(wer[name] or 0):>8.3f}")
    print(f"overhead vs the faster baseline: {overhead * 100:+.1f} % (target < 10 %)")
    print("sample (ours):", json.dumps(texts["ours"].get("real-rx-tx", {}))[:300])
    figures = {
        "bench": "transcribe",
        "model": transcriber.name,
        "cores": os.cpu_count(),
        "beam_size": args.beam_size,
        "calls": len(calls),
        "reference_calls": len(reference),
        "long_call_s": round(max(c.duration_s for c in calls), 1),
        "audio_s": round(audio_s, 1),
        "rounds": args.rounds,
        "wall_s": {k: round(v, 3) for k, v in wall.items()},
        "rtf": {k: round(v / audio_s, 4) for k, v in wall.items()},
        "wer": {k: (round(v, 4) if v is not None else None) for k, v in wer.items()},
        "long_call_wall_s": {k: round(statistics.median(v), 3) for k, v in long_times.items() if v},
        "overhead_vs_fastest_baseline": round(overhead, 4),
        "overhead_target_met": overhead < 0.10,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
