"""Fixtures of the business API's tests: one migrated database a module, the API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from tests.business.api.support import running
from tests.conftest import migrated_engine


@pytest.fixture(scope="module")
async def shared_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    """One migrated database for the module: migrating a fresh one costs a second per test."""
    async with migrated_engine(postgres, "api") as engine:
        yield engine


@pytest.fixture
async def engine(shared_engine: AsyncEngine) -> AsyncEngine:
    """The shared database, emptied of appointments before each test."""
    async with shared_engine.begin() as conn:
        await conn.execute(text("TRUNCATE appointments CASCADE"))
    return shared_engine


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with running(engine) as http:
        yield http
