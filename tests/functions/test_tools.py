"""The tools over real HTTP: against the built-in backend, and against a misbehaving fake one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openai.types.realtime import RealtimeFunctionTool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.testing import capture_logs

from app.business.api import business_app
from app.business.messages import insert_message
from app.business.profile import load_profile
from app.db.embedded import EmbeddedPostgres
from app.functions.base import MessageRecord, ToolContext, ToolResult, fit_output
from app.functions.business_client import BusinessClient, make_http_client
from app.functions.registry import TOOLS, dispatch, session_tools
from tests.conftest import migrated_engine
from tests.doubles.server import free_port, serve_app

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "prompts" / "business.toml")
TOKEN = "tools-token-19c2"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
MONDAY_10 = "2026-03-09T10:00:00-04:00"
CALL = "CA_tools"
CALLER = "+16175550199"
SHORT = 0.3  # the tool timeout in tests that stall

Save = Callable[[MessageRecord], Awaitable[str]]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def shared_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres, "tools") as engine:
        yield engine


@pytest.fixture
async def engine(shared_engine: AsyncEngine) -> AsyncEngine:
    async with shared_engine.begin() as conn:
        await conn.execute(text("TRUNCATE appointments, messages, calls CASCADE"))
        await conn.execute(text("INSERT INTO calls (call_sid) VALUES (:sid)"), {"sid": CALL})
    return shared_engine


@contextlib.asynccontextmanager
async def client_for(base_url: str, timeout: float = 3.0) -> AsyncIterator[BusinessClient]:
    async with make_http_client(base_url, TOKEN, timeout) as http:
        yield BusinessClient(http, retry_delay=0.01)


@pytest.fixture
async def builtin(engine: AsyncEngine) -> AsyncIterator[BusinessClient]:
    """The built-in backend on loopback, reached the way the tools reach any backend."""
    app = business_app(PROFILE, engine, TOKEN, clock=lambda: NOW)
    async with serve_app(app) as srv, client_for(srv.http_url) as client:
        yield client


def db_saver(engine: AsyncEngine) -> Save:
    async def save(record: MessageRecord) -> str:
        async with engine.begin() as conn:
            return await insert_message(conn, record)

    return save


async def _not_saving(record: MessageRecord) -> str:
    raise AssertionError("no message expected")


def make_ctx(
    business: BusinessClient,
    *,
    now: datetime = NOW,
    caller: str | None = CALLER,
    transfer: bool = True,
    tool_call_id: str = "call_1",
    save: Save = _not_saving,
) -> ToolContext:
    return ToolContext(
        call_sid=CALL,
        tool_call_id=tool_call_id,
        caller_number=caller,
        business=business,
        now=lambda: now,
        save_message=save,
        transfer_available=transfer,
    )


async def call(ctx: ToolContext, name: str, timeout: float = 3.0, **arguments: Any) -> ToolResult:
    result = await dispatch(name, orjson.dumps(arguments).decode(), ctx, timeout)
    assert len(orjson.dumps(result.output)) < 1024  # every result stays small
    return result


async def _appointments(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM appointments ORDER BY created_at"))
        return [dict(r) for r in rows.mappings()]


def _booking(**overrides: Any) -> dict[str, Any]:
    return {
        "service": "Cleaning",
        "start": MONDAY_10,
        "customer_name": "Ann Lee",
        "caller_confirmed": True,
        **overrides,
    }


FAKE_HOURS = {
    "timezone": "America/New_York",
    "weekly": {"mon": [{"open": "09:00", "close": "17:00"}]},
    "closures": [],
}


class FakeBackend:
    """A business API that misbehaves on purpose; the first path segment picks how."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str, str, dict[str, str]]] = []
        self.release = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        mode, endpoint = request.path_params["mode"], request.path_params["endpoint"]
        self.hits.append((mode, request.method, endpoint, dict(request.headers)))
        if mode == "taken" and request.method == "POST":
            body = {
                "error": {"code": "slot_taken", "message": "taken"},
                "alternatives": [
                    {"start": "2026-03-09T11:00:00-04:00", "end": "2026-03-09T12:00:00-04:00"},
                    {"start": "2026-03-10T09:00:00-04:00", "end": "2026-03-10T10:00:00-04:00"},
                ],
            }
            return Response(orjson.dumps(body), 409, media_type="application/json")
        if mode == "broken":
            body = {"error": {"code": "internal", "message": "database down"}}
            return Response(orjson.dumps(body), 500, media_type="application/json")
        if mode == "flaky" and len([h for h in self.hits if h[0] == "flaky"]) == 1:
            return Response(b"upstream hiccup", 503)
        if mode == "garbled":
            return Response(b'{"timezone": "America/New_Yo', 200, media_type="application/json")
        if mode == "wrongshape":
            return Response(b'{"slots": "none", "id": 5}', 200, media_type="application/json")
        if mode == "stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 30)
        return Response(orjson.dumps(FAKE_HOURS), 200, media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{mode}/{endpoint:path}", self.handle, methods=["GET", "POST"])]
        )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBackend, str]]:
    backend = FakeBackend()
    async with serve_app(backend.app()) as srv:
        yield backend, srv.http_url
        backend.release.set()  # let stalled handlers finish so the server stops at once


