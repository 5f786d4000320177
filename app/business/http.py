"""The built-in backend's HTTP pieces: JSON and error answers, the bearer check, the booking body."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.calendar.errors import CalendarUnavailable


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_response({"error": {"code": code, "message": message}, **extra}, status)


def calendar_error(exc: CalendarUnavailable) -> Response:
    """The calendar could not be read: nothing is offered or booked blind. Retry-After tells a
    client not to ask again at once (the calendar already had its time)."""
    response = error_response(
        503,
        "calendar_unavailable",
        "the business's calendar cannot be read right now, so no time can be offered or booked",
        reason=exc.kind,
    )
    response.headers["Retry-After"] = "30"
    return response


class BearerAuth:
    """Every route needs `Authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = b""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                supplied = value
        if hmac.compare_digest(supplied, self.expected):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


class BookingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: str = Field(min_length=1, max_length=80)
    start: Annotated[AwareDatetime, Strict()]
    customer_name: str = Field(min_length=1, max_length=100)
    customer_phone: str | None = Field(default=None, max_length=40)
    notes: str | None = Field(default=None, max_length=1000)
    call_sid: str | None = Field(default=None, max_length=64)


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
