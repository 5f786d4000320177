"""HTTP plumbing the Google and Cal.com adapters share: a deadline and failures as kinds.

Every provider request runs inside `deadline(seconds)`; whatever goes wrong on the way comes
out as `CalendarUnavailable` with one of the kinds in app/calendar/errors.py. Messages name the
provider and the status, never a URL with a credential in it, a token or a response body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from app.calendar.errors import CalendarUnavailable, UnavailableKind


@contextlib.asynccontextmanager
async def deadline(provider: str, seconds: float) -> AsyncIterator[None]:
    """The whole block (token refresh, retry and all) answers within `seconds`, or 'slow'."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise CalendarUnavailable(
            "slow", f"{provider} did not answer within {seconds:g} s"
        ) from exc


def transport_failure(provider: str, exc: httpx.HTTPError) -> CalendarUnavailable:
    """A request that got no complete answer: refused/reset/DNS/TLS, or too slow."""
    if isinstance(exc, httpx.TimeoutException):
        return CalendarUnavailable("slow", f"{provider} did not answer in time")
    return CalendarUnavailable(
        "unreachable", f"{provider} could not be reached ({type(exc).__name__})"
    )


def status_kind(status: int) -> UnavailableKind:
    """The kind for an HTTP error status (the provider may refine 403 and 400 before this)."""
    if status == 429:
        return "rate_limited"
    if status == 401:
        return "revoked"
    if status >= 500:
        return "server_error"
    return "rejected"


def status_failure(provider: str, status: int, detail: str | None) -> CalendarUnavailable:
    kind = status_kind(status)
    said = f": {detail}" if detail else ""
    return CalendarUnavailable(kind, f"{provider} answered {status}{said}", status=status)


def json_object(provider: str, response: httpx.Response) -> dict[str, Any]:
    """The body of a success answer as a JSON object, or 'bad_response'."""
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise CalendarUnavailable(
            "bad_response",
            f"{provider} answered {response.status_code} with a body that is not a JSON object",
            status=response.status_code,
        )
    return value


def error_json(response: httpx.Response) -> dict[str, Any]:
    """An error answer's JSON object, or {} when it has none (error bodies are best effort)."""
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def short(text: object, limit: int = 200) -> str | None:
    """A provider's own error message, trimmed for logs and the console."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_instant(value: object) -> datetime:
    """An ISO 8601 time with an offset, as UTC; raises TypeError or ValueError otherwise."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)
