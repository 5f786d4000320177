"""Linking a Google calendar: the consent URL and the code-for-tokens exchange (OAuth 2.0).

Web-server flow (protocols/calendars.md 1.1, Google's "Using OAuth 2.0 for Web Server
Applications"): `access_type=offline` so Google returns a refresh token, `prompt=consent` so it
returns one again when the owner links a second time, `include_granted_scopes=true`. The owner
may untick one of the two permissions on Google's screen (granular consent), so the exchange
reads the `scope` Google granted and refuses a link that could not do its job.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from app.calendar.errors import CalendarUnavailable
from app.calendar.http import (
    error_json,
    json_object,
    short,
    status_failure,
    transport_failure,
)

_PREFIX = "https://www.googleapis.com/auth/"
FREEBUSY_SCOPE = _PREFIX + "calendar.freebusy"
EVENTS_SCOPE = _PREFIX + "calendar.events.owned"
# The narrowest pair: read busy times, and write events into calendars the owner owns.
SCOPES: tuple[str, ...] = (FREEBUSY_SCOPE, EVENTS_SCOPE)
_WHAT_SCOPE_ALLOWS = {
    FREEBUSY_SCOPE: "see when you are busy (to offer only free times)",
    EVENTS_SCOPE: "add and remove the bookings as events in your calendar",
}
PROVIDER = "Google sign-in"


@dataclass(frozen=True)
class GoogleGrant:
    """What a successful link yields; `refresh_token` is the one secret to keep (sealed)."""

    refresh_token: str
    scopes: frozenset[str]
    access_token: str
    expires_in: int

    def __repr__(self) -> str:  # never print the tokens
        return f"GoogleGrant(scopes={sorted(self.scopes)!r}, expires_in={self.expires_in})"


def consent_url(
    auth_url: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    *,
    code_challenge: str | None = None,
) -> str:
    """Where to send the owner to link the calendar (`state` is the CSRF token to check back).

    `code_challenge`, if given, is base64url(sha256(verifier)) for PKCE (S256); pass the
    verifier to `exchange_code` then.
    """
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
    }
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    separator = "&" if "?" in auth_url else "?"
    return f"{auth_url}{separator}{urlencode(params)}"


async def exchange_code(
    http: httpx.AsyncClient,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    *,
    code_verifier: str | None = None,
    timeout: float = 10.0,
) -> GoogleGrant:
    """Trade the callback's `code` for tokens; CalendarUnavailable when the link is unusable."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    try:
        response = await http.post(token_url, data=form, timeout=timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(PROVIDER, exc) from None
    if response.status_code != 200:
        body = error_json(response)
        error = body.get("error")
        detail = short(body.get("error_description")) or (error if isinstance(error, str) else None)
        if error == "invalid_grant":  # a used, expired or foreign code: start again
            raise CalendarUnavailable(
                "rejected",
                "Google did not accept the sign-in code (it expired or was already used): "
                "please try linking the calendar again",
                status=response.status_code,
            )
        raise status_failure(PROVIDER, response.status_code, detail)
    answer = json_object(PROVIDER, response)
    access_token = answer.get("access_token")
    refresh_token = answer.get("refresh_token")
    expires_in = answer.get("expires_in")
    if not isinstance(access_token, str) or not access_token:
        raise CalendarUnavailable("bad_response", "Google's answer held no access token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise CalendarUnavailable(
            "rejected",
            "Google did not hand out lasting access to the calendar. Remove this app under "
            "your Google Account's third-party access, then link the calendar again",
        )
    scope = answer.get("scope")
    granted = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    missing = [name for name in SCOPES if name not in granted]
    if missing:
        wanted = " and ".join(_WHAT_SCOPE_ALLOWS[name] for name in missing)
        raise CalendarUnavailable(
            "rejected",
            f"On Google's screen the permission to {wanted} was not ticked. The receptionist "
            "needs both permissions: link the calendar again and tick every box",
        )
    return GoogleGrant(
        refresh_token=refresh_token,
        scopes=granted,
        access_token=access_token,
        expires_in=int(expires_in) if isinstance(expires_in, int | float) else 3600,
    )
