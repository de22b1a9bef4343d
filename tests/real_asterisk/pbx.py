"""A real Asterisk run from an installed binary with the project's shipped configs, and sipp desk phones and trunk.

The shipped extensions.conf, extensions_callcenter.conf, queues.conf, manager.conf, features.conf and amd.conf are
copied unchanged (manager.conf gains one more user after the shipped one: TAP_USER, which reads every class without
filters, for AmiTap); pjsip.conf
is the shipped one adapted only for where the phones are (static contacts on loopback instead of registrations, the
trunk on 127.0.0.2). Everything listens on loopback. Nothing here builds Asterisk: it runs the one it is given.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.pbxsim.simulator import DIALPLANS

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parent / "data" / "ami-traces" / "media"  # the captures' caller speech, raw u-law
# features.conf: its atxfer code is what AMI Atxfer (the transfer API's attended mode) feeds the agent's channel
# amd.conf: app_amd declines to load without it, and [cc-campaign]'s AMD() would not exist
SHIPPED_UNCHANGED = ("extensions.conf", "extensions_callcenter.conf", "queues.conf", "manager.conf", "features.conf",
                     "amd.conf")
TRUNK_IP = "127.0.0.2"  # the trunk's own loopback address: Asterisk identifies it by IP, as the sample says
TRUNK_PORT = 5060  # where the trunk AOR's contact sends calls out (the dialled customer's sipp listens there)
AMI_PORT = 5038  # the shipped manager.conf's
AGI_PORT = 4573  # the shipped dialplan's CC_AGI_HOSTPORT
AMI_SECRET = "change-me"  # the shipped manager.conf's
# AmiTap's own AMI user, appended to the copied manager.conf: every class, no eventfilter, so the tap shows what
# Asterisk published, beside what the shipped user (the service) is sent
TAP_USER = "tap"
TAP_SECRET = "tap-secret"


def binaries() -> tuple[Path | None, Path | None]:
    asterisk = os.environ.get("CALLCENTER_TEST_ASTERISK") or shutil.which("asterisk")
    sipp = os.environ.get("CALLCENTER_TEST_SIPP") or shutil.which("sipp")
    return (Path(asterisk) if asterisk else None), (Path(sipp) if sipp else None)


def _pjsip(phones: dict[str, int]) -> str:
    """The shipped pjsip.conf with its sample agents replaced by ours, each with a static contact on loopback."""
    text = (DIALPLANS / "pjsip.conf").read_text()
    text = text.replace("bind = 0.0.0.0:5060", "bind = 127.0.0.1:5060")
    head, _, rest = text.partition("[1001](agent-endpoint)")
    trunk = rest[rest.index("; ---------- trunk"):]
    trunk = trunk.replace("192.0.2.10", TRUNK_IP)
    agents = []
    for ext, port in phones.items():
        agents.append(
            f"[{ext}](agent-endpoint)\nauth = {ext}\naors = {ext}\ncallerid = \"Agent {ext}\" <{ext}>\n\n"
            f"[{ext}](agent-auth)\nusername = {ext}\npassword = change-me-{ext}\n\n"
            f"[{ext}](agent-aor)\ncontact = sip:{ext}@127.0.0.1:{port}\n\n"
        )
    return head + "".join(agents) + trunk


@dataclass
class RealAsterisk:
    binary: Path
    root: Path
    phones: dict[str, int]  # extension -> sipp UAS port
    process: asyncio.subprocess.Process | None = None
    log: list[str] = field(default_factory=list)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def monitor_dir(self) -> Path:
        return self.root / "spool" / "monitor"

    @property
    def conf(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def sounds_dir(self) -> Path:
        """sounds/en of this instance's astdatadir: a test puts the sound files its dialplan plays here (Playback
        looks a relative name up in <astdatadir>/sounds/<language>/)."""
        return self.root / "data" / "sounds" / "en"

    def _data_dir(self, installed: Path) -> Path:
        """astdatadir: the installed one's entries (its documentation XML above all) linked, but sounds/en a folder
        of this instance's own, so that a test's sounds never land in the installation."""
        data = self.sounds_dir.parent.parent
        self.sounds_dir.mkdir(parents=True, exist_ok=True)
        for src, dst, own in ((installed, data, "sounds"), (installed / "sounds", data / "sounds", "en"),
                              (installed / "sounds" / "en", self.sounds_dir, None)):
            for entry in sorted(src.iterdir()) if src.is_dir() else ():
                if entry.name != own and not (dst / entry.name).exists():
                    (dst / entry.name).symlink_to(entry)
        return data

    def write_configs(self) -> None:
        prefix = self.binary.resolve().parent.parent
        modules = os.environ.get("CALLCENTER_TEST_ASTERISK_MODULES") or str(prefix / "lib" / "asterisk" / "modules")
        data = self._data_dir(prefix / "var" / "lib" / "asterisk")  # its documentation XML: Stasis needs it
        self.etc.mkdir(parents=True, exist_ok=True)
        for sub in ("lib", "spool/monitor", "run", "log/cdr-csv", "log/cdr-custom", "log/cel-custom"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text(
            "[directories]\n"
            f"astetcdir => {self.etc}\nastmoddir => {modules}\nastvarlibdir => {r / 'lib'}\nastdbdir => {r / 'lib'}\n"
            f"astkeydir => {r / 'lib'}\nastdatadir => {data}\nastagidir => {r / 'lib'}\n"
            f"astspooldir => {r / 'spool'}\nastrundir => {r / 'run'}\nastlogdir => {r / 'log'}\n"
            f"astsbindir => {self.binary.parent}\n\n[options]\nverbose = 3\n"
        )
        # Modules that would open ports or need hardware are left out; everything the dialplans use autoloads.
        noload = ("chan_iax2", "chan_unistim", "chan_mgcp", "chan_skinny", "chan_dahdi", "res_ari", "res_http_websocket",
                  "chan_motif", "res_xmpp", "res_stir_shaken", "res_pjsip_stir_shaken", "pbx_dundi", "res_phoneprov",
                  "res_pjsip_phoneprov_provider", "chan_ooh323", "res_hep", "res_statsd", "res_prometheus")
        self.etc.joinpath("modules.conf").write_text(
            "[modules]\nautoload = yes\n" + "".join(f"noload => {m}.so\n" for m in noload)
        )
        self.etc.joinpath("logger.conf").write_text("[logfiles]\nmessages.log => notice,warning,error,verbose\n")
        self.etc.joinpath("cdr.conf").write_text("[general]\nenable = yes\n")
        self.etc.joinpath("cdr_manager.conf").write_text("[general]\nenabled = yes\n")
        for name in SHIPPED_UNCHANGED:
            shutil.copy(DIALPLANS / name, self.etc / name)
        with self.etc.joinpath("manager.conf").open("a") as conf:
            conf.write(f"\n[{TAP_USER}]\nsecret = {TAP_SECRET}\ndeny = 0.0.0.0/0.0.0.0\n"
                       "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = \n")
        self.etc.joinpath("pjsip.conf").write_text(_pjsip(self.phones))

    async def start(self) -> None:
        self.write_configs()
        self.process = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-f", "-n", "-q",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await self.wait_booted()

    async def wait_booted(self, timeout_s: float = 60.0) -> None:
        async def poll() -> None:
            while True:
                out = await self.cli("core waitfullybooted", check=False)
                if "fully booted" in out.lower():
                    return
                await asyncio.sleep(0.2)  # the control socket is not there yet: nothing to wait on but time

        await asyncio.wait_for(poll(), timeout_s)

    async def cli(self, command: str, *, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-rx", command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        text = out.decode(errors="replace")
        if check and proc.returncode != 0:
            raise RuntimeError(f"asterisk -rx {command!r} failed ({proc.returncode}): {text}")
        return text

    async def queue_members(self, queue: str) -> dict[str, str]:
        """`queue show` parsed: interface -> the rest of its line (paused, reason...)."""
        out = await self.cli(f"queue show {queue}")
        members = {}
        for line in out.splitlines():
            m = re.match(r"\s+(\S.*?) \((PJSIP/\d+)", line)
            if m:
                members[m.group(2)] = line.strip()
        return members

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        await self.cli("core stop now", check=False)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


@dataclass
class Sipp:
    binary: Path
    root: Path
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    next_port: int = 5200  # callers' own SIP ports on the trunk address
    # and their RTP ports: sipp binds the -mp port and the one two above it (video), so callers are 4 apart; a caller
    # still exiting kept the next caller's port (+2) and that caller never started ("Unable to bind audio RTP socket")
    next_media_port: int = 7000

    async def phone(self, ext: str, port: int, *, scenario: str = "uas", hold_ms: int | None = None,
                    ) -> asyncio.subprocess.Process:
        """A desk phone: by default one that answers every call (sipp's built-in UAS) and stays up until the other side
        hangs up; ``scenario`` names a file in sipp/ instead, ``hold_ms`` fills its @HOLD_MS@ (how long the phone keeps
        a call before it hangs up: a recv timeout, which sipp reads as a number only, so the file is written out)."""
        if scenario in ("uas",):
            args = ["-sn", scenario]
        else:
            path = HERE / "sipp" / scenario
            if hold_ms is not None:
                text = path.read_text().replace("@HOLD_MS@", str(hold_ms))
                path = self.root / f"phone-{ext}.xml"
                path.write_text(text)
            args = ["-sf", str(path)]
        # -rtp_echo: the phone sends back what it hears, so the agent side of a recording is not silent
        return await self._run(*args, "-i", "127.0.0.1", "-p", str(port), "-mp", str(port + 1000), "-rtp_echo",
                               name=f"phone-{ext}")

    async def callee(self, scenario: str, *, fill: dict[str, str], name: str = "callee",
                     ) -> asyncio.subprocess.Process:
        """A dialled customer behind the trunk: a sipp UAS on the trunk AOR's contact (TRUNK_IP:TRUNK_PORT) that takes
        one call as the scenario in sipp/ says and exits; ``fill`` replaces its @NAME@ placeholders. Returns once
        the SIP port is bound, so an Originate sent next cannot reach a port nobody listens on yet."""
        text = (HERE / "sipp" / scenario).read_text()
        for key, value in fill.items():
            text = text.replace(f"@{key}@", value)
        path = self.root / f"{name}.xml"
        path.write_text(text)
        proc = await self._run("-sf", str(path), "-i", TRUNK_IP, "-p", str(TRUNK_PORT),
                               "-mp", str(self._media_port()), "-m", "1", "-timeout", "180s", name=name)
        await wait_udp_bound(TRUNK_IP, TRUNK_PORT, proc)
        return proc

    async def call(self, *, caller: str, did: str, talk_ms: int, calls: int = 1) -> asyncio.subprocess.Process:
        """A customer calling the DID from the trunk (the process ends when sipp has placed and ended its calls)."""
        shutil.copy(MEDIA / "caller.ulaw", self.root / "caller.ulaw")
        proc = await self._run(
            "-sf", str(HERE / "sipp" / "caller.xml"), "-s", did, "-key", "caller", caller, "-d", str(talk_ms),
            "-mp", str(self._media_port()),
            "-i", TRUNK_IP, "-p", str(self._port()), "-m", str(calls), "-l", str(calls), "-timeout", "120s", "127.0.0.1:5060",
            name=f"caller-{caller}",
        )
        return proc

    async def second_line(self, ext: str, *, to: str, scenario: str, hold_ms: int, keys: dict[str, str],
                          ) -> asyncio.subprocess.Process:
        """A desk phone placing a call of its own (on a port beside its first line): ``ext`` authenticates with its
        pjsip.conf credentials and calls ``to``; ``hold_ms`` fills the scenario's @HOLD_MS@, ``keys`` its -key values."""
        text = (HERE / "sipp" / scenario).read_text().replace("@HOLD_MS@", str(hold_ms))
        path = self.root / f"line2-{ext}.xml"
        path.write_text(text)
        extra = [arg for key, value in {"agent": ext, **keys}.items() for arg in ("-key", key, value)]
        return await self._run(
            "-sf", str(path), "-s", to, *extra, "-au", ext, "-ap", f"change-me-{ext}", "-i", "127.0.0.1",
            "-p", str(self._port()), "-mp", str(self._media_port()), "-rtp_echo", "-m", "1", "-l", "1",
            "-timeout", "120s", "127.0.0.1:5060", name=f"line2-{ext}",
        )

    def _port(self) -> int:
        self.next_port += 1
        return self.next_port

    def _media_port(self) -> int:
        self.next_media_port += 4
        return self.next_media_port

    async def _run(self, *args: str, name: str) -> asyncio.subprocess.Process:
        log = self.root / f"{name}.log"
        proc = await asyncio.create_subprocess_exec(
            str(self.binary), *args, "-trace_err", "-error_file", str(log), "-nostdin",
            # every SIP message in and out: what happened on the wire when a test fails
            "-trace_msg", "-message_file", str(self.root / f"{name}.msg"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            cwd=self.root, start_new_session=True,
        )
        self.processes.append(proc)
        return proc

    async def stop(self) -> None:
        for proc in self.processes:
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.processes:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {out.decode(errors='replace')}")


async def speech(text: str, out: Path, *, sox_format: list[str], pad: tuple[float, float],
                 length_s: float | None = None) -> None:
    """``text`` spoken by espeak-ng, made 8 kHz mono by sox in ``sox_format``, with ``pad`` seconds of silence before /
    after, cut or padded to exactly ``length_s`` when given (the simulator's Playback lasts 3 s)."""
    wav = out.with_suffix(".espeak.wav")
    await _run("espeak-ng", "-v", "en", "-w", str(wav), text)
    effects = ["pad", str(pad[0]), str(pad[1])]
    if length_s is not None:
        effects += ["pad", "0", str(length_s), "trim", "0", str(length_s)]
    await _run("sox", str(wav), "-r", "8000", "-c", "1", *sox_format, str(out), *effects)


def _udp_bound(ip: str, port: int) -> bool:
    """Whether a socket is bound to ip:port over UDP (/proc/net/udp: little-endian hex address, hex port)."""
    local = "".join(f"{int(part):02X}" for part in reversed(ip.split("."))) + f":{port:04X}"
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(line.split()[1] == local for line in lines)


async def wait_udp_bound(ip: str, port: int, proc: asyncio.subprocess.Process, timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not _udp_bound(ip, port):
            if proc.returncode is not None:
                raise RuntimeError(f"sipp exited ({proc.returncode}) before binding {ip}:{port}")
            await asyncio.sleep(0.05)  # sipp says nothing when it is ready: the bound port is all there is to see

    await asyncio.wait_for(poll(), timeout_s)


@dataclass
class AmiTap:
    """A second AMI session beside the service's that writes everything Asterisk sends to a file: the events of a
    failing test as Asterisk published them (TAP_USER: every class, no eventfilter), to read next to the sipp message
    traces; ``events()`` are the same, for tests that watch the dialplan as an operator would."""

    path: Path
    task: asyncio.Task[None] | None = None
    data: bytearray = field(default_factory=bytearray)
    writer: asyncio.StreamWriter | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    pings: int = 0

    async def start(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
        self.writer.write(
            f"Action: Login\r\nUsername: {TAP_USER}\r\nSecret: {TAP_SECRET}\r\nEvents: on\r\n\r\n".encode())
        await self.writer.drain()
        self.task = asyncio.create_task(self._copy(reader, self.writer))

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self.path.open("ab") as out:
            try:
                while line := await reader.readline():
                    out.write(line)
                    self.data += line
                    self.changed.set()
            finally:
                writer.close()

    async def sync(self, timeout_s: float = 10.0) -> None:
        """Wait until the events Asterisk queued for the tap so far are read: a Ping's answer comes after them
        (manager.c do_message sends a session's pending events before it handles the next action)."""
        assert self.writer is not None
        self.pings += 1
        needle = f"ActionID: tap-sync-{self.pings}\r\n".encode()
        self.writer.write(f"Action: Ping\r\nActionID: tap-sync-{self.pings}\r\n\r\n".encode())
        await self.writer.drain()
        async with asyncio.timeout(timeout_s):
            while needle not in self.data:
                self.changed.clear()
                await self.changed.wait()

    def events(self) -> list[dict[str, str]]:
        """Every event read so far, as headers, in order."""
        out = []
        for block in bytes(self.data).decode("utf-8", "replace").split("\r\n\r\n"):
            headers = dict(line.partition(": ")[::2] for line in block.split("\r\n") if ": " in line)
            if "Event" in headers:
                out.append(headers)
        return out

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
