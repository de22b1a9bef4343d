"""The simulator against the real Asterisk 20 captures (tests/data/ami-traces): same events, same headers, same
outcomes.

Each covered capture is re-enacted on the simulator set up like the capture PBX (its config/extensions.conf and
queues.conf, agents 1002-1006 with static contacts, 1007 without a contact), with the capture's own timings and a
FastAGI server that sends the capture's own commands. One fresh AMI connection records the bytes, as the capture
tooling did. Then:

* per thread (channel, device, queue member, bridge, system) the event sequences are equal: event names, the set of
  headers of every event, and every value that is not an id, a time, an address or a counter carried over from
  the capture PBX's earlier calls (see tests/pbxsim/streams.py for the lists);
* the global order agrees with the capture's up to races inside a burst (events < 2 ms apart, where Asterisk's
  channel threads interleave differently from run to run);
* the action responses (and list items) are equal;
* our own parser and tracker (AmiIngest) draw the same conclusions from both streams.

Deliberate differences, and why:
* RTCPSent/RTCPReceived are not simulated: periodic RTP reports that the service drops at the parser.
* SuccessfulAuth is simulated (same headers); its addresses and SessionID are masked like every address.
* Captures not covered: originate_local_agent_first (Local channel pairs and their optimisation are not simulated:
  the dialer's agent-first Originate gets OriginateResponse Failure from the simulator), the ``_cdr`` captures
  (cdr_manager/cel_manager are off in the default config, as they were for every other capture) and module_reload
  (triggered from the Asterisk CLI, which has no AMI action in the capture to replay).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentStateChanged, CallEnded
from callcenter.pbxsim.scenarios import TRACE_SCENARIOS, Scenario
from tests.pbxsim.harness import RawAmiClient, run_capture, simulated
from tests.pbxsim.streams import events, order_violations, thread_differences

COVERED = sorted(TRACE_SCENARIOS)


def test_every_capture_is_covered_or_excused(traces_dir: Path) -> None:
    excused = {"originate_local_agent_first", "inbound_agi_dial_answer_cdr", "module_reload", "asterisk_restart",
               "asterisk_restart_reconnect"}  # the two restart streams are checked by test_restart_matches_capture
    captures = {p.stem for p in traces_dir.glob("*.ami")}
    assert captures - excused == set(COVERED)


@pytest.fixture(scope="module")
def captures(traces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every covered scenario simulated once for this module (all of them together take well under a second)."""

    async def run_all() -> dict[str, Any]:
        out = {}
        for name in COVERED:
            out[name] = await run_capture(traces_dir, TRACE_SCENARIOS[name], tmp_path_factory.mktemp(name))
        return out

    return asyncio.run(run_all())


@pytest.mark.parametrize("name", COVERED)
def test_events_match_capture_per_thread(name: str, traces_dir: Path, captures: dict[str, Any]) -> None:
    real, _ = events((traces_dir / f"{name}.ami").read_bytes())
    sim, _ = events(captures[name].streams[0])
    assert Counter(e.name for e in sim) == Counter(e.name for e in real)
    assert thread_differences(real, sim) == []


@pytest.mark.parametrize("name", COVERED)
def test_global_order_matches_capture_across_bursts(name: str, traces_dir: Path, captures: dict[str, Any]) -> None:
    real, _ = events((traces_dir / f"{name}.ami").read_bytes())
    sim, _ = events(captures[name].streams[0])
    assert order_violations(real, sim) == []


@pytest.mark.parametrize("name", COVERED)
def test_responses_match_capture(name: str, traces_dir: Path, captures: dict[str, Any]) -> None:
    _, real = events((traces_dir / f"{name}.ami").read_bytes())
    _, sim = events(captures[name].streams[0])
    assert sim == real


def _ingest(data: bytes) -> tuple[list[CallEnded], list[AgentStateChanged], AmiIngest]:
    out: list[Any] = []
    ingest = AmiIngest(tracker=CallTracker(), publish=out.append)
    ingest.feed_bytes(data)
    return ([e for e in out if isinstance(e, CallEnded)], [e for e in out if isinstance(e, AgentStateChanged)],
            ingest)


