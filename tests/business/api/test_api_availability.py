"""The business API's access rules, hours and availability.

The built-in business backend (app/business/api.py) over real HTTP and real Postgres.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from tests.business.api.support import PROFILE, TOKEN, appointment_count, booking_body, running

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
        response = await http.request(method, path, json=booking_body())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert await appointment_count(engine) == 0


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
