"""The business API's idempotency keys, and a race for one slot.

The built-in business backend (app/business/api.py) over real HTTP and real Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.business.api.support import PROFILE, appointment_count, booking_body, running

# -- idempotency -------------------------------------------------------------------------------


async def test_replaying_an_idempotency_key_returns_the_same_appointment(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    first = await api.post("/appointments", json=booking_body(), headers=headers)
    again = await api.post("/appointments", json=booking_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await appointment_count(engine) == 1


async def test_a_replay_after_the_slot_passed_still_returns_the_appointment(
    engine: AsyncEngine,
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    async with running(engine) as http:
        first = await http.post("/appointments", json=booking_body(), headers=headers)
    async with running(engine, now=datetime(2026, 3, 10, tzinfo=UTC)) as http:
        later = await http.post("/appointments", json=booking_body(), headers=headers)
    assert (later.status_code, later.json()["id"]) == (200, first.json()["id"])


async def test_reusing_a_key_for_a_different_booking_is_422(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    assert (
        await api.post("/appointments", json=booking_body(), headers=headers)
    ).status_code == 201
    other = await api.post(
        "/appointments", json=booking_body(start="2026-03-09T11:00:00-04:00"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await appointment_count(engine) == 1


async def test_concurrent_replays_of_one_key_book_once(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_7"}
    responses = await asyncio.gather(
        *(api.post("/appointments", json=booking_body(), headers=headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await appointment_count(engine) == 1


# -- the race ----------------------------------------------------------------------------------


async def test_twenty_concurrent_bookings_of_one_slot_get_exactly_its_capacity(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cleaning = PROFILE.service("Cleaning")
    assert cleaning is not None and cleaning.capacity == 2

    def post(i: int) -> Callable[[], Any]:
        return lambda: api.post(
            "/appointments", json=booking_body(), headers={"Idempotency-Key": f"CA{i}:call_1"}
        )

    responses = await asyncio.gather(*(post(i)() for i in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * cleaning.capacity + [409] * (20 - cleaning.capacity)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "slot_taken"
            assert len(response.json()["alternatives"]) == 3
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT slot, starts_at FROM appointments"))).all()
    assert sorted(r.slot for r in rows) == list(range(cleaning.capacity))
    assert {r.starts_at for r in rows} == {datetime(2026, 3, 9, 14, tzinfo=UTC)}
