"""The fake Google answers in the shapes of Google's documented examples, which the adapter reads.

Examples: Calendar API v3 reference (freebusy/query, events/insert), guides/errors, and the OAuth
web-server guide, as quoted in protocols/calendars.md section 1 (values made up there too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from app.calendar.google import GoogleCalendar
from tests.doubles.google_calendar import EVENTS_SCOPE, FREEBUSY_SCOPE, FakeGoogle
from tests.test_doubles.shapes import shape

FREEBUSY_EXAMPLE = {
    "kind": "calendar#freeBusy",
    "timeMin": "2026-12-08T07:00:00.000Z",
    "timeMax": "2026-12-08T17:00:00.000Z",
    "calendars": {
        "primary": {
            "busy": [{"start": "2026-12-08T10:00:00+01:00", "end": "2026-12-08T11:00:00+01:00"}]
        },
        "c_9x@group.calendar.google.com": {
            "errors": [{"domain": "global", "reason": "notFound"}],
            "busy": [],
        },
    },
}
RATE_LIMIT_EXAMPLE = {
    "error": {
        "errors": [
            {
                "domain": "usageLimits",
                "reason": "rateLimitExceeded",
                "message": "Rate Limit Exceeded",
            }
        ],
        "code": 403,
        "message": "Rate Limit Exceeded",
    }
}
INSERT_EXAMPLE_KEYS = {
    "kind",
    "etag",
    "id",
    "status",
    "htmlLink",
    "iCalUID",
    "summary",
    "start",
    "end",
}
CODE_EXAMPLE = {
    "access_token": "ya29.a0A…",
    "expires_in": 3599,
    "token_type": "Bearer",
    "refresh_token": "1//0gF…",
    "scope": f"{FREEBUSY_SCOPE} {EVENTS_SCOPE}",
}
INVALID_GRANT_EXAMPLE = {
    "error": "invalid_grant",
    "error_description": "Token has been expired or revoked.",
}


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


async def access_token(http: httpx.AsyncClient, google: FakeGoogle) -> str:
    answer = await http.post(
        google.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": google.grant(),
            "client_id": google.client_id,
            "client_secret": google.client_secret,
        },
    )
    assert answer.status_code == 200
    assert set(answer.json()) == set(CODE_EXAMPLE) - {
        "refresh_token"
    }  # a refresh keeps the old one
    token: str = answer.json()["access_token"]
    return token


async def test_freebusy_answers_in_the_documented_shape(google: FakeGoogle) -> None:
    google.add_busy(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 10, tzinfo=UTC))
    async with httpx.AsyncClient() as http:
        token = await access_token(http, google)
        answer = await http.post(
            google.api_base + "/freeBusy",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "timeMin": "2026-12-08T08:00:00+01:00",
                "timeMax": "2026-12-08T18:00:00+01:00",
                "timeZone": "Europe/Berlin",
                "items": [{"id": "primary"}, {"id": "c_9x@group.calendar.google.com"}],
            },
        )
    assert answer.status_code == 200
    assert answer.json() == FREEBUSY_EXAMPLE


async def test_the_adapter_reads_the_documented_freebusy_example() -> None:
    async with httpx.AsyncClient() as http:
        adapter = GoogleCalendar(
            http,
            refresh_token="x",
            client_id="x",
            client_secret="x",
            token_url="http://127.0.0.1:9/token",
            api_base="http://127.0.0.1:9",
        )
        busy = adapter._busy_intervals(FREEBUSY_EXAMPLE)
        await adapter.aclose()
    assert busy == [(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 10, tzinfo=UTC))]


async def test_errors_and_tokens_have_the_documented_shapes(google: FakeGoogle) -> None:
    async with httpx.AsyncClient() as http:
        token = await access_token(http, google)
        inserted = await http.post(
            google.api_base + "/calendars/primary/events",
            params={"sendUpdates": "none"},
            headers={"Authorization": f"Bearer {token}"},
            json={
                "id": "7f3a0c9e1b2d4e5f8a6b7c8d9e0f1a2b",
                "summary": "Haircut – Jane Doe",
                "start": {"dateTime": "2026-12-08T14:00:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2026-12-08T14:30:00", "timeZone": "Europe/Berlin"},
            },
        )
        assert inserted.status_code == 200
        assert set(inserted.json()) >= INSERT_EXAMPLE_KEYS
        assert inserted.json()["iCalUID"] == "7f3a0c9e1b2d4e5f8a6b7c8d9e0f1a2b@google.com"
        google.mode = "rate_limited_403"
        limited = await http.post(google.api_base + "/freeBusy", json={})
        assert (limited.status_code, limited.json()) == (403, RATE_LIMIT_EXAMPLE)
        google.mode = "ok"
        code = await http.post(
            google.token_url,
            data={
                "grant_type": "authorization_code",
                "code": google.add_code(),
                "client_id": google.client_id,
                "client_secret": google.client_secret,
                "redirect_uri": "https://recept.example/cb",
            },
        )
        assert shape(code.json()) == shape(CODE_EXAMPLE)
        google.revoke()
        dead = await http.post(
            google.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": "1//0gF-unknown",
                "client_id": google.client_id,
                "client_secret": google.client_secret,
            },
        )
        assert (dead.status_code, dead.json()) == (400, INVALID_GRANT_EXAMPLE)


@pytest.mark.parametrize(
    ("event_id", "status"),
    [
        ("rcpa0123abcd", 200),  # base32hex: a-v and 0-9
        ("7f3a0c9e-1b2d-4e5f-8a6b-7c8d9e0f1a2b", 400),  # a dashed UUID
        ("RCPA0123ABCD", 400),  # upper case
        ("rcpw0123", 400),  # w is past v
        ("rcp1", 400),  # under 5 characters
    ],
)
async def test_event_ids_follow_googles_rule(
    google: FakeGoogle, event_id: str, status: int
) -> None:
    async with httpx.AsyncClient() as http:
        token = await access_token(http, google)
        answer = await http.post(
            google.api_base + "/calendars/primary/events",
            params={"sendUpdates": "none"},
            headers={"Authorization": f"Bearer {token}"},
            json={
                "id": event_id,
                "start": {"dateTime": "2026-12-08T14:00:00+01:00"},
                "end": {"dateTime": "2026-12-08T14:30:00+01:00"},
            },
        )
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"]["errors"][0]["reason"] == "invalid"
