"""A fake Google: the OAuth token endpoint and Calendar API v3's freeBusy and events, on 127.0.0.1.

Built from Google's public references (protocols/calendars.md section 1 quotes them):
- token endpoint, developers.google.com/identity/protocols/oauth2/web-server: form-encoded
  `grant_type=authorization_code|refresh_token`; a refresh answers no new refresh token; a dead
  grant is 400 `{"error": "invalid_grant", "error_description": "Token has been expired or
  revoked."}`; a wrong client is 401 `invalid_client`.
- freeBusy.query, developers.google.com/workspace/calendar/api/v3/reference/freebusy/query:
  `calendars.<id>.busy` and, for a calendar it could not read, `calendars.<id>.errors`.
- events.insert / events.delete, …/v3/reference/events/{insert,delete} and …/v3/reference/events:
  a client id is base32hex (a-v, 0-9), 5-1024 characters; an id used before, even by an event
  since deleted, answers 409 "The requested identifier already exists."; deleting a deleted
  event answers 410 "Resource has been deleted"; delete success is an empty body (204); get
  returns a deleted event too, with `"status": "cancelled"` (…/v3/reference/events, `status`).
- errors, …/workspace/calendar/api/guides/errors: `{"error": {"errors": [{"domain", "reason",
  "message"}], "code", "message"}}`; 401 `authError` "Invalid Credentials"; 403/429
  `usageLimits` rate limits; 500 `backendError`.

Knobs: `mode` ("ok", "rate_limited" 429, "rate_limited_403", "server_error" 500, "stall" until
stopped or `stall_seconds`, "garbage": 200 with an HTML page), `token_mode` the same for the token endpoint, `latency` added to
every answer, `revoke()` (refresh and access tokens die), `expire_access_tokens()`,
`add_busy()` (a block a person typed into the calendar), `freebusy_errors`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.doubles.http_service import FakeHttpService, Recorded

__all__ = ["EVENTS_SCOPE", "FREEBUSY_SCOPE", "FakeGoogle", "Mode", "StoredEvent"]

Mode = Literal["ok", "rate_limited", "rate_limited_403", "server_error", "stall", "garbage"]
FREEBUSY_SCOPE = "https://www.googleapis.com/auth/calendar.freebusy"
EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events.owned"
_EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")


@dataclass
class StoredEvent:
    calendar_id: str
    body: dict[str, Any]
    start: datetime  # UTC
    end: datetime  # UTC
    deleted: bool = False


@dataclass
class _Grant:
    refresh_token: str
    scopes: frozenset[str]
    alive: bool = True


def google_error(status: int, reason: str, message: str, domain: str = "global") -> JSONResponse:
    """Google's JSON error shape (Calendar API guides/errors)."""
    return JSONResponse(
        {
            "error": {
                "errors": [{"domain": domain, "reason": reason, "message": message}],
                "code": status,
                "message": message,
            }
        },
        status_code=status,
    )


