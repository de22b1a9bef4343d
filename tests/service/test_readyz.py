"""/readyz reports every configured dependency: the database and, when configured, Redis."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from callcenter.app import build_app
from callcenter.config import load_settings
from tests.conftest import REDIS_URL, require_service


def _settings(tmp_path: Path, redis_url: str) -> Any:
    return load_settings(
        environ={"CALLCENTER_DATABASE__URL": f"sqlite:///{tmp_path / 'r.sqlite3'}", "CALLCENTER_REDIS__URL": redis_url, "CALLCENTER_AGI__PORT": "0"}
    )


async def test_ready_with_real_redis(tmp_path: Path, aiohttp_client: Any) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = await aiohttp_client(build_app(_settings(tmp_path, REDIS_URL)))
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {"database": "ok", "redis": "ok"}


async def test_not_ready_when_redis_is_down(tmp_path: Path, aiohttp_client: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    client = await aiohttp_client(build_app(_settings(tmp_path, f"redis://127.0.0.1:{dead}/0")))
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["status"] == "unavailable" and body["checks"]["redis"].startswith("down")
    assert body["checks"]["database"] == "ok"
    # Liveness is separate: the process still answers.
    assert (await client.get("/healthz")).status == 200
