"""The built-in business backend: the business API contract served from the profile and Postgres.

Mounted at /business by the service when BUSINESS_API_BASE is unset; the tools reach it over
HTTP with the same client as any other backend (docs/business-api.md). Double booking is
refused by the database (the appointments_no_overlap exclusion constraint), not by a check
here, so two callers racing for the last unit of a slot get one 201 and one 409.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.business.hours import Booked, free_slots, local_day_bounds, unbookable_reason
from app.business.profile import BusinessProfile, Service
from app.business.tables import appointments
from app.logging import get_logger

__all__ = ["business_app"]

log = get_logger(__name__)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_BODY = 16 * 1024
_MAX_KEY = 200
_ALTERNATIVES = 3
_ALTERNATIVE_DAYS = 14  # how many days after the requested one may offer alternatives


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return _json({"error": {"code": code, "message": message}, **extra}, status)


class _BearerAuth:
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
        response = _error(401, "unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


class _BookingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: str = Field(min_length=1, max_length=80)
    start: Annotated[AwareDatetime, Strict()]
    customer_name: str = Field(min_length=1, max_length=100)
    customer_phone: str | None = Field(default=None, max_length=40)
    notes: str | None = Field(default=None, max_length=1000)
    call_sid: str | None = Field(default=None, max_length=64)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class _Backend:
    def __init__(
        self, profile: BusinessProfile, engine: AsyncEngine, clock: Callable[[], datetime]
    ) -> None:
        self.profile = profile
        self.engine = engine
        self.clock = clock
        self.tz = profile.tz

    # -- helpers ---------------------------------------------------------------------------

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat()

    def _slot_json(self, start: datetime, end: datetime) -> dict[str, str]:
        return {"start": self._local(start), "end": self._local(end)}

    def _service(self, name: str) -> Service | Response:
        service = self.profile.service(name)
        if service is None:
            known = ", ".join(s.name for s in self.profile.services)
            return _error(422, "unknown_service", f"unknown service {name!r}; services: {known}")
        return service

    async def _booked(self, service: Service, start: datetime, end: datetime) -> list[Booked]:
        t = appointments.c
        query = select(t.starts_at, t.ends_at, t.slot).where(
            t.service == service.name,
            t.status == "booked",
            t.starts_at < end,
            t.ends_at > start,
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [(r.starts_at, r.ends_at, r.slot) for r in rows]

    def _appointment_json(self, row: RowMapping) -> dict[str, Any]:
        return {
            "id": row["id"],
            "service": row["service"],
            "start": self._local(row["starts_at"]),
            "end": self._local(row["ends_at"]),
            "status": row["status"],
            "customer_name": row["customer_name"],
        }

    async def _by_key(self, key: str) -> RowMapping | None:
        query = select(appointments).where(appointments.c.idempotency_key == key)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).mappings().first()

    async def _alternatives(
        self, service: Service, wanted: datetime, now: datetime
    ) -> list[dict[str, str]]:
        """Up to three free slots: the nearest on the wanted day, then the next open days."""
        first = wanted.astimezone(self.tz).date()
        days = min(_ALTERNATIVE_DAYS, self.profile.booking.max_days_ahead)
        window_start = local_day_bounds(self.tz, first)[0]
        window_end = local_day_bounds(self.tz, first + timedelta(days=days))[1]
        booked = await self._booked(service, window_start, window_end)
        found: list[tuple[datetime, datetime]] = []
        for offset in range(days + 1):
            day_slots = free_slots(
                self.profile, service, first + timedelta(days=offset), booked, now
            )
            if offset == 0:
                day_slots.sort(key=lambda s: abs((s[0] - wanted).total_seconds()))
            found += day_slots[: _ALTERNATIVES - len(found)]
            if len(found) >= _ALTERNATIVES:
                break
        return [self._slot_json(s, e) for s, e in found]

    # -- routes ----------------------------------------------------------------------------

    async def hours(self, request: Request) -> Response:
        today = self.clock().astimezone(self.tz).date()
        closures = [c.as_json() for c in self.profile.closures if c.last >= today][:50]
        return _json(
            {
                "timezone": self.profile.timezone,
                "weekly": self.profile.hours.as_json(),
                "closures": closures,
            }
        )

    async def availability(self, request: Request) -> Response:
        raw_date = request.query_params.get("date", "")
        raw_service = request.query_params.get("service", "")
        if not raw_service.strip():
            return _error(422, "missing_service", "the 'service' query parameter is required")
        try:
            if not _DATE.fullmatch(raw_date):
                raise ValueError
            day = date.fromisoformat(raw_date)
        except ValueError:
            return _error(422, "invalid_date", "'date' must be a calendar date as YYYY-MM-DD")
        service = self._service(raw_service)
        if isinstance(service, Response):
            return service
        now = self.clock()
        start, end = local_day_bounds(self.tz, day)
        booked = await self._booked(service, start, end)
        slots = free_slots(self.profile, service, day, booked, now)
        closure = self.profile.closure_on(day)
        return _json(
            {
                "date": day.isoformat(),
                "service": service.name,
                "timezone": self.profile.timezone,
                "duration_minutes": service.duration_minutes,
                "slots": [self._slot_json(s, e) for s, e in slots],
                "closure_reason": closure.reason if closure else None,
            }
        )

    async def book(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(422, "wrong_content_type", "send the booking as application/json")
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= _MAX_KEY:
            return _error(422, "invalid_idempotency_key", f"1 to {_MAX_KEY} characters")
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > _MAX_BODY:
            return _error(422, "too_large", f"the body must be under {_MAX_BODY} bytes")
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _error(422, "too_large", f"the body must be under {_MAX_BODY} bytes")
        try:
            req = _BookingRequest.model_validate_json(body)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                return _error(422, "invalid_json", "the body is not valid JSON")
            return _error(422, "invalid_request", _validation_message(exc))
        if key is not None:
            existing = await self._by_key(key)
            if existing is not None:
                return self._replay(existing, req)
        service = self._service(req.service)
        if isinstance(service, Response):
            return service
        now = self.clock()
        problem = unbookable_reason(self.profile, service, req.start, now)
        if problem is not None:
            return _error(422, *problem)
        start = req.start.astimezone(UTC)
        end = start + timedelta(minutes=service.duration_minutes)
        for unit in range(service.capacity):
            row = await self._insert(req, service, start, end, unit, key)
            if row is not None:
                log.info("appointment_booked", appointment_id=row["id"], service=service.name)
                return _json(self._appointment_json(row), 201)
            if key is not None:
                # The key's unique constraint may be what refused us: a concurrent replay.
                existing = await self._by_key(key)
                if existing is not None:
                    return self._replay(existing, req)
        alternatives = await self._alternatives(service, start, now)
        return _error(
            409,
            "slot_taken",
            "that time is no longer available",
            alternatives=alternatives,
        )

    def _replay(self, existing: RowMapping, req: _BookingRequest) -> Response:
        same = (
            self.profile.service(req.service) is not None
            and existing["service"].casefold() == req.service.strip().casefold()
            and existing["starts_at"] == req.start
        )
        if not same:
            return _error(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different booking",
            )
        return _json(self._appointment_json(existing), 200, {"Idempotent-Replayed": "true"})

    async def _insert(
        self,
        req: _BookingRequest,
        service: Service,
        start: datetime,
        end: datetime,
        unit: int,
        key: str | None,
    ) -> RowMapping | None:
        # ON CONFLICT DO NOTHING without a target covers the exclusion constraint and the
        # idempotency key alike: a refused insert returns no row instead of raising.
        statement = (
            pg_insert(appointments)
            .values(
                id="apt_" + secrets.token_hex(8),
                service=service.name,
                starts_at=start,
                ends_at=end,
                slot=unit,
                customer_name=req.customer_name,
                customer_phone=req.customer_phone,
                notes=req.notes,
                status="booked",
                idempotency_key=key,
                call_sid=req.call_sid,
            )
            .on_conflict_do_nothing()
            .returning(*appointments.c)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).mappings().first()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail))


def business_app(
    profile: BusinessProfile,
    engine: AsyncEngine,
    token: str,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The contract's routes (/hours, /availability, /appointments) behind a bearer token."""
    if not token:
        raise ValueError("the built-in business API needs a non-empty token")
    backend = _Backend(profile, engine, clock or (lambda: datetime.now(UTC)))
    return Starlette(
        routes=[
            Route("/hours", backend.hours, methods=["GET"]),
            Route("/availability", backend.availability, methods=["GET"]),
            Route("/appointments", backend.book, methods=["POST"]),
        ],
        middleware=[Middleware(_BearerAuth, token=token)],
        exception_handlers={HTTPException: _http_error},
    )
