"""Linking Google: the consent URL, and the code exchange against the fake token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.calendar.errors import CalendarUnavailable
from app.calendar.google_oauth import SCOPES, GoogleGrant, consent_url, exchange_code
from tests.doubles.google_calendar import EVENTS_SCOPE, FREEBUSY_SCOPE, FakeGoogle

REDIRECT = "https://recept.example/staff/calendar/google/callback"


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


def test_consent_url_asks_for_lasting_narrow_access() -> None:
    url = consent_url(
        "https://accounts.google.com/o/oauth2/v2/auth", "123-abc.apps", REDIRECT, "csrf-1"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "accounts.google.com",
        "/o/oauth2/v2/auth",
    )
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": "123-abc.apps",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": f"{FREEBUSY_SCOPE} {EVENTS_SCOPE}",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "csrf-1",
    }
    assert SCOPES == (FREEBUSY_SCOPE, EVENTS_SCOPE)


def test_consent_url_with_pkce() -> None:
    query = parse_qs(
        urlsplit(
            consent_url("https://a.example/auth", "c", REDIRECT, "s", code_challenge="abc")
        ).query
    )
    assert query["code_challenge"] == ["abc"]
    assert query["code_challenge_method"] == ["S256"]


async def exchange(google: FakeGoogle, code: str) -> GoogleGrant:
    async with httpx.AsyncClient() as http:
        return await exchange_code(
            http, google.token_url, google.client_id, google.client_secret, code, REDIRECT
        )


async def test_a_full_grant_links(google: FakeGoogle) -> None:
    grant = await exchange(google, google.add_code())
    assert grant.scopes == frozenset(SCOPES)
    assert grant.refresh_token.startswith("1//")
    assert grant.expires_in == 3599
    assert grant.refresh_token not in repr(grant)
    sent = google.requests[-1].body
    assert sent["grant_type"] == "authorization_code"
    assert sent["redirect_uri"] == REDIRECT


async def test_a_grant_without_event_writes_is_refused_in_plain_words(google: FakeGoogle) -> None:
    with pytest.raises(CalendarUnavailable) as caught:
        await exchange(google, google.add_code(frozenset({FREEBUSY_SCOPE})))
    assert caught.value.kind == "rejected"
    assert "add and remove the bookings" in caught.value.message
    assert "see when you are busy" not in caught.value.message


async def test_a_grant_without_free_busy_is_refused(google: FakeGoogle) -> None:
    with pytest.raises(CalendarUnavailable) as caught:
        await exchange(google, google.add_code(frozenset({EVENTS_SCOPE})))
    assert "see when you are busy" in caught.value.message


async def test_no_refresh_token_is_refused(google: FakeGoogle) -> None:
    with pytest.raises(CalendarUnavailable) as caught:
        await exchange(google, google.add_code(with_refresh_token=False))
    assert caught.value.kind == "rejected"
    assert "link the calendar again" in caught.value.message


async def test_a_used_code_is_refused(google: FakeGoogle) -> None:
    code = google.add_code()
    await exchange(google, code)
    with pytest.raises(CalendarUnavailable) as caught:
        await exchange(google, code)
    assert (caught.value.kind, caught.value.status) == ("rejected", 400)
