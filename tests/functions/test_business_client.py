"""The tools against a misbehaving backend: conflicts, retries, garbage, stalls, no answer.

Over real HTTP, against the built-in backend or a misbehaving fake one (tool_support.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.doubles.server import free_port
from tests.functions.tool_support import (
    CALL,
    SHORT,
    TOKEN,
    FakeBackend,
    booking_args,
    call,
    client_for,
    make_ctx,
)

# -- a misbehaving backend ---------------------------------------------------------------------


async def test_a_409_from_a_custom_backend_offers_its_alternatives(
    fake: tuple[FakeBackend, str],
) -> None:
    backend, url = fake
    async with client_for(f"{url}/taken") as client:
        result = await call(make_ctx(client), "book_appointment", **booking_args())
    assert result.output["error"] == "slot_taken"
    assert [a["when"] for a in result.output["alternatives"]] == [
        "Monday, March 9 at 11 AM",
        "Tuesday, March 10 at 9 AM",
    ]
    [(_, method, endpoint, headers)] = backend.hits
    assert (method, endpoint) == ("POST", "appointments")
    assert headers["idempotency-key"] == f"{CALL}:call_1"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/json"


async def test_a_500_on_a_read_is_retried_once_then_explained(
    fake: tuple[FakeBackend, str],
) -> None:
    backend, url = fake
    async with client_for(f"{url}/broken") as client:
        result = await call(make_ctx(client), "lookup_hours")
    assert result.output == {
        "ok": False,
        "error": "backend_error",
        "say": "Sorry, our scheduling system had a problem with that.",
        "status": 500,
        "offer": ["take_message", "transfer"],
    }
    assert [(h[1], h[2]) for h in backend.hits] == [("GET", "hours"), ("GET", "hours")]


async def test_a_500_on_a_booking_is_never_retried(fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    async with client_for(f"{url}/broken") as client:
        result = await call(make_ctx(client, transfer=False), "book_appointment", **booking_args())
    assert (result.output["error"], result.output["offer"]) == ("backend_error", ["take_message"])
    assert len(backend.hits) == 1


async def test_a_read_that_fails_once_succeeds_on_the_retry(fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    async with client_for(f"{url}/flaky") as client:
        result = await call(make_ctx(client), "lookup_hours")
    assert result.ok and result.output["open_now"] is False  # Wednesday: closed at this fake
    assert len(backend.hits) == 2


@pytest.mark.parametrize("mode", ["garbled", "wrongshape"])
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("lookup_hours", {}),
        ("check_availability", {"service": "Cleaning", "date": "2026-03-09"}),
    ],
)
async def test_an_unreadable_answer_is_an_error_result(
    fake: tuple[FakeBackend, str], mode: str, tool: str, args: dict[str, Any]
) -> None:
    _, url = fake
    async with client_for(f"{url}/{mode}") as client:
        result = await call(make_ctx(client), tool, **args)
    assert not result.ok and result.outcome is None
    assert result.output["error"] == "backend_bad_response"


async def test_a_201_without_service_is_a_booking_filled_from_the_request(
    fake: tuple[FakeBackend, str],
) -> None:
    _, url = fake
    async with client_for(f"{url}/terse") as client:
        result = await call(make_ctx(client), "book_appointment", **booking_args())
    assert result.ok
    assert result.output["appointment_id"] == "apt_terse_1"
    assert result.output["service"] == booking_args()["service"]
    assert result.outcome is not None and result.outcome[0] == "booked"
    assert result.outcome[1]["appointment_id"] == "apt_terse_1"


@pytest.mark.parametrize("mode", ["garbled", "wrongshape"])
async def test_an_unreadable_2xx_to_a_booking_is_still_a_booking(
    fake: tuple[FakeBackend, str], mode: str
) -> None:
    """The appointment exists: the caller must not hear that it failed."""
    _, url = fake
    args = booking_args()
    async with client_for(f"{url}/{mode}") as client:
        result = await call(make_ctx(client), "book_appointment", **args)
    assert result.ok and result.outcome is not None and result.outcome[0] == "booked"
    assert result.output["service"] == args["service"]
    assert result.output["start"] == args["start"]
    assert result.outcome[1]["appointment_id"] is None  # the answer named none we could read


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("lookup_hours", {}),
        ("check_availability", {"service": "Cleaning", "date": "2026-03-09"}),
    ],
)
async def test_a_stalled_backend_times_out_within_the_budget(
    fake: tuple[FakeBackend, str], tool: str, args: dict[str, Any]
) -> None:
    backend, url = fake
    async with client_for(f"{url}/stall", timeout=SHORT) as client:
        started = time.monotonic()
        result = await call(make_ctx(client), tool, timeout=SHORT, **args)
        elapsed = time.monotonic() - started
    assert result.output["error"] == "timeout"
    assert result.output["say"] == "Sorry, our scheduling system isn't answering right now."
    assert elapsed < SHORT + 0.5
    assert len(backend.hits) == 1  # a timed-out read is not retried: the budget is spent


async def test_the_tool_budget_bounds_the_call_even_with_a_patient_http_client(
    fake: tuple[FakeBackend, str],
) -> None:
    _, url = fake
    async with client_for(f"{url}/stall", timeout=10.0) as client:
        started = time.monotonic()
        result = await call(make_ctx(client), "lookup_hours", timeout=SHORT)
    assert result.output["error"] == "timeout"
    assert time.monotonic() - started < SHORT + 0.5


async def test_a_stalled_booking_warns_that_it_may_have_gone_through(
    fake: tuple[FakeBackend, str],
) -> None:
    _, url = fake
    async with client_for(f"{url}/stall", timeout=SHORT) as client:
        result = await call(make_ctx(client), "book_appointment", timeout=SHORT, **booking_args())
    assert result.output["error"] == "timeout"
    assert "Do not book again" in result.output["say"]


async def test_an_unreachable_backend_is_an_error_result() -> None:
    async with client_for(f"http://127.0.0.1:{free_port()}") as client:
        result = await call(
            make_ctx(client), "check_availability", service="Cleaning", date="2026-03-09"
        )
    assert result.output["error"] == "backend_unreachable"
    assert result.output["say"] == "Sorry, I can't reach our scheduling system right now."