# -- the registry ------------------------------------------------------------------------------


def _keys(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            _keys(value if key != "properties" else list(value.values()), found)
    elif isinstance(node, list):
        for item in node:
            _keys(item, found)
    return found


def test_session_tools_are_valid_openai_ga_function_tools() -> None:
    entries = session_tools()
    assert [e["name"] for e in entries] == list(TOOLS)
    for entry in entries:
        parsed = RealtimeFunctionTool.model_validate(entry)
        assert not parsed.model_extra, parsed.model_extra
        assert set(entry) == {"type", "name", "description", "parameters"}
        assert entry["type"] == "function" and len(entry["description"]) > 40
        params = entry["parameters"]
        assert params["type"] == "object"
        assert params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
        assert "title" not in _keys(params, set())
        assert "$defs" not in params and "anyOf" not in _keys(params, set())
        assert all(p.get("description") for p in params["properties"].values())


def test_the_registry_holds_the_six_receptionist_tools() -> None:
    assert set(TOOLS) == {
        "lookup_hours",
        "check_availability",
        "book_appointment",
        "take_message",
        "transfer_to_human",
        "end_call",
    }
    assert all(name == tool.name for name, tool in TOOLS.items())
    book = session_tools()[list(TOOLS).index("book_appointment")]["parameters"]
    assert book["properties"]["caller_confirmed"]["type"] == "boolean"
    assert "caller_confirmed" in book["required"]


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
    result = await call(make_ctx(builtin), "book_appointment", **_booking(notes="first visit"))
    assert result.ok, result.output
    [row] = await _appointments(engine)
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
    first = await call(ctx, "book_appointment", **_booking())
    again = await call(ctx, "book_appointment", **_booking())
    assert first.outcome == again.outcome
    assert len(await _appointments(engine)) == 1


async def test_booking_without_the_callers_yes_books_nothing(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    result = await call(make_ctx(builtin), "book_appointment", **_booking(caller_confirmed=False))
    assert not result.ok and result.outcome is None
    assert result.output == {
        "ok": False,
        "error": "needs_confirmation",
        "say": "Read the details back and ask the caller to confirm first.",
    }
    assert await _appointments(engine) == []


async def test_booking_uses_the_given_phone_or_asks_when_there_is_none(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    hidden = make_ctx(builtin, caller=None)
    asked = await call(hidden, "book_appointment", **_booking())
    assert asked.output["error"] == "needs_phone"
    given = await call(hidden, "book_appointment", **_booking(customer_phone="(617) 555-0123"))
    assert given.ok
    assert [r["customer_phone"] for r in await _appointments(engine)] == ["6175550123"]


async def test_booking_a_full_slot_offers_the_alternatives(builtin: BusinessClient) -> None:
    for n in (1, 2):
        assert (
            await call(make_ctx(builtin, tool_call_id=f"c{n}"), "book_appointment", **_booking())
        ).ok
    result = await call(make_ctx(builtin, tool_call_id="c3"), "book_appointment", **_booking())
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
        make_ctx(builtin), "book_appointment", **_booking(start="2026-03-09T07:00:00-04:00")
    )
    assert result.output["error"] == "outside_hours"
    assert result.output["say"].startswith("The booking system refused it: not a bookable start")


# -- take_message, end_call, transfer_to_human -------------------------------------------------


async def test_a_message_is_stored_once_even_when_the_call_is_replayed(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    ctx = make_ctx(builtin, save=db_saver(engine), tool_call_id="call_9")
    args = {"caller_name": "Bo", "message": "Please call about my bill", "urgency": "urgent"}
    first = await call(ctx, "take_message", **args)
    again = await call(ctx, "take_message", **args)
    assert first == again
    assert first.outcome == (
        "message_taken",
        {"message_id": f"msg_{CALL}_call_9", "urgency": "urgent"},
    )
    assert first.output["say"] == (
        "Message saved. Tell Bo the team will call back as soon as possible on the number "
        "ending 0199."
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM messages"))).mappings().all()
    assert [(r["call_sid"], r["callback_number"], r["message"], r["urgency"]) for r in rows] == [
        (CALL, CALLER, "Please call about my bill", "urgent")
    ]


async def test_a_message_needs_a_callback_number_when_caller_id_is_hidden(
    builtin: BusinessClient,
) -> None:
    ctx = make_ctx(builtin, caller=None)
    result = await call(ctx, "take_message", caller_name="Bo", message="hi")
    assert result.output["error"] == "needs_callback_number"


async def test_end_call_asks_for_a_goodbye_and_ends_the_call(builtin: BusinessClient) -> None:
    result = await call(make_ctx(builtin), "end_call", reason="caller said goodbye")
    assert (result.ok, result.effect) == (True, "end_call")
    assert "goodbye" in result.output["say"]


async def test_transfer_connects_when_someone_can_take_the_call(builtin: BusinessClient) -> None:
    result = await call(
        make_ctx(builtin), "transfer_to_human", reason="billing", summary="Bo, bill"
    )
    assert (result.ok, result.effect) == (True, "transfer")
    assert "connecting" in result.output["say"]


async def test_transfer_outside_transfer_hours_offers_a_message(builtin: BusinessClient) -> None:
    ctx = make_ctx(builtin, transfer=False)
    result = await call(ctx, "transfer_to_human", reason="billing", summary="Bo, bill")
    assert (result.ok, result.effect) == (False, None)
    assert result.output["error"] == "transfer_unavailable"
    assert result.output["offer"] == ["take_message"]


# -- a misbehaving backend ---------------------------------------------------------------------


async def test_a_409_from_a_custom_backend_offers_its_alternatives(
    fake: tuple[FakeBackend, str],
) -> None:
    backend, url = fake
    async with client_for(f"{url}/taken") as client:
        result = await call(make_ctx(client), "book_appointment", **_booking())
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
        result = await call(make_ctx(client, transfer=False), "book_appointment", **_booking())
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
        ("book_appointment", _booking()),
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
        result = await call(make_ctx(client), "book_appointment", timeout=SHORT, **_booking())
    assert result.output["error"] == "timeout"
    assert "Do not book again" in result.output["say"]


async def test_an_unreachable_backend_is_an_error_result() -> None:
    async with client_for(f"http://127.0.0.1:{free_port()}") as client:
        result = await call(
            make_ctx(client), "check_availability", service="Cleaning", date="2026-03-09"
        )
    assert result.output["error"] == "backend_unreachable"
    assert result.output["say"] == "Sorry, I can't reach our scheduling system right now."


# -- arguments and unexpected failures ---------------------------------------------------------


async def test_invalid_json_arguments_are_an_error_result(builtin: BusinessClient) -> None:
    result = await dispatch("book_appointment", '{"service": "Cleaning",', make_ctx(builtin), 3.0)
    assert (result.ok, result.output["error"]) == (False, "invalid_json")


@pytest.mark.parametrize(
    ("name", "arguments", "detail"),
    [
        ("check_availability", {"service": "Cleaning"}, "date: Field required"),
        (
            "check_availability",
            {"service": "Cleaning", "date": "next Tuesday"},
            "date: Input should",
        ),
        (
            "book_appointment",
            _booking(start="2026-03-09T10:00:00"),
            "start: Input should have timezone",
        ),
        (
            "book_appointment",
            _booking(caller_confirmed="yes"),
            "caller_confirmed: Input should be a valid boolean",
        ),
        (
            "book_appointment",
            _booking(customer_phone="12"),
            "customer_phone: must be a phone number",
        ),
        (
            "take_message",
            {"caller_name": "Bo", "message": "x", "urgency": "asap"},
            "urgency: Input should be",
        ),
        ("end_call", {"reason": "bye", "mood": "happy"}, "mood: Extra inputs are not permitted"),
        ("lookup_hours", [], "arguments: Input should be an object"),
    ],
)
async def test_schema_violations_are_an_error_result_with_readable_details(
    builtin: BusinessClient, engine: AsyncEngine, name: str, arguments: Any, detail: str
) -> None:
    result = await call(make_ctx(builtin), name, **{}) if False else None
    result = await dispatch(name, orjson.dumps(arguments).decode(), make_ctx(builtin), 3.0)
    assert (result.ok, result.output["error"]) == (False, "invalid_arguments")
    assert any(d.startswith(detail) for d in result.output["details"]), result.output["details"]
    assert await _appointments(engine) == []


async def test_an_unknown_tool_is_an_error_result(builtin: BusinessClient) -> None:
    result = await dispatch("delete_everything", "{}", make_ctx(builtin), 3.0)
    assert result.output["error"] == "unknown_tool"


async def test_an_unexpected_exception_is_logged_and_becomes_an_error_result(
    builtin: BusinessClient,
) -> None:
    async def broken(record: MessageRecord) -> str:
        raise RuntimeError("disk on fire")

    ctx = make_ctx(builtin, save=broken)
    with capture_logs() as logs:
        result = await call(ctx, "take_message", caller_name="Bo", message="hi")
    assert result.output["error"] == "internal_error"
    assert result.output["offer"] == ["transfer"]  # not the tool that just failed
    [entry] = [e for e in logs if e["event"] == "tool_failed"]
    assert (entry["tool"], entry["log_level"], entry["exc_info"]) == ("take_message", "error", True)


async def test_cancellation_is_not_swallowed(fake: tuple[FakeBackend, str]) -> None:
    _, url = fake
    async with client_for(f"{url}/stall", timeout=10.0) as client:
        task = asyncio.create_task(dispatch("lookup_hours", "{}", make_ctx(client), 10.0))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_oversized_outputs_are_trimmed_under_one_kilobyte() -> None:
    big = {"ok": True, "say": "x" * 300, "slots": [{"time": "9 AM", "start": "z" * 40}] * 50}
    trimmed = fit_output(big)
    assert len(orjson.dumps(trimmed)) <= 1000
    assert trimmed["truncated"] is True and 0 < len(trimmed["slots"]) < 50
    assert trimmed["say"] == big["say"]
    huge_say = fit_output({"ok": False, "error": "e", "say": "y" * 5000})
    assert len(orjson.dumps(huge_say)) <= 1000 and huge_say["say"].endswith("...")


async def test_tool_context_is_immutable_and_derives_the_idempotency_key() -> None:
    async with httpx.AsyncClient() as http:
        ctx = make_ctx(BusinessClient(http), tool_call_id="item_7")
    assert ctx.idempotency_key == f"{CALL}:item_7"
    assert ctx.offers() == ["take_message", "transfer"]
    assert replace(ctx, transfer_available=False).offers() == ["take_message"]
    with pytest.raises(AttributeError):
        ctx.call_sid = "other"  # type: ignore[misc]
