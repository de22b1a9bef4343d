"""Test plumbing around the simulator: a raw AMI client that records every byte, a FastAGI server replaying a
capture's commands, and a builder for the simulator set up like the capture PBX (tests/data/ami-traces/config)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from callcenter.pbxsim.ami_server import AmiServer
from callcenter.pbxsim.atxfer import load_atxfer_code
from callcenter.pbxsim.callmodel import Caller
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.dialplan import Dialplan
from callcenter.pbxsim.manager_conf import load_manager_conf
from callcenter.pbxsim.pbx import Pbx, PbxConfig
from callcenter.pbxsim.queues import load_queues_conf, read_persistent_members
from callcenter.pbxsim.scenarios import Scenario, capture_phones, play
from tests.agi.agi_peer import load_transcript

EOL = b"\r\n"
# The captures' timestamps start here; the simulator's clock too, so that Uniqueids look alike.
CAPTURE_EPOCH_S = 1_795_390_490.0
# The capture PBX's manager.conf (user callcenter/callcenter, read = all, write = all): tests that connect like the
# capture tooling use it; the shipped callcenter/dialplans/manager.conf grants less (tests/pbxsim/test_strictness.py).
CAPTURE_MANAGER_CONF = Path(__file__).resolve().parents[1] / "data" / "ami-traces" / "config" / "manager.conf"


def frames_of(data: bytes) -> list[list[tuple[str, str]]]:
    """Every message of a raw AMI stream as ordered (header, value) pairs (banner lines dropped)."""
    out = []
    for part in data.split(EOL + EOL):
        lines = [line for line in part.decode("utf-8", "replace").split("\r\n") if line]
        lines = [line for line in lines if not line.startswith("Asterisk Call Manager/")]
        if lines:
            out.append([(k, v) for k, _, v in (line.partition(": ") for line in lines)])
    return out


class RawAmiClient:
    """A plain socket client: logs in like the capture tooling and keeps the exact bytes it receives."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.closed = asyncio.Event()

    async def connect(self, port: int, *, secret: str = "callcenter", action_id: str = "login-1") -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
        self._pump = asyncio.create_task(self._read())
        await self.send((("Action", "Login"), ("Username", "callcenter"), ("Secret", secret), ("Events", "on"),
                         ("ActionID", action_id)))

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while chunk := await self._reader.read(65536):
                self.data += chunk
                self._changed.set()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def wait_for(self, needle: bytes, *, timeout_s: float = 10.0) -> None:
        async def wait() -> None:
            while needle not in self.data:
                if self.closed.is_set():
                    raise ConnectionError(f"closed before {needle!r}")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout_s)

    async def send(self, action: tuple[tuple[str, str], ...]) -> None:
        """Send one action and wait for its response (matched by ActionID)."""
        assert self._writer is not None
        self._writer.write(b"".join(f"{k}: {v}".encode() + EOL for k, v in action) + EOL)
        await self._writer.drain()
        action_id = dict(action).get("ActionID")
        if action_id:
            await self.wait_for(f"ActionID: {action_id}\r\n".encode())

    async def logoff(self) -> None:
        await self.send((("Action", "Logoff"), ("ActionID", "logoff-1")))
        await asyncio.wait_for(self.closed.wait(), 10.0)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)


class TranscriptAgi:
    """FastAGI server that answers the n-th connection with the n-th session's commands of a capture transcript."""

    def __init__(self, transcript: Path | None) -> None:
        self.sessions = load_transcript(transcript) if transcript is not None and transcript.exists() else []
        self.requests: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.requests)
        headers: dict[str, str] = {}
        self.requests.append(headers)
        try:
            while (line := (await reader.readline()).decode().rstrip("\n")) != "":
                key, _, value = line.partition(": ")
                headers[key] = value
            commands = self.sessions[index].commands if index < len(self.sessions) else []
            for command in commands:
                writer.write(command.encode() + b"\n")
                await writer.drain()
                await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@dataclass
class Capture:
    """What one simulated scenario produced."""

    streams: list[bytes]  # one per AMI connection, as received
    pbx: Pbx
    agi: TranscriptAgi


def capture_pbx(traces: Path, scenario: Scenario, clock: VirtualClock, monitor_dir: Path) -> Pbx:
    config = traces / scenario.config
    customers = dict(scenario.customers)
    return Pbx(
        clock=clock,
        dialplan=Dialplan.load(config / "extensions.conf"),
        phones=list(scenario.phones or capture_phones()),
        queues=load_queues_conf(config / "queues.conf"),
        seed=7,
        config=PbxConfig(monitor_dir=monitor_dir, atxfer_code=load_atxfer_code(config / "features.conf"),
                         music_on_hold=scenario.music_on_hold),
        customers=lambda number: customers.get(number, Caller(number=number)),
        persistent_members=read_persistent_members(config / "queues.conf"),
    )


@contextlib.asynccontextmanager
async def simulated(traces: Path, scenario: Scenario, tmp: Path) -> AsyncIterator[tuple[Pbx, AmiServer, VirtualClock,
                                                                                        TranscriptAgi]]:
    clock = VirtualClock(start_epoch_s=CAPTURE_EPOCH_S, auto=False)
    pbx = capture_pbx(traces, scenario, clock, tmp / "monitor")
    agi = TranscriptAgi(traces / f"{scenario.name}.agi")
    await agi.start()
    pbx.set_agi_address("127.0.0.1", agi.port)
    # the captures' manager.conf: user callcenter, read = all, write = all
    server = AmiServer(pbx=pbx, users=load_manager_conf(traces / scenario.config / "manager.conf"))
    await server.start()
    try:
        yield pbx, server, clock, agi
    finally:
        await server.stop()
        await agi.stop()
        await clock.cancel_all()
        await pbx.recorder.flush()


async def run_capture(traces: Path, scenario: Scenario, tmp: Path) -> Capture:
    """Re-enact a capture: one fresh AMI connection before the scenario, Logoff after it, as the capture tooling."""
    async with simulated(traces, scenario, tmp) as (pbx, server, clock, agi):
        client = RawAmiClient()
        await client.connect(server.port)
        await client.wait_for(b"Event: SuccessfulAuth")
        await play(scenario, pbx=pbx, clock=clock, send=client.send)
        await client.logoff()
        await client.close()
        assert not clock.errors, clock.errors
        return Capture(streams=[bytes(client.data)], pbx=pbx, agi=agi)
