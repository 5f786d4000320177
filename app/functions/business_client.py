"""The HTTP client of the business API contract (docs/business-api.md), for every backend.

One shared `httpx.AsyncClient` (see `make_http_client`) serves all calls. GETs are retried once
on a broken connection or a 5xx without Retry-After; a booking is never retried: the model's call id travels as the
`Idempotency-Key`, so only a replay of the same tool call could safely repeat it. Every failure
is a `BusinessError` of one of four kinds, which the tools turn into words for the caller.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.business.profile import Closure, WeeklyHours
from app.logging import get_logger

__all__ = [
    "CALENDAR_UNAVAILABLE",
    "CANT_SEE_DIARY",
    "Appointment",
    "Availability",
    "BusinessClient",
    "BusinessError",
    "ErrorKind",
    "HoursInfo",
    "Slot",
    "make_http_client",
]

ErrorKind = Literal["timeout", "unreachable", "http", "bad_response"]
M = TypeVar("M", bound=BaseModel)

log = get_logger(__name__)

_BODY_LIMIT = 2000  # characters of an error body kept for logs and the tools

# The business's calendar could not be read (the built-in backend's 503): nothing was offered
# or booked, and the agent offers a message instead.
CALENDAR_UNAVAILABLE = "calendar_unavailable"
CANT_SEE_DIARY = (
    "The diary can't be checked right now, so no time can be offered or booked. Say: "
    "\"I'm sorry, I can't see the diary right now. May I take a message so someone calls you "
    'back to book?"'
)


class BusinessError(Exception):
    """The business API did not give a usable answer.

    kind: "unreachable": the request did not get through (connection refused, reset, DNS);
          "timeout": no complete answer in time; for a booking the outcome is unknown;
          "http": an error status (body holds the parsed JSON error when there is one);
          "bad_response": a success status with a body that breaks the contract.
    """

    def __init__(self, kind: ErrorKind, status: int | None = None, body: Any = None) -> None:
        super().__init__(f"business API {kind}" + (f" {status}" if status else ""))
        self.kind: ErrorKind = kind
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        """The contract's `error.code`, when the body carries one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    @property
    def message(self) -> str | None:
        """The contract's `error.message`, when the body carries one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return message if isinstance(message, str) else None


class _Wire(BaseModel):
    # A business's own backend may add fields; only the contract's ones are read.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Slot(_Wire):
    start: AwareDatetime
    end: AwareDatetime


class ApiClosure(Closure):
    model_config = ConfigDict(extra="ignore", frozen=True)


class HoursInfo(_Wire):
    """GET /hours: the business's timezone, weekly hours and dated closures."""

    timezone: str
    weekly: WeeklyHours
    closures: tuple[ApiClosure, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Availability(_Wire):
    """GET /availability: the free slots of one service on one local date."""

    date: dt.date
    service: str
    slots: tuple[Slot, ...] = Field(max_length=500)
    timezone: str | None = None  # optional in the contract; the slots' offsets suffice
    closure_reason: str | None = None  # optional: why a day has no slots


class Appointment(_Wire):
    """POST /appointments (201, or 200 for a replayed Idempotency-Key).

    Any 2xx is a booking: what the answer lacks is filled from the request (`from_answer`).
    """

    id: str | None = Field(default=None, min_length=1, max_length=200)
    service: str
    start: AwareDatetime
    end: AwareDatetime | None = None
    status: str = "booked"
    customer_name: str | None = None

    @classmethod
    def from_answer(cls, body: object, request: Mapping[str, Any]) -> Appointment:
        """The booking a 2xx answer confirms, its gaps (or unreadable fields) filled from the
        request; the business's own values win wherever they are valid."""
        asked = {k: request.get(k) for k in ("service", "start", "customer_name")}
        answered = (
            {k: v for k, v in body.items() if v is not None} if isinstance(body, dict) else {}
        )
        try:
            return cls.model_validate({**asked, **answered})
        except ValidationError:
            log.warning("booking_answer_unreadable", fields=sorted(answered)[:10])
            return cls.model_validate({**asked, "id": _text_or_none(answered.get("id"))})


def _text_or_none(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def make_http_client(
    base_url: str,
    token: str | None,
    timeout: float,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one client the tools share: bearer token, per-request timeouts, no proxy lookup."""
    headers = {"Accept": "application/json", "User-Agent": "receptionist/0.1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        transport=transport,
        trust_env=False,
    )


def _body(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:_BODY_LIMIT]


class BusinessClient:
    """Typed calls of the business API over a shared `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, *, retry_delay: float = 0.1) -> None:
        self._http = http
        self._retry_delay = retry_delay

    async def get_hours(self) -> HoursInfo:
        response = await self._get("hours")
        return self._parse(response, HoursInfo)

    async def get_availability(self, day: dt.date, service: str) -> Availability:
        response = await self._get("availability", {"date": day.isoformat(), "service": service})
        return self._parse(response, Availability)

    async def book(self, payload: Mapping[str, Any], idempotency_key: str) -> Appointment:
        """POST /appointments once; a 409 is a BusinessError("http", 409, body with alternatives)."""
        try:
            response = await self._http.post(
                "appointments",
                content=orjson.dumps(dict(payload)),
                headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise BusinessError("unreachable") from None
        except httpx.TransportError:
            # The request may have arrived and the booking been made: the outcome is unknown.
            raise BusinessError("timeout") from None
        if not 200 <= response.status_code < 300:
            raise BusinessError("http", response.status_code, _body(response))
        # The appointment exists: never report it as failed because the answer is terse.
        return Appointment.from_answer(_body(response) if response.content else {}, payload)

    async def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        for attempt in (1, 2):
            last = attempt == 2
            try:
                response = await self._http.get(url, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if last:
                    raise BusinessError("unreachable") from None
            except httpx.TimeoutException:
                raise BusinessError("timeout") from None  # the time budget is spent: no retry
            except httpx.TransportError:
                if last:
                    raise BusinessError("unreachable") from None
            else:
                # A 5xx with Retry-After says asking again now is pointless (RFC 9110 10.2.3):
                # the built-in backend answers so when the business's calendar is away.
                gave_up = "retry-after" in response.headers
                if response.status_code < 500 or last or gave_up:
                    if response.status_code != 200:
                        raise BusinessError("http", response.status_code, _body(response))
                    return response
            await asyncio.sleep(self._retry_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _parse(response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate(orjson.loads(response.content))
        except (orjson.JSONDecodeError, ValidationError):
            body = response.text[:_BODY_LIMIT]
            raise BusinessError("bad_response", response.status_code, body) from None
