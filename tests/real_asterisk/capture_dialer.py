"""Capture ground truth for the dialer's customer-first call from a real Asterisk into tests/data/ami-traces (not a
test; run by hand, with CALLCENTER_TEST_ASTERISK or `asterisk` on PATH, sipp, espeak-ng and sox):

    python3 -m tests.real_asterisk.capture_dialer <scenario> [<out dir>]

The real-Asterisk tier's PBX with the shipped dialplans and amd.conf (capture_transfers.CaptureAsterisk: the captures'
own manager.conf, cdr_manager off), desk phones 1002/1003 (phone.xml), a sipp customer on the trunk's contact
(sipp/callee_answers.xml) speaking a greeting made with espeak-ng, and the information message cc-dialer-info (3.0 s,
as long as the simulator's Playback). The dialer's own Originate (callcenter.dialer.originate.originate_action) is sent
on one fresh AMI connection; the FastAGI server answers the campaign request as CampaignAgentRoute does (one CC_PLAN:
agent, ring seconds) and records the transcript in INDEX.md's .agi format.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callcenter.ami.agi_plan import plan_command
from callcenter.ami.channel_vars import DEFAULT_INFO_MESSAGE, NO_AGENT, ChannelVar, PlanTag
from callcenter.dialer.originate import AttemptDial, originate_action
from tests.real_asterisk.capture_transfers import TRACES, AgiRecorder, AmiCapture, CaptureAsterisk, live_channels
from tests.real_asterisk.pbx import AGI_PORT, Sipp, binaries, speech
from tests.real_asterisk.test_dialer_campaign import HUMAN_TEXT, INFO_TEXT, MACHINE_TEXT, ULAW, WAV_8K

PHONES = {"1002": 5072, "1003": 5073}
NUMBER = "+442071234567"


@dataclass(frozen=True)
class Plan:
    attempt_id: int
    greeting: str  # what the customer says on answering
    agent: str | None  # what the campaign route answers (None: nobody free)
    hold_ms: int  # the customer hangs up this long after answering, unless Asterisk hangs up first
    ring_ms: int = 1000


PLANS = {
    # a person ("Hello?"), agent 1002 answers at once; the customer hangs up 8 s after answering
    "dialer_connected": Plan(7001, HUMAN_TEXT, "1002", 8000),
    # a person, nobody free: the information message, then Asterisk hangs up
    "dialer_abandoned": Plan(7002, HUMAN_TEXT, None, 60_000),
    # an answering machine's long greeting: AMD MACHINE, hung up (the campaign's machine action: hangup)
    "dialer_machine": Plan(7003, MACHINE_TEXT, "1002", 60_000),
}


class CampaignAgiRecorder(AgiRecorder):
    """Answers [cc-campaign]'s request the way CampaignAgentRoute does."""

    def __init__(self, scenario: str, agent: str | None) -> None:
        super().__init__(scenario)
        answer = {ChannelVar.AGENT: agent or NO_AGENT, ChannelVar.AGENT_RING_S: "2"}
        self.COMMANDS = (plan_command(PlanTag.CAMPAIGN, answer),)


async def capture(name: str, out: Path) -> None:
    plan = PLANS[name]
    asterisk_bin, sipp_bin = binaries()
    assert asterisk_bin is not None and sipp_bin is not None
    root = Path(tempfile.mkdtemp(prefix=f"capture-{name}-"))
    pbx = CaptureAsterisk(binary=asterisk_bin, root=root / "asterisk", phones=PHONES)
    sipp = Sipp(binary=sipp_bin, root=root)
    await speech(plan.greeting, root / "greeting.ulaw", sox_format=ULAW, pad=(0.2, 3.0))
    pbx.sounds_dir.mkdir(parents=True, exist_ok=True)
    await speech(INFO_TEXT, pbx.sounds_dir / f"{DEFAULT_INFO_MESSAGE}.wav", sox_format=WAV_8K, pad=(0.0, 0.0),
                 length_s=3.0)
    agi = CampaignAgiRecorder(name, plan.agent)
    server = await asyncio.start_server(agi.serve, "127.0.0.1", AGI_PORT)
    await pbx.start()
    ami = AmiCapture()
    try:
        for ext, port in PHONES.items():
            await sipp.phone(ext, port, scenario="phone.xml")
        await sipp.callee("callee_answers.xml", fill={"GREETING": "greeting.ulaw", "RING_MS": str(plan.ring_ms),
                                                      "HOLD_MS": str(plan.hold_ms)})
        await ami.connect()
        await ami.until(lambda fs: any(f.get("Event") == "SuccessfulAuth" for f in fs))
        dial = AttemptDial(attempt_id=plan.attempt_id, campaign_id=42, action_id=f"dial-{plan.attempt_id}",
                           number_e164=NUMBER, caller_id_e164="+442070000000", caller_id_name="Acme Collections",
                           ring_s=20)
        action = originate_action(dial)
        headers = [(k, item) for k, v in action.items() for item in (v if isinstance(v, list) else [v])]
        await ami.send(tuple(headers))
        await ami.until(lambda fs: any(f.get("Event") == "Hangup" for f in fs) and not live_channels(fs), 90.0)
        while True:  # quiet for 1 s
            ami.changed.clear()
            try:
                await asyncio.wait_for(ami.changed.wait(), 1.0)
            except TimeoutError:
                break
        await ami.send((("Action", "Logoff"), ("ActionID", "logoff-1")))
        await asyncio.wait_for(ami.closed.wait(), 10)
    finally:
        await sipp.stop()
        await pbx.stop()
        server.close()
    (out / f"{name}.ami").write_bytes(bytes(ami.data))
    (out / f"{name}.actions").write_bytes(bytes(ami.actions))
    if agi.lines:
        (out / f"{name}.agi").write_text("\n".join(agi.lines) + "\n")
    print(f"{name}: {len(ami.frames())} frames, scratch in {root}")


if __name__ == "__main__":
    asyncio.run(capture(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else TRACES))
