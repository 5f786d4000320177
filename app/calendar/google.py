"""Google Calendar as a `FreeBusyCalendar`: freeBusy.query, events.insert, events.delete (API v3).

Wire details and their sources: PROTOCOLS.md, protocols/calendars.md section 1.
- Busy time comes from freeBusy; a calendar the answer lists with `errors` was not read, and
  that is a failure, never "free".
- Each booking is one event with our deterministic id (`BookingEvent.event_id`, base32hex), so a
  repeated insert answers 409 "already exists"; a GET then tells a live event (success) from one
  deleted in the calendar since (Google never reuses an id: "rejected"). Events go
  in with `sendUpdates=none` and no attendees (no mail, no guest quota).
- Access tokens come from the owner's refresh token through google-auth (`Credentials.refresh`
  over a small httpx transport, run in a worker thread). A 401 from the API gets one forced
  refresh and one retry; a refresh answered `invalid_grant` means the owner must link again.
- Every call, token refresh included, answers within `timeout` seconds or fails as "slow".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport as google_transport
from google.oauth2.credentials import Credentials

from app.calendar.errors import CalendarUnavailable, UnavailableKind
from app.calendar.event import BookingEvent, Interval, utc
from app.calendar.http import (
    deadline,
    error_json,
    json_object,
    parse_instant,
    short,
    status_failure,
    transport_failure,
)
from app.config import Settings

PROVIDER = "Google Calendar"
# 403 reasons that mean "slow down", not "forbidden" (guides/errors, protocols/calendars.md 1.6).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
# Per-calendar freeBusy error reasons worth trying again later; any other means a person must act.
_RETRYABLE_FREEBUSY_REASONS = frozenset({"internalError", "backendError"})


class _Response(google_transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class TokenEndpointBusy(google_exceptions.TransportError):
    """The token endpoint answered 429 or 5xx. Raised from the transport so that google-auth does
    not sleep and retry inside the call (the outbox retries later, with its own backoff)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"token endpoint answered {status}")  # type: ignore[no-untyped-call]
        self.status = status


class HttpxTokenRequest(google_transport.Request):
    """google-auth's transport interface over a synchronous httpx client (token endpoint only)."""

    def __init__(self, client: httpx.Client, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or self._timeout
            )
        except httpx.HTTPError as exc:
            raise google_exceptions.TransportError(type(exc).__name__) from exc  # type: ignore[no-untyped-call]
        if response.status_code == 429 or response.status_code >= 500:
            raise TokenEndpointBusy(response.status_code)
        return _Response(response)


