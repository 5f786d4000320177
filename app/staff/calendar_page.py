"""The console's Calendar page: what is linked, linking and unlinking it, and proof it works.

CalDAV takes the server's (or the calendar's) address, a user name and an app password;
Cal.com an API key; Google goes through its consent screen (app/staff/google_link.py). The
credentials are sealed with SECRET_KEY before they are stored and never shown again: the page
shows only what is safe (the address, the user, the calendar's name, the last four characters
of a key). "Show the next free slots" asks the receptionist's own availability route, so what
it shows is exactly what a caller would be offered.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.calendar import outbox as calendar_outbox
from app.calendar.caldav_calendar import CalDavCalendar, list_calendars
from app.calendar.errors import CalendarUnavailable
from app.calendar.service import BusinessCalendar
from app.functions.business_client import BusinessError
from app.logging import get_logger
from app.runtime import Runtime
from app.staff.context import Console, engine_of

log = get_logger(__name__)

SLOTS_SHOWN = 6
CHOICE_SECONDS = 600
DAYS_LOOKED = 14


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def linked_as(request: Request, provider: str) -> BusinessCalendar | None:
    """The business's calendar when CALENDAR is `provider`, else None."""
    calendar = _runtime(request).calendar
    if calendar is None or calendar.provider is None or calendar.provider.value != provider:
        return None
    return calendar


def form_field(form: Any, name: str, limit: int = 500) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


class CalendarPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _page(self, request: Request) -> str:
        return request.url_for("staff:calendar").path

    async def show(self, request: Request, status: int = 200, **extra: Any) -> Response:
        runtime = _runtime(request)
        calendar = runtime.calendar
        link = await calendar.link(fresh=True) if calendar is not None else None
        problems: list[Any] = []
        if calendar is not None:
            async with engine_of(request).connect() as conn:
                problems = await calendar_outbox.problems(conn)
        flash = request.query_params.get("done", "")
        shown: dict[str, Any] = {
            "error": None,
            "url": "",
            "username": "",
            "check_service": None,
            "check_error": None,
            "free": None,
            "choices": None,
            "sealed": "",
        }
        return self.console.render(
            request,
            "calendar.html",
            status,
            page="calendar",
            provider=self.console.settings.calendar,
            link=link,
            problems=problems,
            services=[s.name for s in runtime.business.profile.services],
            flash=flash if flash in ("linked", "unlinked") else "",
            **(shown | extra),
        )

    async def page(self, request: Request) -> Response:
        return await self.show(request)

    async def link_caldav(self, request: Request) -> Response:
        """Link a CalDAV calendar. Where the address holds several, the owner picks one; the
        app password travels back with that choice sealed (never in plain text), 10 minutes."""
        calendar = linked_as(request, "caldav")
        if calendar is None:
            return await self.show(request, 409, error="CALENDAR is not set to caldav.")
        form = await request.form()
        url, user = form_field(form, "url"), form_field(form, "username")
        sealer = calendar.links.sealer
        password = form_field(form, "password") or (
            sealer.open_text(form_field(form, "sealed", 2000), CHOICE_SECONDS) or ""
        )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return await self.show(
                request, 400, error="The address must start with https:// (or http://).", url=url
            )
        if not user or not password:
            return await self.show(
                request,
                400,
                error="Both the user name and the app password are needed.",
                url=url,
                username=user,
            )
        timeout = self.console.settings.calendar_timeout_seconds
        try:
            found = await list_calendars(url, user, password, timeout)
            chosen = [c for c in found if c[0] == form_field(form, "calendar_url")]
            if not chosen and len(found) > 1:
                return await self.show(
                    request,
                    200,
                    url=url,
                    username=user,
                    choices=found,
                    sealed=sealer.seal_text(password),
                )
            calendar_url, name = (chosen or found)[0]
            # Prove the free/busy read works before anything is stored.
            probe = CalDavCalendar(calendar_url, user, password, calendar.tz, timeout)
            now = datetime.now(UTC)
            try:
                await probe.busy(now, now + timedelta(days=1))
            finally:
                await probe.aclose()
        except CalendarUnavailable as exc:
            log.info("calendar_link_refused", provider="caldav", kind=exc.kind)
            return await self.show(request, 400, error=in_words(exc), url=url, username=user)
        details = {"url": url, "calendar_url": calendar_url, "username": user, "name": name}
        await calendar.links.link("caldav", details, {"password": password})
        await calendar.forget()
        return RedirectResponse(self._page(request) + "?done=linked", 303)

    async def unlink(self, request: Request) -> Response:
        calendar = _runtime(request).calendar
        if calendar is not None:
            await calendar.links.unlink()
            await calendar.forget()
            log.info("staff_calendar_unlinked", user_id=request.state.staff.user_id)
        return RedirectResponse(self._page(request) + "?done=unlinked", 303)

    async def next_free(self, request: Request) -> Response:
        """The next free slots of a service, from the receptionist's own availability route."""
        runtime = _runtime(request)
        form = await request.form()
        profile = runtime.business.profile
        service = profile.service(form_field(form, "service", 80)) or profile.services[0]
        today = datetime.now(profile.tz).date()
        found: list[tuple[date, datetime]] = []
        try:
            for offset in range(DAYS_LOOKED):
                day = today + timedelta(days=offset)
                answer = await runtime.business.client.get_availability(day, service.name)
                found += [(day, s.start.astimezone(profile.tz)) for s in answer.slots]
                if len(found) >= SLOTS_SHOWN:
                    break
        except BusinessError as err:
            message = err.message or "the availability check failed"
            return await self.show(request, 200, check_service=service.name, check_error=message)
        return await self.show(
            request,
            200,
            check_service=service.name,
            free=[start for _, start in found[:SLOTS_SHOWN]],
        )


async def calendar_alert(calendar: BusinessCalendar | None) -> str | None:
    """What Today says when callers cannot book because the calendar is not linked."""
    if calendar is None:
        return None
    try:
        link = await calendar.link()
    except Exception as exc:  # Today must render with the database slow or away
        log.warning("calendar_alert_unknown", error=type(exc).__name__)
        return None
    if link is None:
        return "Your calendar is not linked yet: callers can leave a message but can't book."
    if link.status == "disconnected" or link.secret is None:
        return f"Your calendar was disconnected ({link.last_error}): callers can't book."
    return None


def in_words(exc: CalendarUnavailable) -> str:
    """Why linking failed, for an owner."""
    return {
        "revoked": "The server refused the user name or app password. Check them (use an "
        "app-specific password, not your main one).",
        "unreachable": "Nothing answered at that address. Check it, and that the server is up.",
        "slow": "The server took too long to answer. Try again in a minute.",
        "rate_limited": "The server is limiting requests right now. Try again in a minute.",
        "server_error": "The server had an error. Try again in a minute.",
    }.get(exc.kind, exc.message)
