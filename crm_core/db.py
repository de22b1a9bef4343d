"""Database engine and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crm_core import audit

ACTOR_KEY = "actor_id"
READ_ONLY = "callcenter_read_only"


def normalise_url(url: str) -> URL:
    """Accept the plain driver names operators write and pick the async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below is the one that counts.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes can fail at once with "database is locked" instead of
        # waiting; taking the write lock up front makes concurrent writers queue on busy_timeout instead. A reader
        # (READ_ONLY) takes no lock: in WAL mode it never waits for writers.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    # JIT off for the service's sessions: its statements are indexed lookups and reports built to answer in
    # milliseconds, whose cost estimates (a correlated subquery per row, a queue table's stale statistics) still cross
    # jit_above_cost; compiling then took 0.4 s of a 0.5 s saved-report page and 1.3 s of a 0.1 s call report.
    kwargs["connect_args"] = {"server_settings": {"jit": "off"}}
    return create_async_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs)


class Database:
    """The engine plus a session factory; `session()` is one transaction that commits or rolls back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # PostgreSQL: a READ ONLY transaction (asyncpg starts it so, no extra round trip); SQLite: no write lock.
        reader = engine.execution_options(**{READ_ONLY: True, "postgresql_readonly": True})
        self._readers = async_sessionmaker(reader, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
        return cls(create_engine(url, echo=echo, pool_size=pool_size))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, *, actor_id: int | None = None) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            session.info[ACTOR_KEY] = actor_id
            async with session.begin():
                yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads (the call path's lookups): it neither queues behind writers nor can write."""
        async with self._readers() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


audit.install(ACTOR_KEY)
