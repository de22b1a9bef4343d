"""FastAGI fixtures: a real server on 127.0.0.1 port 0 and the real transcripts (traces_dir is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.agi import FastAgiServer
from tests.agi.agi_peer import TranscriptSession, load_transcript

DEFAULT_QUEUE = "support"  # differs from the traces' "sales" so a fail-open answer is told apart from a replay
QUEUE_TIMEOUT_S = 90

ServerFactory = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[FastAgiServer] = []

    async def factory(**overrides: Any) -> FastAgiServer:
        kwargs: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "default_queue": DEFAULT_QUEUE,
            "queue_timeout_s": QUEUE_TIMEOUT_S,
        }
        kwargs.update(overrides)
        server = FastAgiServer(**kwargs)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


@pytest.fixture
def transcript(traces_dir: Path) -> Callable[[str], list[TranscriptSession]]:
    def load(name: str) -> list[TranscriptSession]:
        return load_transcript(traces_dir / f"{name}.agi")

    return load
