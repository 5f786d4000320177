"""What the dev phone's tests share: the service wired to the OpenAI double, a staff login."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.db.embedded import EmbeddedPostgres
from app.db.engine import upgrade
from app.staff.accounts import add_account
from tests.conftest import create_database
from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import FakeRealtimeConfig
from tests.signin import csrf_of, sign_in

EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"
SECRET = "phone-test-secret-" + "y" * 32
PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
TRANSFER_NUMBER = "+15550009999"


@contextlib.asynccontextmanager
async def dev_phone_service(
    postgres: EmbeddedPostgres, data_dir: Path, config: FakeRealtimeConfig, **settings: Any
) -> AsyncIterator[CallHarness]:
    """The whole service on a fresh database, its model the OpenAI double, one staff login."""
    url = await create_database(postgres, "phone")
    await upgrade(url)
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "business_profile": PROFILE,
        "human_transfer_number": TRANSFER_NUMBER,
    }
    values.update(settings)
    async with CallHarness(url, data_dir, model_config=config, **values) as harness:
        await add_account(harness.engine, EMAIL, PASSWORD)
        yield harness


@contextlib.asynccontextmanager
async def signed_in(base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in as the staff login, and the phone page's CSRF token."""
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False) as http:
        response = await sign_in(http, EMAIL, PASSWORD)
        assert response.status_code == 303, response.text
        page = await http.get("/staff/phone")
        assert page.status_code == 200, page.text
        yield http, csrf_of(page.text)
