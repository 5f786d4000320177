"""The built-in business backend over real HTTP and real Postgres."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from app.business.profile import BusinessProfile, load_profile
from app.db.embedded import EmbeddedPostgres
from tests.conftest import migrated_engine
from tests.doubles.server import serve_app

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "prompts" / "business.toml")
TOKEN = "test-token-7f3a"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
MONDAY_10 = "2026-03-09T10:00:00-04:00"  # the Monday after DST began


@pytest.fixture(scope="module")
async def shared_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    """One migrated database for the module: migrating a fresh one costs a second per test."""
    async with migrated_engine(postgres, "api") as engine:
        yield engine


@pytest.fixture
async def engine(shared_engine: AsyncEngine) -> AsyncEngine:
    """The shared database, emptied of appointments before each test."""
    async with shared_engine.begin() as conn:
        await conn.execute(text("TRUNCATE appointments"))
    return shared_engine


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


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with running(engine) as http:
        yield http


def _booking(start: str = MONDAY_10, service: str = "Cleaning", **extra: Any) -> dict[str, Any]:
    return {
        "service": service,
        "start": start,
        "customer_name": "Ann Lee",
        "customer_phone": "+16175550101",
        "notes": None,
        **extra,
    }


async def _count(engine: AsyncEngine, where: str = "true") -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM appointments WHERE {where}")))


# -- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/hours"),
        ("GET", "/availability?date=2026-03-09&service=Cleaning"),
        ("POST", "/appointments"),
    ],
)
async def test_every_route_needs_the_bearer_token(
    engine: AsyncEngine, token: str | None, method: str, path: str
) -> None:
    async with running(engine, token=token) as http:
        response = await http.request(method, path, json=_booking())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert await _count(engine) == 0


def test_an_empty_token_is_refused_at_construction(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        business_app(PROFILE, engine, "")


async def test_unknown_routes_and_methods_answer_json_errors(api: httpx.AsyncClient) -> None:
    missing = await api.get("/nothing")
    wrong = await api.get("/appointments")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


# -- hours and availability --------------------------------------------------------------------


async def test_hours_give_timezone_weekly_hours_and_coming_closures(engine: AsyncEngine) -> None:
    async with running(engine, now=datetime(2026, 10, 1, 12, tzinfo=UTC)) as http:
        response = await http.get("/hours")
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "America/New_York"
    assert body["weekly"]["tue"] == [
        {"open": "08:00", "close": "12:00"},
        {"open": "13:00", "close": "19:00"},
    ]
    assert body["weekly"]["sun"] == []
    assert body["closures"][0] == {
        "date": "2026-11-26",
        "through": "2026-11-27",
        "reason": "Thanksgiving",
    }  # Labor Day 2026 is past
    assert "2027-09-06" in [c["date"] for c in body["closures"]]


async def test_availability_lists_free_slots_with_local_offsets(api: httpx.AsyncClient) -> None:
    monday = (
        await api.get("/availability", params={"date": "2026-03-09", "service": "cleaning"})
    ).json()
    assert monday["service"] == "Cleaning"
    assert monday["duration_minutes"] == 60
    assert len(monday["slots"]) == 17  # 8:00 .. 16:00 every 30 minutes
    assert monday["slots"][0] == {
        "start": "2026-03-09T08:00:00-04:00",
        "end": "2026-03-09T09:00:00-04:00",
    }
    assert monday["slots"][-1]["end"] == "2026-03-09T17:00:00-04:00"
    friday = (
        await api.get("/availability", params={"date": "2026-03-06", "service": "Cleaning"})
    ).json()
    assert friday["slots"][0]["start"] == "2026-03-06T08:00:00-05:00"  # before DST
    sunday = (
        await api.get("/availability", params={"date": "2026-03-08", "service": "Cleaning"})
    ).json()
    assert sunday["slots"] == []


async def test_availability_today_respects_minimum_notice(api: httpx.AsyncClient) -> None:
    today = (
        await api.get("/availability", params={"date": "2026-03-04", "service": "Cleaning"})
    ).json()
    assert today["slots"][0]["start"] == "2026-03-04T12:00:00-05:00"  # 10:00 + 120 minutes


async def test_availability_on_a_closure_is_empty_with_the_reason(engine: AsyncEngine) -> None:
    async with running(engine, now=datetime(2026, 11, 20, 15, tzinfo=UTC)) as http:
        body = (
            await http.get("/availability", params={"date": "2026-11-26", "service": "Cleaning"})
        ).json()
    assert body["slots"] == []
    assert body["closure_reason"] == "Thanksgiving"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"date": "2026-03-09", "service": "Root canal"}, "unknown_service"),
        ({"date": "2026-03-09"}, "missing_service"),
        ({"date": "2026-13-01", "service": "Cleaning"}, "invalid_date"),
        ({"date": "03/09/2026", "service": "Cleaning"}, "invalid_date"),
        ({"date": "20260309", "service": "Cleaning"}, "invalid_date"),
        ({"service": "Cleaning"}, "invalid_date"),
    ],
)
async def test_availability_rejects_bad_input_with_422(
    api: httpx.AsyncClient, params: dict[str, str], code: str
) -> None:
    response = await api.get("/availability", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_unknown_service_error_lists_the_services(api: httpx.AsyncClient) -> None:
    response = await api.get("/availability", params={"date": "2026-03-09", "service": "Botox"})
    assert "Cleaning, New patient exam, Emergency visit" in response.json()["error"]["message"]


# -- booking -----------------------------------------------------------------------------------


async def test_booking_a_free_slot_returns_201_and_stores_it(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await api.post("/appointments", json=_booking(service="cleaning", call_sid="CA9"))
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
    response = await api.post("/appointments", json=_booking(start="2026-03-09T14:00:00Z"))
    assert response.status_code == 201
    assert response.json()["start"] == MONDAY_10


async def test_capacity_two_takes_two_bookings_then_the_slot_leaves_availability(
    api: httpx.AsyncClient,
) -> None:
    params = {"date": "2026-03-09", "service": "Cleaning"}
    for expected_left in (True, False):
        assert (await api.post("/appointments", json=_booking())).status_code == 201
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
        assert (await api.post("/appointments", json=_booking())).status_code == 201
    response = await api.post("/appointments", json=_booking())
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "slot_taken"
    assert [a["start"] for a in body["alternatives"]] == [
        "2026-03-09T09:00:00-04:00",
        "2026-03-09T11:00:00-04:00",
        "2026-03-09T08:30:00-04:00",
    ]
    assert body["alternatives"][0]["end"] == MONDAY_10
    assert await _count(engine) == 2


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
        first = await http.post("/appointments", json=_booking(saturday_nine, "New patient exam"))
        second = await http.post("/appointments", json=_booking(saturday_nine, "New patient exam"))
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
        assert (await api.post("/appointments", json=_booking())).status_code == 201
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE appointments SET status = 'cancelled' WHERE slot = 1"))
    response = await api.post("/appointments", json=_booking())
    assert response.status_code == 201
    assert await _count(engine, "status = 'booked'") == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (_booking(service="Root canal"), "unknown_service"),
        (_booking(start="2026-03-04T09:00:00-05:00"), "in_past"),
        (_booking(start="2026-03-04T11:00:00-05:00"), "too_soon"),
        (_booking(start="2026-06-01T10:00:00-04:00"), "too_far_ahead"),
        (_booking(start="2026-03-09T07:00:00-04:00"), "outside_hours"),
        (_booking(start="2026-03-09T10:10:00-04:00"), "outside_hours"),
        (_booking(start="2026-03-09T16:30:00-04:00"), "outside_hours"),
        (_booking(start="2026-03-08T10:00:00-04:00"), "outside_hours"),
        (_booking(start="2026-03-09T10:00:00"), "invalid_request"),  # no offset
        (_booking(start=1773064800), "invalid_request"),
        ({"service": "Cleaning", "start": MONDAY_10}, "invalid_request"),
        (_booking(customer_name="   "), "invalid_request"),
        ([1, 2], "invalid_request"),
    ],
)
async def test_bad_bookings_are_422_and_book_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, payload: Any, code: str
) -> None:
    response = await api.post("/appointments", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert await _count(engine) == 0


async def test_bookings_on_a_closure_are_refused_with_the_reason(engine: AsyncEngine) -> None:
    async with running(engine, now=datetime(2026, 11, 20, 15, tzinfo=UTC)) as http:
        response = await http.post(
            "/appointments", json=_booking(start="2026-11-27T10:00:00-05:00")
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
    huge = await api.post("/appointments", json=_booking(notes="x" * 20_000))
    long_key = await api.post(
        "/appointments", json=_booking(), headers={"Idempotency-Key": "k" * 201}
    )
    assert [r.status_code for r in (not_json, form, huge, long_key)] == [422] * 4
    assert [r.json()["error"]["code"] for r in (not_json, form, huge, long_key)] == [
        "invalid_json",
        "wrong_content_type",
        "too_large",
        "invalid_idempotency_key",
    ]


# -- idempotency -------------------------------------------------------------------------------


async def test_replaying_an_idempotency_key_returns_the_same_appointment(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    first = await api.post("/appointments", json=_booking(), headers=headers)
    again = await api.post("/appointments", json=_booking(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(engine) == 1


async def test_a_replay_after_the_slot_passed_still_returns_the_appointment(
    engine: AsyncEngine,
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    async with running(engine) as http:
        first = await http.post("/appointments", json=_booking(), headers=headers)
    async with running(engine, now=datetime(2026, 3, 10, tzinfo=UTC)) as http:
        later = await http.post("/appointments", json=_booking(), headers=headers)
    assert (later.status_code, later.json()["id"]) == (200, first.json()["id"])


async def test_reusing_a_key_for_a_different_booking_is_422(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_1"}
    assert (await api.post("/appointments", json=_booking(), headers=headers)).status_code == 201
    other = await api.post(
        "/appointments", json=_booking(start="2026-03-09T11:00:00-04:00"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(engine) == 1


async def test_concurrent_replays_of_one_key_book_once(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "CA123:call_7"}
    responses = await asyncio.gather(
        *(api.post("/appointments", json=_booking(), headers=headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _count(engine) == 1


# -- the race ----------------------------------------------------------------------------------


async def test_twenty_concurrent_bookings_of_one_slot_get_exactly_its_capacity(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cleaning = PROFILE.service("Cleaning")
    assert cleaning is not None and cleaning.capacity == 2

    def post(i: int) -> Callable[[], Any]:
        return lambda: api.post(
            "/appointments", json=_booking(), headers={"Idempotency-Key": f"CA{i}:call_1"}
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
