"""What the console tests share: a served app on a fresh database, and a signed-in client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings, load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, upgrade
from app.main import create_app
from app.server import proxy_options
from app.staff.accounts import add_account
from tests.conftest import create_database
from tests.doubles.server import serve_app
from tests.signin import csrf_of as csrf_of
from tests.signin import sign_in as sign_in_as

EMAIL = "frontdesk@example.com"
PASSWORD = "correct horse battery"
SECRET = "test-secret-key-" + "x" * 32


@dataclass
class Console:
    url: str
    engine: AsyncEngine
    settings: Settings
    base: str
    app: Any

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False)


async def sign_in(
    http: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD
) -> httpx.Response:
    return await sign_in_as(http, email, password)


@contextlib.asynccontextmanager
async def signed_in(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as the console's staff account."""
    async with console.client() as http:
        response = await sign_in(http)
        assert response.status_code == 303, response.text
        yield http


async def fresh_engine(postgres: EmbeddedPostgres, prefix: str) -> tuple[str, AsyncEngine]:
    url = await create_database(postgres, prefix)
    await upgrade(url)
    return url, make_engine(url, pool_size=5)


@contextlib.asynccontextmanager
async def running_console(
    postgres: EmbeddedPostgres, data_dir: Path, prefix: str = "staff", **settings: Any
) -> AsyncIterator[Console]:
    """The whole service (create_app) on a new database with one staff account."""
    url, engine = await fresh_engine(postgres, prefix)
    await add_account(engine, EMAIL, PASSWORD)
    values: dict[str, Any] = {"secret_key": SECRET, "data_dir": data_dir}
    values.update(settings)
    config = load_settings(database_url=url, _env_file=None, **values)
    app = create_app(config)
    try:
        async with serve_app(app, proxy=proxy_options(config)) as server:
            yield Console(url, engine, config, server.http_url, app)
    finally:
        await engine.dispose()