def _outcome(call: CallEnded) -> dict[str, Any]:
    return {
        "direction": call.direction, "outcome": call.outcome, "caller": call.caller, "did": call.did,
        "customer": call.customer, "answered_by": call.answered_by, "agents_rung": call.agents_rung,
        "agents_talked": call.agents_talked, "attempts": [(a.agent, a.queue, a.result) for a in call.attempts],
        "hangup_cause": call.hangup_cause, "hung_up_by": call.hung_up_by, "queue": call.queue,
        "recordings": [Path(r).name.split("-", 1)[-1] if "-" in Path(r).name else "main" for r in call.recordings],
        "campaign": call.campaign, "originate_action_id": call.originate_action_id,
    }


@pytest.mark.parametrize("name", COVERED)
def test_tracker_draws_the_same_conclusions(name: str, traces_dir: Path, captures: dict[str, Any]) -> None:
    real_calls, real_agents, real_ingest = _ingest((traces_dir / f"{name}.ami").read_bytes())
    sim_calls, sim_agents, sim_ingest = _ingest(captures[name].streams[0])
    assert [_outcome(c) for c in sim_calls] == [_outcome(c) for c in real_calls]
    for real, sim in zip(real_calls, sim_calls):
        # the scenario replays the capture's timings: waits and talk agree to the scenario's rounding
        assert sim.wait_s == pytest.approx(real.wait_s, abs=0.6)
        assert sim.talk_s == pytest.approx(real.talk_s, abs=0.6)
    assert [(a.agent, a.state, a.reason) for a in sim_agents] == [(a.agent, a.state, a.reason) for a in real_agents]
    assert (sim_ingest.counters.parse_errors, sim_ingest.counters.unknown_events, sim_ingest.malformed_frames) == (0, 0, 0)
    assert sim_ingest.tracker.open_calls() == []


def test_fastagi_requests_have_the_captured_shape(traces_dir: Path, captures: dict[str, Any]) -> None:
    """The agi_* environment the simulator sends: same keys in the same order, same values but the thread id."""
    from tests.agi.agi_peer import load_transcript

    for name in ("inbound_agi_dial_answer", "inbound_busy", "queue_timeout"):
        recorded = [s.request_lines for s in load_transcript(traces_dir / f"{name}.agi")]
        sent = captures[name].agi.requests
        assert len(sent) == len(recorded)
        for lines, headers in zip(recorded, sent):
            real = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in lines)
            assert list(headers) == list(real)
            masked = {"agi_threadid", "agi_uniqueid", "agi_channel"}
            assert {k: v for k, v in headers.items() if k not in masked} == {
                k: v for k, v in real.items() if k not in masked}


def test_recordings_are_written_like_mixmonitor(captures: dict[str, Any]) -> None:
    """inbound_agi_dial_answer: <uid>.wav, -rx.wav, -tx.wav, 8 kHz 16-bit mono, as long as the talk (13.5 s)."""
    import wave

    files = sorted(captures["inbound_agi_dial_answer"].pbx.recorder.files)
    assert [f.name for f in files] == ["1795390490.0-rx.wav", "1795390490.0-tx.wav", "1795390490.0.wav"]
    for path in files:
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
            assert w.getnframes() / 8000 == pytest.approx(13.5, abs=0.01)


async def test_restart_matches_capture(traces_dir: Path, tmp_path: Path) -> None:
    """`core restart now`: Shutdown, the socket closes without Goodbye, and after the reconnect FullyBooted says
    Uptime 0 (asterisk_restart.ami + asterisk_restart_reconnect.ami)."""
    scenario = Scenario(name="asterisk_restart", steps=())
    async with simulated(traces_dir, scenario, tmp_path) as (pbx, server, clock, _agi):
        await clock.advance(6.0)  # the capture PBX had been up a few seconds
        first = RawAmiClient()
        await first.connect(server.port)
        await first.wait_for(b"Event: SuccessfulAuth")
        await clock.advance(1.0)
        await server.restart(down_s=0.05)
        await asyncio.wait_for(first.closed.wait(), 5.0)
        second = RawAmiClient()
        await second.connect(server.port)
        await second.wait_for(b"Event: SuccessfulAuth")
        await second.logoff()
        await first.close()
        await second.close()
    for sim_bytes, capture in ((first.data, "asterisk_restart.ami"), (second.data, "asterisk_restart_reconnect.ami")):
        real, real_responses = events((traces_dir / capture).read_bytes())
        sim, sim_responses = events(bytes(sim_bytes))
        assert thread_differences(real, sim) == []
        assert sim_responses == real_responses
    assert b"Uptime: 0\r\n" in second.data and b"Goodbye" not in first.data
