"""What the tools' tests share: a tool context, a call through dispatch, a misbehaving backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.business.messages import insert_message
from app.business.profile import load_profile
from app.functions.base import MessageRecord, ToolContext, ToolResult
from app.functions.business_client import BusinessClient, make_http_client
from app.functions.registry import dispatch

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "prompts" / "business.toml")
TOKEN = "tools-token-19c2"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
MONDAY_10 = "2026-03-09T10:00:00-04:00"
CALL = "CA_tools"
CALLER = "+16175550199"
SHORT = 0.3  # the tool timeout in tests that stall

Save = Callable[[MessageRecord], Awaitable[str]]


@contextlib.asynccontextmanager
async def client_for(base_url: str, timeout: float = 3.0) -> AsyncIterator[BusinessClient]:
    async with make_http_client(base_url, TOKEN, timeout) as http:
        yield BusinessClient(http, retry_delay=0.01)


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


async def stored_appointments(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM appointments ORDER BY created_at"))
        return [dict(r) for r in rows.mappings()]


def booking_args(**overrides: Any) -> dict[str, Any]:
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
        if mode == "terse" and request.method == "POST":
            # Booked, but the answer leaves out `service` (and the customer's name).
            body = {
                "id": "apt_terse_1",
                "start": "2026-03-09T10:00:00-04:00",
                "end": "2026-03-09T11:00:00-04:00",
                "status": "booked",
            }
            return Response(orjson.dumps(body), 201, media_type="application/json")
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
