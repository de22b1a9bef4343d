"""run_replay / main: one JSON line per finished call, then one line of counts."""

from __future__ import annotations

import io
import json
from pathlib import Path

from callcenter.calls.replay import main, run_replay

CALL_KEYS = {"call_id", "direction", "caller", "did", "outcome", "answered_by", "agents_rung", "wait_s", "talk_s",
             "hangup_cause", "recordings"}


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_replay_of_a_capture(traces_dir: Path) -> None:
    out = io.StringIO()
    assert run_replay((traces_dir / "inbound_dial_noanswer_fallback.ami").read_bytes(), out) == 0
    call, counts = lines_of(out.getvalue())
    assert CALL_KEYS <= set(call)
    assert {k: call[k] for k in CALL_KEYS - {"recordings"}} == {
        "call_id": "1795390509.2", "direction": "inbound", "caller": "+12125550102", "did": "8002",
        "outcome": "answered", "answered_by": "1002", "agents_rung": ["1003", "1002"], "wait_s": 10.027,
        "talk_s": 12.005, "hangup_cause": 16,
    }
    assert call["recordings"][0] == "/var/spool/asterisk/monitor/1795390509.2.wav"
    assert counts == {"events": 162, "unknown_events": 0, "malformed_frames": 0, "calls": 1, "parse_errors": 0,
                      "open_calls": 0}


def test_main_with_several_files_and_bad_bytes(traces_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.ami"
    broken.write_bytes(b"Asterisk Call Manager/9.0.0\r\nEvent: Foo\r\nno colon\r\n\r\nEvent: Mystery\r\nA: b\r\n\r\n")
    out = io.StringIO()
    files = [str(traces_dir / "concurrent_calls_5.ami"), str(broken), str(traces_dir / "queue_abandoned.ami")]
    assert main(files, out=out) == 0
    rows = lines_of(out.getvalue())
    assert [r["outcome"] for r in rows[:-1]] == ["answered"] * 5 + ["abandoned"]
    assert rows[-1] == {"events": 519 + 1 + 88, "unknown_events": 1, "malformed_frames": 1, "calls": 6,
                        "parse_errors": 0, "open_calls": 0}


def test_main_missing_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([str(tmp_path / "nope.ami")], out=io.StringIO()) == 2
    assert "cannot read" in capsys.readouterr().err


def test_unfinished_call_is_counted_open(traces_dir: Path) -> None:
    data = (traces_dir / "queue_answered.ami").read_bytes()
    out = io.StringIO()
    run_replay(data[: data.index(b"Event: AgentComplete")], out)
    (counts,) = lines_of(out.getvalue())
    assert (counts["calls"], counts["open_calls"]) == (0, 1)
