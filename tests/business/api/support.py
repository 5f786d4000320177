"""What the business API's tests share: the API served on loopback, a booking body, a count."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from app.business.profile import BusinessProfile, load_profile
from tests.doubles.server import serve_app

PROFILE = load_profile(Path(__file__).resolve().parents[3] / "prompts" / "business.toml")
TOKEN = "test-token-7f3a"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
MONDAY_10 = "2026-03-09T10:00:00-04:00"  # the Monday after DST began


@contextlib.asynccontextmanager
async def running(
    engine: AsyncEngine,
    *,
    now: datetime = NOW,
    profile: BusinessProfile = PROFILE,
    token: str | None = TOKEN,
) -> AsyncIterator[httpx.AsyncClient]:
    app = business_app(profile, engine, TOKEN, clock=lambda: now)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        serve_app(app) as srv,
        httpx.AsyncClient(base_url=srv.http_url, headers=headers) as http,
    ):
        yield http


def booking_body(start: str = MONDAY_10, service: str = "Cleaning", **extra: Any) -> dict[str, Any]:
    return {
        "service": service,
        "start": start,
        "customer_name": "Ann Lee",
        "customer_phone": "+16175550101",
        "notes": None,
        **extra,
    }


async def appointment_count(engine: AsyncEngine, where: str = "true") -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM appointments WHERE {where}")))