class GoogleCalendar:
    """One linked Google calendar (default: the owner's primary calendar)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        token_url: str,
        api_base: str,
        calendar_id: str = "primary",
        timeout: float = 2.0,
    ) -> None:
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._calendar_id = calendar_id
        self._timeout = timeout
        self._credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token,
            token_uri=token_url,
            client_id=client_id,
            client_secret=client_secret,
        )
        self._token_http = httpx.Client(timeout=timeout)
        self._token_request = HttpxTokenRequest(self._token_http, timeout)
        self._refreshing = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        http: httpx.AsyncClient,
        settings: Settings,
        refresh_token: str,
        calendar_id: str = "primary",
    ) -> GoogleCalendar:
        if settings.google_client_id is None or settings.google_client_secret is None:
            raise ValueError("Google Calendar needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET")
        return cls(
            http,
            refresh_token=refresh_token,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret.get_secret_value(),
            token_url=settings.google_token_url,
            api_base=settings.google_calendar_api_base,
            calendar_id=calendar_id,
            timeout=settings.calendar_timeout_seconds,
        )

    async def aclose(self) -> None:
        self._token_http.close()

    # --- FreeBusyCalendar ----------------------------------------------------------------------

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        body = {
            "timeMin": utc(start).isoformat(),
            "timeMax": utc(end).isoformat(),
            "timeZone": "UTC",
            "items": [{"id": self._calendar_id}],
        }
        response = await self._call("POST", "/freeBusy", json=body)
        if response.status_code != 200:
            raise self._failure(response)
        return self._busy_intervals(json_object(PROVIDER, response))

    async def write_event(self, event: BookingEvent) -> str:
        async with deadline(PROVIDER, self._timeout):  # the GET after a 409 included
            return await self._write_event(event)

    async def _write_event(self, event: BookingEvent) -> str:
        zone = event.tz.key
        body = {
            "id": event.event_id,
            "summary": event.title,
            "description": event.description,
            "start": {"dateTime": event.local_start.isoformat(), "timeZone": zone},
            "end": {"dateTime": event.local_end.isoformat(), "timeZone": zone},
        }
        response = await self._call(
            "POST", f"{self._events_path()}", json=body, params={"sendUpdates": "none"}
        )
        if response.status_code == 409:  # our id is taken: most likely an earlier write of ours
            return await self._confirm_existing(event.event_id)
        if response.status_code not in (200, 201):
            raise self._failure(response)
        answered = json_object(PROVIDER, response).get("id")
        return answered if isinstance(answered, str) and answered else event.event_id

    async def _confirm_existing(self, event_id: str) -> str:
        """After a 409: the event is ours and live (success), or was deleted (the id is burnt)."""
        response = await self._call("GET", f"{self._events_path()}/{quote(event_id, safe='')}")
        if response.status_code != 200:
            raise self._failure(response)
        if json_object(PROVIDER, response).get("status") == "cancelled":
            raise CalendarUnavailable(
                "rejected",
                "this booking's event was deleted from the Google calendar, and Google never "
                "takes an event id twice, so it is not written again",
                status=409,
            )
        return event_id

    async def delete_event(self, event_id: str) -> None:
        response = await self._call(
            "DELETE",
            f"{self._events_path()}/{quote(event_id, safe='')}",
            params={"sendUpdates": "none"},
        )
        if response.status_code in (200, 204, 404, 410):  # 404 / 410: already gone
            return
        raise self._failure(response)

    # --- plumbing ------------------------------------------------------------------------------

    def _events_path(self) -> str:
        return f"/calendars/{quote(self._calendar_id, safe='')}/events"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One API request with a fresh access token; a 401 gets one refresh and one retry."""
        async with deadline(PROVIDER, self._timeout):
            stale: str | None = None
            for _ in range(2):
                token = await self._access_token(stale)
                try:
                    response = await self._http.request(
                        method,
                        self._api_base + path,
                        json=json,
                        params=params,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=self._timeout,
                    )
                except httpx.HTTPError as exc:
                    raise transport_failure(PROVIDER, exc) from None
                if response.status_code != 401:
                    return response
                stale = token
        raise CalendarUnavailable(
            "revoked",
            "Google refused the calendar's access (401) even after a fresh sign-in token: "
            "link the calendar again",
            status=401,
        )

    async def _access_token(self, stale: str | None) -> str:
        """A valid access token; `stale` is one the API refused, so it is refreshed."""
        async with self._refreshing:
            token = self._credentials.token
            if token is None or not self._credentials.valid or token == stale:
                await asyncio.to_thread(self._refresh)
                token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise CalendarUnavailable("bad_response", "Google's token answer held no access token")
        return token

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._token_request)  # type: ignore[no-untyped-call]
        except google_exceptions.RefreshError as exc:
            raise _refresh_failure(exc) from None
        except TokenEndpointBusy as exc:
            raise status_failure(f"{PROVIDER} sign-in", exc.status, None) from None
        except google_exceptions.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, httpx.HTTPError):
                raise transport_failure(f"{PROVIDER} sign-in", cause) from None
            raise CalendarUnavailable(
                "unreachable", f"{PROVIDER} sign-in could not be reached"
            ) from None

    def _failure(self, response: httpx.Response) -> CalendarUnavailable:
        status = response.status_code
        error = error_json(response).get("error")
        message: str | None = None
        reasons: list[str] = []
        if isinstance(error, dict):
            message = short(error.get("message"))
            for item in error.get("errors") or []:
                if isinstance(item, dict) and isinstance(item.get("reason"), str):
                    reasons.append(item["reason"])
        detail = message if not reasons else f"{message or reasons[0]} ({', '.join(reasons)})"
        if status == 403 and RATE_LIMIT_REASONS.intersection(reasons):
            return CalendarUnavailable(
                "rate_limited", f"{PROVIDER} answered 403: {detail}", status=403
            )
        return status_failure(PROVIDER, status, detail)

    def _busy_intervals(self, answer: dict[str, Any]) -> list[Interval]:
        calendars = answer.get("calendars")
        if not isinstance(calendars, dict):
            raise CalendarUnavailable("bad_response", f"{PROVIDER} freeBusy has no calendars")
        entry = calendars.get(self._calendar_id)
        if entry is None and len(calendars) == 1:  # the key may be the resolved id
            entry = next(iter(calendars.values()))
        if not isinstance(entry, dict):
            raise CalendarUnavailable(
                "bad_response", f"{PROVIDER} freeBusy did not answer for the linked calendar"
            )
        errors = entry.get("errors")
        if errors:
            reasons = sorted(
                str(item.get("reason")) for item in errors if isinstance(item, dict)
            ) or ["unknown"]
            kind: UnavailableKind = (
                "server_error" if _RETRYABLE_FREEBUSY_REASONS.issuperset(reasons) else "rejected"
            )
            raise CalendarUnavailable(
                kind, f"{PROVIDER} could not read the calendar ({', '.join(reasons)})"
            )
        out: list[Interval] = []
        for item in entry.get("busy") or []:
            try:
                start = parse_instant(item["start"])
                end = parse_instant(item["end"])
            except (KeyError, TypeError, ValueError):
                raise CalendarUnavailable(
                    "bad_response", f"{PROVIDER} freeBusy has an unreadable busy period"
                ) from None
            if start < end:
                out.append((start, end))
        return sorted(out)


def _refresh_failure(exc: google_exceptions.RefreshError) -> CalendarUnavailable:
    """google-auth's RefreshError as a kind; its text may quote Google, never a token."""
    data = exc.args[1] if len(exc.args) > 1 else None
    error = data.get("error") if isinstance(data, dict) else None
    if error == "invalid_grant":
        return CalendarUnavailable(
            "revoked",
            "Google no longer accepts the calendar link (invalid_grant: revoked, expired or "
            "unused for six months): link the calendar again",
        )
    if exc.retryable:
        return CalendarUnavailable("server_error", f"{PROVIDER} sign-in failed for now")
    return CalendarUnavailable(
        "rejected", f"{PROVIDER} sign-in was refused ({error or 'unreadable answer'})"
    )
