"""Capture ground truth for transfers from a real Asterisk into tests/data/ami-traces (not a test; run by hand):

    python3 -m tests.real_asterisk.capture_transfers <scenario> [<out dir>]

The real-Asterisk tier's PBX (tests/real_asterisk/pbx.py: the shipped dialplans and features.conf, sipp desk phones
1002/1003 and a sipp customer on the trunk), except that manager.conf is the captures' own (user callcenter, read =
all, write = all, tests/data/ami-traces/config/manager.conf) and the FastAGI server is a recorder that answers
cc-inbound the way the service routes a known customer (dial PJSIP/1002, 20 s): the .ami/.actions/.agi files are
then in the format of the older captures (see INDEX.md). One fresh AMI connection is opened before the customer
calls; the transfer action is sent on it, on the agent's channel, once the customer and A are bridged.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callcenter.ami.agi_plan import plan_command
from callcenter.ami.channel_vars import PLAN_FIELDS, ChannelVar, PlanTag
from tests.real_asterisk.pbx import AGI_PORT, AMI_PORT, RealAsterisk, Sipp, binaries

TRACES = Path(__file__).resolve().parents[1] / "data" / "ami-traces"
PHONES = {"1002": 5072, "1003": 5073}
CALLER, DID = "+12125550130", "8030"
EOL = b"\r\n"


@dataclass(frozen=True)
class Plan:
    action: str  # BlindTransfer | Atxfer
    after_answer_s: float  # from A's BridgeEnter to the action
    talk_ms: int  # the customer's talk time once answered (sipp -d)
    phones: dict[str, tuple[str, int | None]]  # ext -> sipp scenario, @HOLD_MS@
    transfer_rights: bool = True  # False: cc-inbound's Dial without its t option (not the shipped dialplan)


PLANS = {
    "api_blind_transfer": Plan("BlindTransfer", 3.0, 12000, {"1002": ("phone.xml", None), "1003": ("phone.xml", None)}),
    # A hangs up 4 s after answering the customer: 3 s after B answered the consultation
    "api_attended_transfer": Plan("Atxfer", 1.0, 10000,
                                  {"1002": ("phone_hangs_up.xml", 4000), "1003": ("phone.xml", None)}),
    # B answers the consultation and hangs up 1 s later; A and the customer talk on until the customer hangs up
    "api_attended_transfer_aborted": Plan("Atxfer", 1.0, 8000,
                                          {"1002": ("phone.xml", None), "1003": ("phone_hangs_up.xml", 1000)}),
    # the 'blond' transfer: A hangs up 1.5 s after answering, while B's phone still rings (4 s before it answers)
    "api_attended_transfer_blond": Plan("Atxfer", 0.5, 9000,
                                        {"1002": ("phone_hangs_up.xml", 1500), "1003": ("phone_rings.xml", 4000)}),
    # the colleague's phone answers 486 Busy: cc-agents sends the blind-transferred customer to the queue
    "api_blind_transfer_busy": Plan("BlindTransfer", 2.0, 8000,
                                    {"1002": ("phone.xml", None), "1003": ("phone_busy.xml", None)}),
    # cc-inbound's Dial without t: 1002 has no transfer rights, the Atxfer digits only pass through
    "api_atxfer_no_rights": Plan("Atxfer", 1.0, 5000, {"1002": ("phone.xml", None), "1003": ("phone.xml", None)},
                                 transfer_rights=False),
}


class CaptureAsterisk(RealAsterisk):
    transfer_rights = True

    def write_configs(self) -> None:
        super().write_configs()
        if not self.transfer_rights:
            path = self.etc / "extensions_callcenter.conf"
            text = path.read_text()
            assert ",t${CC_DIAL_OPTS})" in text
            path.write_text(text.replace(",t${CC_DIAL_OPTS})", ",${CC_DIAL_OPTS})"))
        shutil.copy(TRACES / "config" / "manager.conf", self.etc / "manager.conf")
        # cdr_manager off, as for every capture but the _cdr ones (the simulator's default too)
        self.etc.joinpath("cdr_manager.conf").write_text("[general]\nenabled = no\n")


class AgiRecorder:
    """FastAGI: records the transcript (INDEX.md's .agi format) and routes every call to 1002 like the service."""

    # the captures' own router answered with one SET VARIABLE per variable; the shipped dialplan reads one CC_PLAN
    # (fields left empty as that router left them unset: the overflow takes CC_FALLBACK_QUEUE)
    COMMANDS = ('VERBOSE "cc-router script=inbound did={did} attempt={attempt} last={last}" 1', "GET VARIABLE CC_ATTEMPT",
                plan_command(PlanTag.INBOUND, dict.fromkeys(PLAN_FIELDS[PlanTag.INBOUND], "") | {
                    ChannelVar.ACTION: "dial", ChannelVar.TARGET: "PJSIP/1002", ChannelVar.RING_TIMEOUT_S: "20"}))

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.lines: list[str] = []
        self.sessions = 0

    def log(self, session: int, direction: str, text: str) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.lines.append(f"{now} S{session} {direction} {text}".rstrip(" ") if direction != "A>" or text
                          else f"{now} S{session} A> ")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        n = self.sessions
        peer = writer.get_extra_info("peername")
        self.log(n, "--", f"connect from {peer[0]}:{peer[1]} scenario={self.scenario}")
        headers = {}
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            self.log(n, "A>", line)
            key, _, value = line.partition(": ")
            headers[key] = value
        self.log(n, "A>", "")
        for command in self.COMMANDS:
            command = command.format(did=headers.get("agi_extension"), attempt=headers.get("agi_arg_1"),
                                     last=headers.get("agi_arg_2"))
            self.log(n, "S>", command)
            writer.write(command.encode() + b"\n")
            await writer.drain()
            self.log(n, "A>", (await reader.readline()).decode().rstrip("\n"))
        self.log(n, "--", "server closes connection (routing decision done)")
        writer.close()


class AmiCapture:
    def __init__(self) -> None:
        self.data = bytearray()
        self.actions = bytearray()
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
        self.pump = asyncio.create_task(self._read())
        await self.send((("Action", "Login"), ("Username", "callcenter"), ("Secret", "callcenter"),
                         ("Events", "on"), ("ActionID", "login-1")))

    async def _read(self) -> None:
        while chunk := await self.reader.read(65536):
            self.data += chunk
            self.changed.set()
        self.closed.set()
        self.changed.set()

    def frames(self) -> list[dict[str, str]]:
        out = []
        for part in bytes(self.data).split(EOL + EOL):
            lines = [ln for ln in part.decode(errors="replace").split("\r\n") if ": " in ln]
            out.append(dict(ln.split(": ", 1) for ln in lines))
        return out

    async def until(self, predicate, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
        async def wait():  # type: ignore[no-untyped-def]
            while not (found := predicate(self.frames())):
                self.changed.clear()
                await self.changed.wait()
            return found
        return await asyncio.wait_for(wait(), timeout_s)

    async def send(self, action: tuple[tuple[str, str], ...]) -> None:
        raw = b"".join(f"{k}: {v}".encode() + EOL for k, v in action) + EOL
        self.actions += raw
        self.writer.write(raw)
        await self.writer.drain()
        action_id = dict(action)["ActionID"]
        await self.until(lambda fs: any(f.get("ActionID") == action_id and "Response" in f for f in fs))


def live_channels(frames: list[dict[str, str]]) -> set[str]:
    live: set[str] = set()
    for f in frames:
        if f.get("Event") == "Newchannel":
            live.add(f["Channel"])
        elif f.get("Event") == "Hangup":
            live.discard(f["Channel"])
    return live


async def capture(name: str, out: Path) -> None:
    plan = PLANS[name]
    asterisk_bin, sipp_bin = binaries()
    assert asterisk_bin is not None and sipp_bin is not None
    root = Path(tempfile.mkdtemp(prefix=f"capture-{name}-"))
    pbx = CaptureAsterisk(binary=asterisk_bin, root=root / "asterisk", phones=PHONES)
    pbx.transfer_rights = plan.transfer_rights
    sipp = Sipp(binary=sipp_bin, root=root)
    agi = AgiRecorder(name)
    server = await asyncio.start_server(agi.serve, "127.0.0.1", AGI_PORT)
    await pbx.start()
    ami = AmiCapture()
    try:
        for ext, port in PHONES.items():
            scenario, hold = plan.phones[ext]
            await sipp.phone(ext, port, scenario=scenario, hold_ms=hold)
        await ami.connect()
        await ami.until(lambda fs: any(f.get("Event") == "SuccessfulAuth" for f in fs))
        await asyncio.sleep(0.3)  # the phones' sipp processes are up
        await sipp.call(caller=CALLER, did=DID, talk_ms=plan.talk_ms)
        bridged = await ami.until(lambda fs: [f for f in fs if f.get("Event") == "BridgeEnter"
                                              and f["Channel"].startswith("PJSIP/1002-")])
        await asyncio.sleep(plan.after_answer_s)
        await ami.send((("Action", plan.action), ("ActionID", "xfer-1"), ("Channel", bridged[0]["Channel"]),
                        ("Exten", "1003"), ("Context", "cc-agents")))
        await ami.until(lambda fs: any(f.get("Event") == "Hangup" for f in fs) and not live_channels(fs), 60.0)
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
    (out / f"{name}.agi").write_text("\n".join(agi.lines) + "\n")
    print(f"{name}: {len(ami.frames())} frames, scratch in {root}")


if __name__ == "__main__":
    asyncio.run(capture(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else Path(os.getcwd())))
