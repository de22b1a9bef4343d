"""`callcenter serve` as a real process: comes up on SQLite, answers health, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
from tests.conftest import free_port



async def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'cc.sqlite3'}",
        "CALLCENTER_HTTP__PORT": str(port),
        "CALLCENTER_AGI__PORT": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        # Without telephony: readiness then depends only on the database (the simulator has its own test).
        sys.executable, "-m", "callcenter.cli", "serve", "--no-simulator",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert f"serving on http://127.0.0.1:{port}" in line.decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200
                assert (await resp.json())["checks"]["database"] == "ok"
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "callcenter stopped" in out.decode()
    log = err.decode()
    assert "database ready (sqlite)" in log
    # One line per event: every log line starts with a timestamp (tracebacks would be indented).
    assert all(line[:4].isdigit() or line.startswith("    ") for line in log.splitlines() if line)


async def test_bad_config_exits_with_the_key_named(tmp_path: Path) -> None:
    env = {**os.environ, "CALLCENTER_HTTP__PORT": "eighty"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert "CALLCENTER_HTTP__PORT" in err.decode()
