"""A newcomer's first `callcenter serve` / `callcenter demo` next to something already on the port: one line that
says what to do, a non-zero exit, no traceback; and `serve --agi-port` moves the FastAGI listener."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.conftest import free_port

WAIT_S = 60.0


@contextmanager
def listening() -> Iterator[int]:
    """A port something already listens on (another program, a second `serve`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]



async def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'cc.sqlite3'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("flag", ["--port", "--agi-port"])
async def test_serve_on_a_busy_port_says_which_and_how_to_move(tmp_path: Path, flag: str) -> None:
    with listening() as busy:
        other = "--agi-port" if flag == "--port" else "--port"
        code, _out, err = await _run(tmp_path, "serve", "--no-simulator", flag, str(busy), other, str(free_port()))
    assert code != 0
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"port {busy} ({'HTTP' if flag == '--port' else 'FastAGI'}, 127.0.0.1) is in use" in line
    assert f"pass {flag} N" in line


async def test_demo_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with listening() as busy:
        code, _out, err = await _run(tmp_path, "demo", "--duration", "1", "--port", str(busy))
    assert code != 0 and "Traceback" not in err
    assert f"port {busy} (HTTP, 127.0.0.1) is in use: stop what uses it or pass --port N" in err
    assert not (tmp_path / "var").exists()  # nothing started, nothing written


async def test_serve_listens_for_fastagi_where_agi_port_says(tmp_path: Path) -> None:
    port, agi_port = free_port(), free_port()
    env = {**os.environ, "CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'cc.sqlite3'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "serve", "--no-simulator", "--port", str(port),
        "--agi-port", str(agi_port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), WAIT_S)).decode()  # type: ignore[union-attr]
        assert f"serving on http://127.0.0.1:{port} (FastAGI on 127.0.0.1:{agi_port}, database sqlite:///" in line
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", agi_port), WAIT_S)
        writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), WAIT_S)
