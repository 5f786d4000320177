"""Fixtures of the tools' tests: one migrated database a module, the built-in and a fake backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from app.db.embedded import EmbeddedPostgres
from app.functions.business_client import BusinessClient
from tests.conftest import migrated_engine
from tests.doubles.server import serve_app
from tests.functions.tool_support import CALL, NOW, PROFILE, TOKEN, FakeBackend, client_for


@pytest.fixture(scope="module")
async def shared_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres, "tools") as engine:
        yield engine


@pytest.fixture
async def engine(shared_engine: AsyncEngine) -> AsyncEngine:
    async with shared_engine.begin() as conn:
        await conn.execute(text("TRUNCATE appointments, messages, calls CASCADE"))
        await conn.execute(text("INSERT INTO calls (call_sid) VALUES (:sid)"), {"sid": CALL})
    return shared_engine


@pytest.fixture
async def builtin(engine: AsyncEngine) -> AsyncIterator[BusinessClient]:
    """The built-in backend on loopback, reached the way the tools reach any backend."""
    app = business_app(PROFILE, engine, TOKEN, clock=lambda: NOW)
    async with serve_app(app) as srv, client_for(srv.http_url) as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBackend, str]]:
    backend = FakeBackend()
    async with serve_app(backend.app()) as srv:
        yield backend, srv.http_url
        backend.release.set()  # let stalled handlers finish so the server stops at once
