"""A real CalDAV server (Radicale) for every calendar test of the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from tests.calendar.radicale import Radicale, running_radicale
from tests.conftest import migrated_engine


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture
def calendar_url(radicale: Radicale) -> str:
    return radicale.new_calendar()


@pytest.fixture(scope="module")
async def shared_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres, "cal") as engine:
        yield engine


@pytest.fixture
async def engine(shared_engine: AsyncEngine) -> AsyncEngine:
    """A migrated database shared by the module, emptied of bookings and links."""
    async with shared_engine.begin() as conn:
        await conn.execute(text("TRUNCATE appointments, calendar_links CASCADE"))
    return shared_engine
