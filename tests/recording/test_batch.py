"""``callcenter transcribe PATH...``: files grouped into calls, one JSON line per call, progress on stderr."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from callcenter.recording.batch import group_takes, transcribe_paths
from callcenter.recording.cli import add_commands
from tests.recording.conftest import RX_TX_UID, STEREO_UID
from tests.recording.sound import wav_header_claiming


def test_files_are_grouped_into_calls(traces_dir: Path) -> None:
    takes = {t.name: t.files for t in group_takes(sorted((traces_dir / "recordings").iterdir()))}
    rx_tx = takes[f"inbound_agi_dial_answer__{RX_TX_UID}"]
    assert sorted(rx_tx) == ["mix", "rx", "tx"]
    assert sorted(takes[f"inbound_agi_dial_answer_cdr__{STEREO_UID}"]) == ["stereo"]  # the .raw and the sox copy
    assert len(takes) == 2


def test_transcribe_paths_real_recordings_and_a_bad_file(traces_dir: Path, tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(wav_header_claiming(channels=1, rate_hz=8000, data_bytes=100)[:30])
    src = traces_dir / "recordings"
    paths = [src / f"inbound_agi_dial_answer__{RX_TX_UID}{s}.wav" for s in ("", "-rx", "-tx")]
    paths.append(src / f"inbound_agi_dial_answer_cdr__{STEREO_UID}-stereo.raw")
    out, progress = io.StringIO(), io.StringIO()
    results = transcribe_paths([*paths, bad], transcriber=transcriber, out=out, progress=progress)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == results and len(lines) == 3
    for entry in lines[:2]:
        customer = " ".join(t["text"] for t in entry["conversation"] if t["speaker"] == "customer").lower()
        agent = " ".join(t["text"] for t in entry["conversation"] if t["speaker"] == "agent").lower()
        assert "widgets" in customer and "tomorrow" in customer and "calling" in agent
        assert entry["duration_s"] == 13.5 and entry["metrics"]["customer_talk_s"] > 4
    assert "not a WAV file" in lines[2]["error"] or "WAV" in lines[2]["error"]
    shown = progress.getvalue()
    assert "[1/3]" in shown and "real-time factor" in shown and "[3/3] broken: error" in shown


def test_cli_commands_parse() -> None:
    top = argparse.ArgumentParser()
    add_commands(top.add_subparsers(dest="command"))
    args = top.parse_args(["transcribe", "a.wav", "b-rx.wav", "--text"])
    assert args.paths == ["a.wav", "b-rx.wav"] and args.text and args.func.__name__ == "cmd_transcribe"
    args = top.parse_args(["worker", "--until-drained"])
    assert args.until_drained and args.max_jobs is None and args.func.__name__ == "cmd_worker"
