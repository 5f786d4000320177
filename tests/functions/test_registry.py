"""The registry and dispatch: valid GA tools; bad arguments and failures become results.

Over real HTTP, against the built-in backend or a misbehaving fake one (tool_support.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from openai.types.realtime import RealtimeFunctionTool
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from app.functions.base import MessageRecord, fit_output
from app.functions.business_client import BusinessClient
from app.functions.registry import TOOLS, dispatch, session_tools
from tests.functions.tool_support import (
    CALL,
    FakeBackend,
    booking_args,
    call,
    client_for,
    make_ctx,
    stored_appointments,
)

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


def test_the_registry_holds_the_six_receptionist_tools_and_the_ladders_escalate() -> None:
    assert set(TOOLS) == {
        "lookup_hours",
        "check_availability",
        "book_appointment",
        "take_message",
        "transfer_to_human",
        "end_call",
        "escalate",  # offered to the ladder's small model only (ModelSessions.tools_for)
    }
    assert all(name == tool.name for name, tool in TOOLS.items())
    book = session_tools()[list(TOOLS).index("book_appointment")]["parameters"]
    assert book["properties"]["caller_confirmed"]["type"] == "boolean"
    assert "caller_confirmed" in book["required"]


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
            booking_args(start="2026-03-09T10:00:00"),
            "start: Input should have timezone",
        ),
        (
            "book_appointment",
            booking_args(caller_confirmed="yes"),
            "caller_confirmed: Input should be a valid boolean",
        ),
        (
            "book_appointment",
            booking_args(customer_phone="12"),
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
    assert await stored_appointments(engine) == []


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
