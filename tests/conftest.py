"""Shared fixtures: real SQLite and PostgreSQL databases, real Redis, migrated with the project's migrations."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from crm_core.db import Database
from crm_core.migrate import upgrade
from crm_core.schema import Base
from tests.ami_conn.ami_peer import AmiPeer

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = os.environ.get("CALLCENTER_TEST_PG", f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres")
REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[1]
# Real Asterisk 20 captures, copied from the team's shared/ami-traces (never edited): a clone carries its ground truth.
TRACES = REPO / "tests" / "data" / "ami-traces"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A loopback port nothing listens on now (for a subprocess that must be told its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_service(name: str, host: str, port: int) -> None:
    """Outside CI a missing server skips with the reason; in CI it fails, because those tests must run there."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: tests that need it must run)")
    pytest.skip(message)


def _pg_admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head, dropped at the end."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"cc_test_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """An empty PostgreSQL database of the test's own, for tests that run whole instances (they migrate and seed it).
    An instance killed mid-transaction is one PostgreSQL drops the connection and locks of, as for a process that
    died, where a cancelled aiosqlite transaction would keep SQLite's one writer lock in this shared process."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"cc_empty_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test copies the file instead of migrating again."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


# Every model's table: a PostgreSQL test starts from empty tables (TRUNCATE fires no row trigger, so the call sums
# and their log are emptied with the calls).
TABLES = ", ".join(sorted(Base.metadata.tables))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "crm.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    _pg_admin_url(url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return url


def _pg_admin_url(url: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    """The real Asterisk captures the repository carries (tests/data/ami-traces)."""
    assert TRACES.is_dir(), f"{TRACES} is missing from the repository"
    return TRACES


@pytest.fixture(scope="session")
def trace_files(traces_dir: Path) -> list[Path]:
    files = sorted(traces_dir.glob("*.ami"))
    assert len(files) >= 20, files
    return files


@pytest.fixture
async def peer() -> AsyncIterator[AmiPeer]:
    """An AMI server speaking the captures' bytes (tests/ami_conn/ami_peer.py), secret "s3cret"."""
    server = AmiPeer(secret="s3cret")
    await server.start()
    yield server
    await server.close()
