"""lookup_hours, check_availability and book_appointment, as the model calls them.

Over real HTTP, against the built-in backend or a misbehaving fake one (tool_support.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from app.functions.business_client import BusinessClient
from app.functions.registry import dispatch
from tests.doubles.server import serve_app
from tests.functions.tool_support import (
    CALL,
    CALLER,
    MONDAY_10,
    PROFILE,
    TOKEN,
    booking_args,
    call,
    client_for,
    make_ctx,
    stored_appointments,
)

# -- lookup_hours ------------------------------------------------------------------------------


async def test_lookup_hours_while_open_says_until_when(builtin: BusinessClient) -> None:
    result = await call(make_ctx(builtin), "lookup_hours")
    assert result.ok and result.outcome is None
    out = result.output
    assert (out["open_now"], out["closes_at"], out["today"]) == (True, "5 PM", "8 AM to 5 PM")
    assert out["say"] == "We're open now until 5 PM today."
    assert "Tuesday: 8 AM to noon and 1 PM to 7 PM" in out["weekly"]


async def test_lookup_hours_late_at_night_says_when_it_opens_next(builtin: BusinessClient) -> None:
    late = datetime(2026, 3, 5, 4, 30, tzinfo=UTC)  # Wednesday 23:30 in New York
    result = await call(make_ctx(builtin, now=late), "lookup_hours", timeout=3.0)
    assert result.output["open_now"] is False
    assert result.output["next_opening"] == "tomorrow at 10 AM"  # Thursday opens at 10
    assert result.output["say"] == "We're closed right now. We open again tomorrow at 10 AM."


async def test_lookup_hours_for_a_holiday_gives_the_reason(builtin: BusinessClient) -> None:
    result = await call(make_ctx(builtin), "lookup_hours", date="2026-11-26")
    assert result.output["hours"] == "closed"
    assert result.output["say"] == "We're closed on Thursday, November 26 for Thanksgiving."


async def test_lookup_hours_on_a_holiday_lists_it_and_the_next_opening(
    engine: AsyncEngine,
) -> None:
    thanksgiving = datetime(2026, 11, 26, 15, tzinfo=UTC)
    app = business_app(PROFILE, engine, TOKEN, clock=lambda: thanksgiving)
    async with serve_app(app) as srv, client_for(srv.http_url) as client:
        result = await call(make_ctx(client, now=thanksgiving), "lookup_hours", timeout=3.0)
    assert result.output["say"] == (
        "We're closed today for Thanksgiving. We open again Saturday, November 28 at 9 AM."
    )
    assert result.output["closures_soon"][0].endswith("Friday, November 27: Thanksgiving")


async def test_empty_arguments_are_read_as_no_arguments(builtin: BusinessClient) -> None:
    result = await dispatch("lookup_hours", "", make_ctx(builtin), 3.0)
    assert result.ok


# -- check_availability ------------------------------------------------------------------------


async def test_check_availability_gives_spoken_times_and_exact_starts(
    builtin: BusinessClient,
) -> None:
    result = await call(
        make_ctx(builtin), "check_availability", service="cleaning", date="2026-03-09"
    )
    out = result.output
    assert result.ok and out["free_count"] == 17
    assert len(out["slots"]) == 6
    assert out["slots"][0] == {"time": "8 AM", "start": "2026-03-09T08:00:00-04:00"}
    assert out["slots"][-1]["time"] == "4 PM"
    assert out["say"].startswith("On Monday, March 9 Cleaning is free at 8 AM, ")


async def test_check_availability_on_a_closed_day_offers_another(builtin: BusinessClient) -> None:
    result = await call(
        make_ctx(builtin), "check_availability", service="Cleaning", date="2026-03-08"
    )
    assert result.ok and result.output["slots"] == []
    assert "no openings" in result.output["say"]


async def test_check_availability_for_an_unknown_service_names_the_real_ones(
    builtin: BusinessClient,
) -> None:
    result = await call(make_ctx(builtin), "check_availability", service="Botox", date="2026-03-09")
    assert not result.ok
    assert result.output["error"] == "unknown_service"
    assert "Cleaning" in result.output["say"]
    assert result.output["offer"] == ["take_message", "transfer"]


# -- book_appointment --------------------------------------------------------------------------


async def test_booking_books_once_and_reports_the_booked_outcome(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    result = await call(make_ctx(builtin), "book_appointment", **booking_args(notes="first visit"))
    assert result.ok, result.output
    [row] = await stored_appointments(engine)
    assert result.outcome == (
        "booked",
        {"appointment_id": row["id"], "service": "Cleaning", "start": MONDAY_10},
    )
    assert result.output["when"] == "Monday, March 9 at 10 AM"
    assert result.output["say"] == "Booked: Cleaning Monday, March 9 at 10 AM for Ann Lee."
    assert row["idempotency_key"] == f"{CALL}:call_1"
    assert (row["customer_phone"], row["call_sid"], row["notes"]) == (CALLER, CALL, "first visit")


async def test_a_replayed_booking_call_returns_the_same_appointment(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    ctx = make_ctx(builtin)
    first = await call(ctx, "book_appointment", **booking_args())
    again = await call(ctx, "book_appointment", **booking_args())
    assert first.outcome == again.outcome
    assert len(await stored_appointments(engine)) == 1


async def test_booking_without_the_callers_yes_books_nothing(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    result = await call(
        make_ctx(builtin), "book_appointment", **booking_args(caller_confirmed=False)
    )
    assert not result.ok and result.outcome is None
    assert result.output == {
        "ok": False,
        "error": "needs_confirmation",
        "say": "Read the details back and ask the caller to confirm first.",
    }
    assert await stored_appointments(engine) == []


async def test_booking_uses_the_given_phone_or_asks_when_there_is_none(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    hidden = make_ctx(builtin, caller=None)
    asked = await call(hidden, "book_appointment", **booking_args())
    assert asked.output["error"] == "needs_phone"
    given = await call(hidden, "book_appointment", **booking_args(customer_phone="(617) 555-0123"))
    assert given.ok
    assert [r["customer_phone"] for r in await stored_appointments(engine)] == ["6175550123"]


async def test_booking_a_full_slot_offers_the_alternatives(builtin: BusinessClient) -> None:
    for n in (1, 2):
        assert (
            await call(
                make_ctx(builtin, tool_call_id=f"c{n}"), "book_appointment", **booking_args()
            )
        ).ok
    result = await call(make_ctx(builtin, tool_call_id="c3"), "book_appointment", **booking_args())
    assert not result.ok and result.outcome is None
    assert result.output["error"] == "slot_taken"
    assert [a["start"] for a in result.output["alternatives"]] == [
        "2026-03-09T09:00:00-04:00",
        "2026-03-09T11:00:00-04:00",
        "2026-03-09T08:30:00-04:00",
    ]
    assert result.output["say"] == (
        "That time was just taken. Offer these instead: Monday, March 9 at 9 AM; "
        "Monday, March 9 at 11 AM; Monday, March 9 at 8:30 AM."
    )


async def test_booking_outside_hours_is_refused_with_the_backends_reason(
    builtin: BusinessClient,
) -> None:
    result = await call(
        make_ctx(builtin), "book_appointment", **booking_args(start="2026-03-09T07:00:00-04:00")
    )
    assert result.output["error"] == "outside_hours"
    assert result.output["say"].startswith("The booking system refused it: not a bookable start")
