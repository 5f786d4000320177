"""Linking Google Calendar (OAuth 2.0, from the Calendar page) and Cal.com (an API key).

Google: the page's button posts here (CSRF-checked like every console form); we answer with a
redirect to Google's consent screen, asking for offline access and the two narrowest scopes
(free/busy, and events on calendars the owner owns), with a random `state` and a PKCE
verifier kept in a signed, short-lived cookie. Google sends the owner back to
`/staff/calendar/google/callback` on PUBLIC_BASE_URL (behind the console's sign-in); the state
must match the cookie, the code is exchanged once, and the refresh token is sealed with
SECRET_KEY. A free/busy read proves the grant before it is stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.calendar.calcom import CalcomCalendar
from app.calendar.errors import CalendarUnavailable
from app.calendar.google import GoogleCalendar
from app.calendar.google_oauth import consent_url, exchange_code
from app.logging import get_logger
from app.staff.calendar_page import CalendarPages, form_field, in_words, linked_as
from app.staff.context import Console
from app.staff.sessions import Signer

log = get_logger(__name__)

STATE_COOKIE = "calendar_oauth"
STATE_SECONDS = 600


class CalendarConnect:
    def __init__(self, console: Console, pages: CalendarPages, key: bytes) -> None:
        self.console = console
        self.pages = pages
        self._signer = Signer(key, "calendar-oauth-state")

    def _done(self, request: Request) -> Response:
        return RedirectResponse(request.url_for("staff:calendar").path + "?done=linked", 303)

    def _redirect_uri(self, request: Request) -> str:
        path = request.url_for("staff:calendar_google_callback").path
        base = self.console.settings.public_base_url or str(request.base_url).rstrip("/")
        return base + path

    # -- Google ----------------------------------------------------------------------------

    async def google_start(self, request: Request) -> Response:
        settings = self.console.settings
        if linked_as(request, "google") is None or settings.google_client_id is None:
            return await self.pages.show(request, 409, error="CALENDAR is not set to google.")
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        url = consent_url(
            settings.google_oauth_url,
            settings.google_client_id,
            self._redirect_uri(request),
            state,
            code_challenge=challenge.rstrip(b"=").decode(),
        )
        response = RedirectResponse(url, 303)
        value = self._signer.sign(f"{state}:{verifier}:{int(time.time())}")
        self.console.set_cookie(response, STATE_COOKIE, value, STATE_SECONDS)
        return response

    def _verifier(self, request: Request, state: str) -> str | None:
        """The PKCE verifier of the consent this browser started, if `state` is its own."""
        signed = self._signer.unsign(request.cookies.get(STATE_COOKIE, ""))
        if signed is None:
            return None
        expected, verifier, issued = signed.split(":", 2)
        fresh = issued.isdigit() and time.time() - int(issued) <= STATE_SECONDS
        if not fresh or not secrets.compare_digest(expected, state):
            return None
        return verifier

    async def google_callback(self, request: Request) -> Response:
        settings = self.console.settings
        calendar = linked_as(request, "google")
        params = request.query_params
        if calendar is None or settings.google_client_id is None:
            return await self.pages.show(request, 409, error="CALENDAR is not set to google.")
        assert settings.google_client_secret is not None  # config requires the pair
        if params.get("error"):
            # e.g. access_denied: the owner pressed Cancel on Google's screen.
            return await self.pages.show(
                request, 400, error="Google did not grant access, so nothing was linked."
            )
        verifier = self._verifier(request, params.get("state", ""))
        if verifier is None or not params.get("code"):
            return await self.pages.show(
                request, 400, error="That link from Google has expired. Press Connect again."
            )
        async with httpx.AsyncClient(trust_env=False) as http:
            try:
                grant = await exchange_code(
                    http,
                    settings.google_token_url,
                    settings.google_client_id,
                    settings.google_client_secret.get_secret_value(),
                    params["code"],
                    self._redirect_uri(request),
                    code_verifier=verifier,
                )
                probe = GoogleCalendar.from_settings(http, settings, grant.refresh_token)
                try:
                    now = datetime.now(UTC)
                    await probe.busy(now, now + timedelta(days=1))
                finally:
                    await probe.aclose()
            except CalendarUnavailable as exc:
                log.info("calendar_link_refused", provider="google", kind=exc.kind)
                return await self.pages.show(request, 400, error=in_words(exc))
        details = {"calendar_id": "primary", "name": "Primary calendar"}
        await calendar.links.link("google", details, {"refresh_token": grant.refresh_token})
        await calendar.forget()
        response = self._done(request)
        response.delete_cookie(STATE_COOKIE, path="/staff")
        return response

    # -- Cal.com ---------------------------------------------------------------------------

    async def calcom(self, request: Request) -> Response:
        calendar = linked_as(request, "calcom")
        if calendar is None:
            return await self.pages.show(request, 409, error="CALENDAR is not set to calcom.")
        key = form_field(await request.form(), "api_key", 200)
        if not key:
            return await self.pages.show(request, 400, error="Paste your Cal.com API key.")
        services = request.app.state.runtime.business.profile.services
        async with httpx.AsyncClient(trust_env=False) as http:
            probe = CalcomCalendar.from_settings(http, self.console.settings, key)
            try:
                # Proves the key and every event type the profile names.
                now = datetime.now(UTC)
                for service in services:
                    assert service.calcom_event_type_id is not None  # checked at start-up
                    await probe.slots(service.calcom_event_type_id, now, now + timedelta(days=1))
            except CalendarUnavailable as exc:
                log.info("calendar_link_refused", provider="calcom", kind=exc.kind)
                return await self.pages.show(request, 400, error=in_words(exc))
            finally:
                await probe.aclose()
        await calendar.links.link("calcom", {"key_hint": key[-4:]}, {"api_key": key})
        await calendar.forget()
        return self._done(request)
