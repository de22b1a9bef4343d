"""log.format = "json": one JSON object per line, from a real `callcenter serve` process and from the formatter."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from callcenter.config import ConfigError, load_settings
from callcenter.logs import JsonFormatter
from tests.conftest import free_port

KEYS = {"time", "level", "logger", "message", "call_id"}


def test_the_setting_and_its_bad_value() -> None:
    assert load_settings(environ={"CALLCENTER_LOG__FORMAT": "JSON"}).log.is_json
    assert load_settings(environ={"CALLCENTER_LOG__AS_JSON": "true"}).log.is_json  # the older spelling
    assert not load_settings(environ={}).log.is_json
    with pytest.raises(ConfigError, match="CALLCENTER_LOG__FORMAT"):
        load_settings(environ={"CALLCENTER_LOG__FORMAT": "xml"})


def test_an_exception_and_a_multi_line_message_stay_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad \"value\"\nsecond line")
        except ValueError:
            logger.exception("failed for %s", "call ü", extra={"call_id": "1795390491.12"})
        logger.warning("two\nlines")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["level"] == "ERROR" and first["logger"] == "tests.json_logs" and first["call_id"] == "1795390491.12"
    assert first["message"] == "failed for call ü"
    assert first["exception"].startswith("Traceback") and 'ValueError: bad "value"\nsecond line' in first["exception"]
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert second["message"] == "two\nlines" and "exception" not in second


async def test_serve_logs_json_lines(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'cc.sqlite3'}",
        "CALLCENTER_HTTP__PORT": str(port),
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_LOG__FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "serve", "--no-simulator",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert f"serving on http://127.0.0.1:{port}" in line.decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 401  # logged by the access log, as JSON too
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    entries = [json.loads(line) for line in err.decode().splitlines() if line]
    assert entries and all(KEYS <= entry.keys() for entry in entries)
    assert {"callcenter.app", "aiohttp.access"} <= {entry["logger"] for entry in entries}
    assert any(entry["message"] == "database ready (sqlite)" for entry in entries)
    assert any("/metrics" in entry["message"] and "401" in entry["message"] for entry in entries)
