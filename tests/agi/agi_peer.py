"""Asterisk's side of FastAGI for tests: replays request headers from real .agi transcripts over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.ami.agi_plan import decode_plan
from callcenter.ami.channel_vars import ChannelVar, DialplanFunction

_LINE_RE = re.compile(r"^(?P<time>\S+) (?P<session>S\d+) (?P<dir>A>|S>|--)(?: (?P<text>.*))?$")


@dataclass
class TranscriptSession:
    """One FastAGI session of a transcript: what Asterisk sent before the blank line, and what the server sent."""

    session_id: str
    request_lines: list[str] = field(default_factory=list)  # agi_* lines, without the terminating blank line
    commands: list[str] = field(default_factory=list)
    request_complete: bool = False

    def request_bytes(self) -> bytes:
        return "".join(f"{line}\n" for line in self.request_lines).encode() + b"\n"

    def header(self, key: str) -> str:
        for line in self.request_lines:
            name, _, value = line.partition(": ")
            if name == key:
                return value
        raise KeyError(key)

    def set_variables(self) -> dict[str, str]:
        return dict(parse_set_variables(self.commands))


def load_transcript(path: Path) -> list[TranscriptSession]:
    """Sessions in order of first appearance; interleaved sessions are separated by their S<n> id."""
    sessions: dict[str, TranscriptSession] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _LINE_RE.match(raw)
        if match is None:
            raise ValueError(f"{path.name}: unparsable transcript line {raw!r}")
        session = sessions.setdefault(match["session"], TranscriptSession(match["session"]))
        text = match["text"] or ""
        if match["dir"] == "A>" and not session.request_complete:
            if text == "":
                session.request_complete = True
            else:
                session.request_lines.append(text)
        elif match["dir"] == "S>":
            session.commands.append(text)
    result = list(sessions.values())
    if not result or not all(s.request_complete for s in result):
        raise ValueError(f"{path.name}: a session has no complete request")
    return result


def asterisk_parse_args(line: str) -> list[str]:
    """res_agi.c parse_args(): whitespace splits, double quotes group, a backslash makes the next char literal."""
    argv: list[str] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append("")
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            argv.append("")
            whitespace = False
        argv[-1] += ch
        escaped = False
    return argv


def parse_set_variables(commands: list[str]) -> list[tuple[str, str]]:
    """(name, value) of every SET VARIABLE command, as Asterisk would store them; a CC_PLAN answer as the shipped
    dialplan unpacks it (its fields in plan order; an empty CALLERID(name) is skipped, as the dialplan does)."""
    pairs: list[tuple[str, str]] = []
    for command in commands:
        argv = asterisk_parse_args(command)
        if [word.upper() for word in argv[:2]] == ["SET", "VARIABLE"]:
            if len(argv) != 4:
                raise AssertionError(f"SET VARIABLE needs exactly a name and a value: {command!r} -> {argv}")
            if argv[2] == ChannelVar.PLAN:
                _, fields = decode_plan(argv[3])
                pairs += [(str(name), value) for name, value in fields.items()
                          if value or name is not DialplanFunction.CALLER_NAME]
            else:
                pairs.append((argv[2], argv[3]))
    return pairs


@dataclass
class PeerResult:
    commands: list[str]
    closed_by_server: bool


async def play_asterisk(
    port: int,
    request: bytes,
    *,
    replies: list[bytes] | None = None,
    default_reply: bytes = b"200 result=1\n",
) -> PeerResult:
    """Send one request like Asterisk, answer each command (replies[i] for the i-th, then default_reply) and
    collect the commands until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    commands: list[str] = []
    try:
        writer.write(request)
        await writer.drain()
        while True:
            try:
                line = await reader.readline()
            except ConnectionResetError:
                return PeerResult(commands, closed_by_server=True)
            if not line:
                return PeerResult(commands, closed_by_server=True)
            commands.append(line.decode().rstrip("\n"))
            reply = replies[len(commands) - 1] if replies and len(commands) <= len(replies) else default_reply
            if reply:
                writer.write(reply)
                await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def wait_closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server still sends, until it closes the connection."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""
