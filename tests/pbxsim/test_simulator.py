"""Whole-simulator properties: a seed reproduces a run byte for byte; recordings keep the two sides apart."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.ami.agi import FastAgiServer
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.recordings import RATE_HZ
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from callcenter.pbxsim.traffic import CallerMix, ScriptedCall, Traffic
from tests.pbxsim.harness import CAPTURE_MANAGER_CONF, RawAmiClient

_VOLATILE = re.compile(rb"127\.0\.0\.1[:/]\d+|/[^\s,]*/(?=[^/\s]+\.(?:wav|raw))|SessionID: 0x[0-9a-f]+")


async def _traffic_run(tmp: Path, seed: int) -> bytes:
    phones = tuple(AgentPhone(extension=e, answer_probability=0.7, answer_delay_s=(1.0, 8.0))
                   for e in ("1002", "1003", "1004"))
    sim = Simulator(settings=SimulatorSettings(phones=phones, seed=seed, monitor_dir=tmp, record_audio=False,
                                               manager_conf=CAPTURE_MANAGER_CONF),
                    clock=VirtualClock(auto=False, start_epoch_s=1_800_000_000.0))
    agi = FastAgiServer(host="127.0.0.1", port=0, default_queue="sales", queue_timeout_s=60)
    await sim.start()
    await agi.start()
    sim.set_agi_address("127.0.0.1", agi.port)
    client = RawAmiClient()
    try:
        await client.connect(sim.ami_port)
        await client.wait_for(b"Event: SuccessfulAuth")
        for ext in ("1002", "1003"):
            await client.send((("Action", "QueueAdd"), ("ActionID", ext), ("Queue", "sales"),
                               ("Interface", f"PJSIP/{ext}")))
        traffic = Traffic(pbx=sim.pbx, seed=seed, mix=CallerMix(patience_s=(5.0, 40.0), talk_s=(10.0, 60.0)))
        sim.clock.spawn(traffic.poisson(rate_per_s=0.1, duration_s=300.0), name="traffic")
        await sim.clock.advance(600.0)
        assert traffic.offered > 15 and not sim.pbx.live_channels()
        await client.logoff()
    finally:
        await client.close()
        await agi.stop()
        await sim.stop()
    return _VOLATILE.sub(b"<masked>", bytes(client.data))


async def test_a_seed_reproduces_the_stream(tmp_path: Path) -> None:
    first = await _traffic_run(tmp_path / "a", seed=3)
    second = await _traffic_run(tmp_path / "b", seed=3)
    other = await _traffic_run(tmp_path / "c", seed=4)
    assert first == second
    assert first != other
    assert first.count(b"Event: Hangup\r\n") > 15


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE_HZ, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


async def _one_answered_call(tmp: Path, **settings: object) -> Simulator:
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp,
                                               **settings),  # type: ignore[arg-type]
                    clock=VirtualClock(auto=False, start_epoch_s=1_800_000_000.0))
    await sim.start()
    sim.set_agi_address("127.0.0.1", 9)  # no FastAGI: the dialplan's fail-open queue
    sim.server.ops.queue_add(queue=sim.pbx.dialplan.globals["CC_FALLBACK_QUEUE"], interface="PJSIP/1002",
                             member_name="1002", state_interface="PJSIP/1002", penalty=0, paused=False, reason="")
    sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=4.0))
    sim.call(Caller(number="+12125550100", did="8001", talk_s=20.0))
    await sim.clock.advance(60.0)
    await sim.stop()
    return sim


async def test_leg_recordings_separate_customer_and_agent(tmp_path: Path) -> None:
    """rx = the customer only, tx = the agent only (hold music before the answer), mix = both; queue hold is
    recorded because the caller is Up (Answer() before Queue())."""
    sim = await _one_answered_call(tmp_path)
    main, rx, tx = (tmp_path / name for name in ("1800000000.0.wav", "1800000000.0-rx.wav", "1800000000.0-tx.wav"))
    assert sorted(sim.pbx.recorder.files) == sorted([main, rx, tx])
    a, b, mix = _read(rx), _read(tx), _read(main)
    assert len(a) == len(b) == len(mix)
    assert abs(len(a) / RATE_HZ - 24.0) < 0.05  # 4 s of hold + 20 s of talk
    hold = int(3.9 * RATE_HZ)
    assert np.abs(a[:hold]).max() == 0 and np.abs(b[:hold]).max() > 0  # music to the caller only
    talk_a, talk_b = np.abs(a[hold + RATE_HZ:]) > 0, np.abs(b[hold + RATE_HZ:]) > 0
    assert talk_a.any() and talk_b.any()
    assert (talk_a & talk_b).mean() < 0.05  # they take turns: the sides hardly overlap
    assert np.allclose(mix, np.clip(a + b, -32768, 32767), atol=1)


async def test_stereo_option_writes_one_interleaved_raw(tmp_path: Path) -> None:
    sim = await _one_answered_call(tmp_path, dialplan_globals={"CC_RECORD_STEREO": "yes"})
    (raw,) = sim.pbx.recorder.files
    assert raw.name == "1800000000.0-stereo.raw"
    samples = np.frombuffer(raw.read_bytes(), dtype="<i2").reshape(-1, 2)
    assert abs(len(samples) / RATE_HZ - 24.0) < 0.05
    assert np.abs(samples[: 3 * RATE_HZ, 0]).max() == 0 and np.abs(samples[: 3 * RATE_HZ, 1]).max() > 0


async def test_speech_from_a_scenario_is_used(tmp_path: Path, traces_dir: Path) -> None:
    speech = traces_dir / "media" / "caller_8k.wav"
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path),
                    clock=VirtualClock(auto=False, start_epoch_s=1_800_000_000.0))
    await sim.start()
    sim.set_agi_address("127.0.0.1", 9)
    sim.server.ops.queue_add(queue=sim.pbx.dialplan.globals["CC_FALLBACK_QUEUE"], interface="PJSIP/1002",
                             member_name="1002", state_interface="PJSIP/1002", penalty=0, paused=False, reason="")
    sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=0.0))
    sim.call(Caller(number="+12125550100", did="8001", talk_s=30.0, speech=speech))
    await sim.clock.advance(60.0)
    await sim.stop()
    rx = next(p for p in sim.pbx.recorder.files if p.name.endswith("-rx.wav"))
    recorded = _read(rx)
    original = _read(speech)
    lead = int(np.flatnonzero(original)[0])  # the file starts with silence
    start = int(np.flatnonzero(recorded)[0]) - lead
    assert np.array_equal(recorded[start:start + len(original)], original)


async def test_bursts_and_scripted_calls_arrive_when_asked(tmp_path: Path) -> None:
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path,
                                               record_audio=False),
                    clock=VirtualClock(auto=False, start_epoch_s=1_800_000_000.0))
    await sim.start()
    sim.set_agi_address("127.0.0.1", 9)
    traffic = Traffic(pbx=sim.pbx, seed=2)
    sim.clock.spawn(traffic.burst(count=3, spacing_s=0.5), name="burst")
    named = Caller(number="+4930123456", did="8002", patience_s=5.0, label="vip")
    sim.clock.spawn(traffic.script([ScriptedCall(at_s=10.0, caller=named)]), name="script")
    await sim.clock.advance(9.0)
    starts = sorted(r.started_s - 1_800_000_000.0 for r in sim.pbx.calls.values())
    assert starts == pytest.approx([0.0, 0.5, 1.0], abs=0.01)
    await sim.clock.advance(2.0)
    vip = [r for r in sim.pbx.calls.values() if r.caller == "+4930123456"]
    assert [(r.did, round(r.started_s - 1_800_000_000.0, 2)) for r in vip] == [("8002", 10.0)]
    await sim.clock.advance(300.0)
    assert traffic.offered == 4 and all(r.outcome == "abandoned" for r in sim.pbx.calls.values())
    await sim.stop()