def _parse_time(value: object, zone: str | None = None) -> datetime:
    if not isinstance(value, str):
        raise ValueError("missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        if zone is None:
            raise ValueError("no offset and no timeZone")
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


class FakeGoogle(FakeHttpService):
    """`async with FakeGoogle() as google`: token_url, api_base, client id/secret for the adapter."""

    def __init__(self, *, client_id: str = "123-abc.apps.googleusercontent.com") -> None:
        super().__init__(
            [
                Route("/token", self._token, methods=["POST"]),
                Route("/calendar/v3/freeBusy", self._freebusy, methods=["POST"]),
                Route(
                    "/calendar/v3/calendars/{calendar_id}/events", self._insert, methods=["POST"]
                ),
                Route(
                    "/calendar/v3/calendars/{calendar_id}/events/{event_id}",
                    self._event,
                    methods=["GET", "DELETE"],
                ),
            ]
        )
        self.client_id = client_id
        self.client_secret = "GOCSPX-" + secrets.token_urlsafe(16)
        self.mode: Mode = "ok"
        self.token_mode: Mode = "ok"
        self.freebusy_errors: dict[str, str] = {}  # calendar id -> errors[].reason
        self.calendars: set[str] = {"primary"}
        self._events: dict[tuple[str, str], StoredEvent] = {}
        self._busy: list[tuple[str, datetime, datetime]] = []
        self._grants: dict[str, _Grant] = {}
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def api_base(self) -> str:
        return self.base_url + "/calendar/v3"

    # --- control -------------------------------------------------------------------------------

    def grant(self, scopes: frozenset[str] = frozenset({FREEBUSY_SCOPE, EVENTS_SCOPE})) -> str:
        """A refresh token as if the owner had linked the calendar; returns it."""
        token = "1//0g" + secrets.token_urlsafe(24)
        self._grants[token] = _Grant(token, scopes)
        return token

    def add_code(
        self,
        scopes: frozenset[str] = frozenset({FREEBUSY_SCOPE, EVENTS_SCOPE}),
        *,
        with_refresh_token: bool = True,
    ) -> str:
        """An authorization code the callback would receive; exchanging it once links."""
        code = "4/0AeX" + secrets.token_urlsafe(16)
        refresh = "1//0g" + secrets.token_urlsafe(24) if with_refresh_token else ""
        self._codes[code] = _Grant(refresh, scopes)
        return code

    def revoke(self) -> None:
        """The owner removed our access in their Google Account: every token dies."""
        for grant in self._grants.values():
            grant.alive = False
        self._access.clear()

    def expire_access_tokens(self) -> None:
        self._access.clear()

    def add_busy(self, start: datetime, end: datetime, calendar_id: str = "primary") -> None:
        """Busy time a person typed into the calendar (not one of our events)."""
        self._busy.append((calendar_id, start.astimezone(UTC), end.astimezone(UTC)))

    def events(self, calendar_id: str = "primary", *, deleted: bool = False) -> list[StoredEvent]:
        return [
            event
            for (cal, _), event in self._events.items()
            if cal == calendar_id and event.deleted == deleted
        ]

    def event(self, event_id: str, calendar_id: str = "primary") -> StoredEvent | None:
        return self._events.get((calendar_id, event_id))

    # --- handlers ------------------------------------------------------------------------------

    async def _begin(self, request: Request, mode: Mode) -> tuple[Recorded, Response | None]:
        recorded = await self.record(request, stall=mode == "stall")
        if mode in ("rate_limited", "rate_limited_403"):
            status = 429 if mode == "rate_limited" else 403
            limited = google_error(
                status, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"
            )
            return recorded, limited
        if mode == "server_error":
            return recorded, google_error(500, "backendError", "Backend Error")
        if mode == "garbage":
            return recorded, HTMLResponse("<html><body>502 Bad Gateway</body></html>")
        return recorded, None

    def _authorised(self, request: Request, scope: str) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = self._access.get(token) if scheme.lower() == "bearer" else None
        if grant is None or not grant.alive:
            response = google_error(401, "authError", "Invalid Credentials")
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response
        if scope not in grant.scopes:
            return google_error(403, "insufficientPermissions", "Insufficient Permission")
        return None

    async def _token(self, request: Request) -> Response:
        recorded, early = await self._begin(request, self.token_mode)
        if early is not None:
            return self.done(recorded, early)
        form = recorded.body if isinstance(recorded.body, dict) else {}
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            bad = {"error": "invalid_client", "error_description": "Unauthorized"}
            return self.done(recorded, JSONResponse(bad, status_code=401))
        dead = JSONResponse(
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            status_code=400,
        )
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            grant = self._grants.get(form.get("refresh_token", ""))
            if grant is None or not grant.alive:
                return self.done(recorded, dead)
            return self.done(recorded, JSONResponse(self._issue(grant, refresh=False)))
        if grant_type == "authorization_code":
            code_grant = self._codes.pop(form.get("code", ""), None)
            if code_grant is None:
                bad_code = {"error": "invalid_grant", "error_description": "Bad Request"}
                return self.done(recorded, JSONResponse(bad_code, status_code=400))
            if code_grant.refresh_token:
                self._grants[code_grant.refresh_token] = code_grant
            answer = self._issue(code_grant, refresh=bool(code_grant.refresh_token))
            return self.done(recorded, JSONResponse(answer))
        bad = {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        return self.done(recorded, JSONResponse(bad, status_code=400))

    def _issue(self, grant: _Grant, *, refresh: bool) -> dict[str, Any]:
        access = "ya29.a0" + secrets.token_urlsafe(32)
        self._access[access] = grant
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": 3599,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }
        if refresh:
            answer["refresh_token"] = grant.refresh_token
        return answer

    async def _freebusy(self, request: Request) -> Response:
        recorded, early = await self._begin(request, self.mode)
        if early is not None:
            return self.done(recorded, early)
        if (denied := self._authorised(request, FREEBUSY_SCOPE)) is not None:
            return self.done(recorded, denied)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        try:
            time_min = _parse_time(body.get("timeMin"))
            time_max = _parse_time(body.get("timeMax"))
            zone = ZoneInfo(body.get("timeZone") or "UTC")
        except (ValueError, ZoneInfoNotFoundError):
            return self.done(recorded, google_error(400, "badRequest", "Bad Request"))
        if time_min >= time_max:
            return self.done(
                recorded,
                google_error(
                    400, "timeRangeEmpty", "The specified time range is empty.", "calendar"
                ),
            )
        calendars: dict[str, Any] = {}
        for item in body.get("items") or []:
            calendar_id = str(item.get("id"))
            if calendar_id in self.freebusy_errors or calendar_id not in self.calendars:
                reason = self.freebusy_errors.get(calendar_id, "notFound")
                calendars[calendar_id] = {
                    "errors": [{"domain": "global", "reason": reason}],
                    "busy": [],
                }
                continue
            calendars[calendar_id] = {"busy": self._busy_in(calendar_id, time_min, time_max, zone)}
        answer = {
            "kind": "calendar#freeBusy",
            "timeMin": time_min.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timeMax": time_max.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "calendars": calendars,
        }
        return self.done(recorded, JSONResponse(answer))

    def _busy_in(
        self, calendar_id: str, time_min: datetime, time_max: datetime, zone: ZoneInfo
    ) -> list[dict[str, str]]:
        spans = [(s, e) for cal, s, e in self._busy if cal == calendar_id]
        spans += [(ev.start, ev.end) for ev in self.events(calendar_id)]
        out: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            start, end = max(start, time_min), min(end, time_max)
            if start >= end:
                continue
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))

        def text(moment: datetime) -> str:
            if zone.key == "UTC":
                return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            return moment.astimezone(zone).isoformat()

        return [{"start": text(s), "end": text(e)} for s, e in out]

    async def _insert(self, request: Request) -> Response:
        recorded, early = await self._begin(request, self.mode)
        if early is not None:
            return self.done(recorded, early)
        if (denied := self._authorised(request, EVENTS_SCOPE)) is not None:
            return self.done(recorded, denied)
        calendar_id = request.path_params["calendar_id"]
        body = recorded.body if isinstance(recorded.body, dict) else {}
        if recorded.query.get("sendUpdates") != "none":
            self.problems.append("events.insert without sendUpdates=none")
        if body.get("attendees"):
            self.problems.append("events.insert with attendees")
        if calendar_id not in self.calendars:
            return self.done(recorded, google_error(404, "notFound", "Not Found"))
        event_id = body.get("id")
        if event_id is not None and not (
            isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)
        ):
            return self.done(recorded, google_error(400, "invalid", "Invalid resource id value."))
        try:
            start = _parse_time(body["start"].get("dateTime"), body["start"].get("timeZone"))
            end = _parse_time(body["end"].get("dateTime"), body["end"].get("timeZone"))
        except (KeyError, AttributeError, ValueError, ZoneInfoNotFoundError):
            return self.done(
                recorded,
                google_error(400, "required", "Missing time zone definition for start time."),
            )
        if end <= start:
            return self.done(
                recorded,
                google_error(
                    400, "timeRangeEmpty", "The specified time range is empty.", "calendar"
                ),
            )
        event_id = event_id or secrets.token_hex(13)
        if (calendar_id, event_id) in self._events:  # deleted ones too: ids are never reused
            return self.done(
                recorded, google_error(409, "duplicate", "The requested identifier already exists.")
            )
        self._events[(calendar_id, event_id)] = StoredEvent(calendar_id, body, start, end)
        answer = {
            "kind": "calendar#event",
            "etag": f'"{secrets.randbelow(10**16)}"',
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "iCalUID": f"{event_id}@google.com",
            **{k: v for k, v in body.items() if k != "id"},
        }
        return self.done(recorded, JSONResponse(answer))

    async def _event(self, request: Request) -> Response:
        if request.method == "DELETE":
            return await self._delete(request)
        recorded, early = await self._begin(request, self.mode)
        if early is not None:
            return self.done(recorded, early)
        if (denied := self._authorised(request, EVENTS_SCOPE)) is not None:
            return self.done(recorded, denied)
        key = (request.path_params["calendar_id"], request.path_params["event_id"])
        event = self._events.get(key)
        if event is None:
            return self.done(recorded, google_error(404, "notFound", "Not Found"))
        status = "cancelled" if event.deleted else "confirmed"  # get returns deleted events too
        answer = {"kind": "calendar#event", "id": key[1], **event.body, "status": status}
        return self.done(recorded, JSONResponse(answer))

    async def _delete(self, request: Request) -> Response:
        recorded, early = await self._begin(request, self.mode)
        if early is not None:
            return self.done(recorded, early)
        if (denied := self._authorised(request, EVENTS_SCOPE)) is not None:
            return self.done(recorded, denied)
        key = (request.path_params["calendar_id"], request.path_params["event_id"])
        event = self._events.get(key)
        if event is None:
            return self.done(recorded, google_error(404, "notFound", "Not Found"))
        if event.deleted:
            return self.done(recorded, google_error(410, "deleted", "Resource has been deleted"))
        event.deleted = True
        return self.done(recorded, Response(status_code=204))
