"""res_agi's side of FastAGI: connect to the service, send the agi_* environment, run its commands on the channel.

The request block has the shape of the captured sessions (tests/data/ami-traces/*.agi): the same 23 agi_* lines in the
same order, then agi_arg_N, then a blank line. Each command is announced as AGIExecStart, takes effect (SET VARIABLE
-> VarSet) and ends with AGIExecEnd before the reply line goes back, as Asterisk does. The session ends when the
server closes the socket; AGISTATUS is SUCCESS then, FAILURE when the server could not be reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from callcenter.pbxsim.channels import Channel

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["agi_args", "run_fastagi"]

log = logging.getLogger("callcenter.pbxsim.agi")

AST_VERSION = "20.20.1"


def agi_args(command: str) -> list[str]:
    """Split one AGI command line like res_agi's parse_args: whitespace separates, double quotes group, \\ escapes."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for ch in command:
        if escaped:
            current.append(ch)
            escaped = False
            started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


def _environment(pbx: Pbx, ch: Channel, url: str, args: list[str]) -> list[str]:
    parts = urlsplit(url)
    script = parts.path.lstrip("/")
    if not ch.agi_threadid:
        ch.agi_threadid = str(140_693_000_000_000 + pbx.ids.randbits(20))
    thread_id = ch.agi_threadid
    lines = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", url),
        ("agi_channel", ch.name),
        ("agi_language", ch.language),
        ("agi_type", ch.tech),
        ("agi_uniqueid", ch.uniqueid),
        ("agi_version", AST_VERSION),
        ("agi_callerid", ch.caller_num or "unknown"),
        ("agi_calleridname", ch.caller_name or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", ch.dnid),
        ("agi_rdnis", "unknown"),
        ("agi_context", ch.context),
        ("agi_extension", ch.exten),
        ("agi_priority", str(ch.priority)),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ch.account_code),
        ("agi_threadid", thread_id),
    ]
    lines += [(f"agi_arg_{i}", arg) for i, arg in enumerate(args, 1)]
    return [f"{key}: {value}" for key, value in lines]


async def run_fastagi(pbx: Pbx, ch: Channel, url: str, args: list[str]) -> str:
    """Run one FastAGI session for ``ch``; returns the AGISTATUS value (SUCCESS, FAILURE or HANGUP)."""
    parts = urlsplit(url)
    host, port = pbx.agi_address(parts.hostname or "127.0.0.1", parts.port or 4573)
    started_s = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), pbx.config.agi_connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        log.warning("FastAGI %s:%d unreachable for %s: %s", host, port, ch.name, exc)
        return "FAILURE"
    status = "SUCCESS"
    try:
        writer.write(("\n".join(_environment(pbx, ch, url.split(",")[0], args)) + "\n\n").encode())
        await writer.drain()
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), pbx.config.agi_command_timeout_s)
            except TimeoutError:
                log.warning("FastAGI server silent for %s s on %s; giving up", pbx.config.agi_command_timeout_s, ch.name)
                break
            if not raw:
                break  # the server closed the connection: AGI() returns
            command = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not command:
                continue
            if not ch.alive or ch.has("bye"):
                writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel or intercepted channel\n")
                await writer.drain()
                status = "HANGUP"
                continue
            reply = _execute(pbx, ch, command)
            writer.write(reply.encode() + b"\n")
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        pbx.stats.agi_round_trips_s.append(time.perf_counter() - started_s)
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return status


def _execute(pbx: Pbx, ch: Channel, command: str) -> str:
    command_id = pbx.ids.command_id()
    pbx.emit.agi_exec_start(ch, command_id, command)
    words = agi_args(command)
    verb = " ".join(w.upper() for w in words[:2])
    reply = "200 result=1"
    if verb == "SET VARIABLE" and len(words) >= 4:
        pbx.set_var(ch, words[2], words[3])
    elif verb == "SET VARIABLE" and len(words) == 3:
        pbx.set_var(ch, words[2], "")
    elif verb == "GET VARIABLE" and len(words) >= 3:
        value = pbx.get_var(ch, words[2])
        reply = "200 result=0" if value is None else f"200 result=1 ({value})"
    elif words and words[0].upper() in ("VERBOSE", "NOOP"):
        pass
    elif verb == "CHANNEL STATUS":
        reply = f"200 result={ch.state}"
    elif verb == "GET FULL" or verb == "DATABASE GET":
        reply = "200 result=0"
    else:
        pbx.emit.agi_exec_end(ch, command_id, command, 510, "Invalid or unknown command")
        return "510 Invalid or unknown command"
    pbx.emit.agi_exec_end(ch, command_id, command, 200, "Success")
    return reply
