"""The business API's bookings: stored, capacity, conflicts with alternatives, refusals.

The built-in business backend (app/business/api.py) over real HTTP and real Postgres.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.profile import BusinessProfile
from tests.business.api.support import MONDAY_10, PROFILE, appointment_count, booking_body, running

# -- booking -----------------------------------------------------------------------------------


async def test_booking_a_free_slot_returns_201_and_stores_it(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await api.post(
        "/appointments", json=booking_body(service="cleaning", call_sid="CA9")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("apt_")
    assert {k: v for k, v in body.items() if k != "id"} == {
        "service": "Cleaning",
        "start": MONDAY_10,
        "end": "2026-03-09T11:00:00-04:00",
        "status": "booked",
        "customer_name": "Ann Lee",
    }
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM appointments"))).mappings().one()
    assert row["id"] == body["id"]
    assert row["starts_at"] == datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert (row["slot"], row["customer_phone"], row["call_sid"]) == (0, "+16175550101", "CA9")


async def test_a_booking_given_in_utc_is_the_same_local_slot(api: httpx.AsyncClient) -> None:
    response = await api.post("/appointments", json=booking_body(start="2026-03-09T14:00:00Z"))
    assert response.status_code == 201
    assert response.json()["start"] == MONDAY_10


async def test_capacity_two_takes_two_bookings_then_the_slot_leaves_availability(
    api: httpx.AsyncClient,
) -> None:
    params = {"date": "2026-03-09", "service": "Cleaning"}
    for expected_left in (True, False):
        assert (await api.post("/appointments", json=booking_body())).status_code == 201
        starts = [
            s["start"] for s in (await api.get("/availability", params=params)).json()["slots"]
        ]
        assert (MONDAY_10 in starts) is expected_left
        assert ("2026-03-09T09:30:00-04:00" in starts) is expected_left  # overlaps 10:00-11:00
        assert "2026-03-09T09:00:00-04:00" in starts  # ends when the booking starts


async def test_a_full_slot_is_409_with_the_nearest_free_alternatives(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for _ in range(2):
        assert (await api.post("/appointments", json=booking_body())).status_code == 201
    response = await api.post("/appointments", json=booking_body())
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "slot_taken"
    assert [a["start"] for a in body["alternatives"]] == [
        "2026-03-09T09:00:00-04:00",
        "2026-03-09T11:00:00-04:00",
        "2026-03-09T08:30:00-04:00",
    ]
    assert body["alternatives"][0]["end"] == MONDAY_10
    assert await appointment_count(engine) == 2


async def test_alternatives_come_from_the_next_open_days_when_the_day_is_full(
    engine: AsyncEngine,
) -> None:
    profile = PROFILE.model_copy(
        update={"hours": PROFILE.hours.model_copy(update={"sat": PROFILE.hours.mon[:0]})}
    )
    one_slot_saturday = BusinessProfile.model_validate(
        profile.model_dump() | {"hours": profile.hours.model_dump() | {"sat": [["09:00", "10:00"]]}}
    )
    saturday_nine = "2026-03-07T09:00:00-05:00"
    async with running(engine, profile=one_slot_saturday) as http:
        first = await http.post(
            "/appointments", json=booking_body(saturday_nine, "New patient exam")
        )
        second = await http.post(
            "/appointments", json=booking_body(saturday_nine, "New patient exam")
        )
    assert first.status_code == 201
    assert second.status_code == 409
    assert [a["start"] for a in second.json()["alternatives"]] == [
        "2026-03-09T08:00:00-04:00",  # Sunday is closed; Monday, after the DST change
        "2026-03-09T08:30:00-04:00",
        "2026-03-09T09:00:00-04:00",
    ]


async def test_a_cancelled_appointment_frees_its_slot(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for _ in range(2):
        assert (await api.post("/appointments", json=booking_body())).status_code == 201
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE appointments SET status = 'cancelled' WHERE slot = 1"))
    response = await api.post("/appointments", json=booking_body())
    assert response.status_code == 201
    assert await appointment_count(engine, "status = 'booked'") == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (booking_body(service="Root canal"), "unknown_service"),
        (booking_body(start="2026-03-04T09:00:00-05:00"), "in_past"),
        (booking_body(start="2026-03-04T11:00:00-05:00"), "too_soon"),
        (booking_body(start="2026-06-01T10:00:00-04:00"), "too_far_ahead"),
        (booking_body(start="2026-03-09T07:00:00-04:00"), "outside_hours"),
        (booking_body(start="2026-03-09T10:10:00-04:00"), "outside_hours"),
        (booking_body(start="2026-03-09T16:30:00-04:00"), "outside_hours"),
        (booking_body(start="2026-03-08T10:00:00-04:00"), "outside_hours"),
        (booking_body(start="2026-03-09T10:00:00"), "invalid_request"),  # no offset
        (booking_body(start=1773064800), "invalid_request"),
        ({"service": "Cleaning", "start": MONDAY_10}, "invalid_request"),
        (booking_body(customer_name="   "), "invalid_request"),
        ([1, 2], "invalid_request"),
    ],
)
async def test_bad_bookings_are_422_and_book_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, payload: Any, code: str
) -> None:
    response = await api.post("/appointments", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert await appointment_count(engine) == 0


async def test_bookings_on_a_closure_are_refused_with_the_reason(engine: AsyncEngine) -> None:
    async with running(engine, now=datetime(2026, 11, 20, 15, tzinfo=UTC)) as http:
        response = await http.post(
            "/appointments", json=booking_body(start="2026-11-27T10:00:00-05:00")
        )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "closed",
        "message": "closed on 2026-11-27 (Thanksgiving)",
    }


async def test_malformed_requests_are_422(api: httpx.AsyncClient) -> None:
    not_json = await api.post(
        "/appointments", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    form = await api.post("/appointments", data={"service": "Cleaning"})
    huge = await api.post("/appointments", json=booking_body(notes="x" * 20_000))
    long_key = await api.post(
        "/appointments", json=booking_body(), headers={"Idempotency-Key": "k" * 201}
    )
    assert [r.status_code for r in (not_json, form, huge, long_key)] == [422] * 4
    assert [r.json()["error"]["code"] for r in (not_json, form, huge, long_key)] == [
        "invalid_json",
        "wrong_content_type",
        "too_large",
        "invalid_idempotency_key",
    ]
