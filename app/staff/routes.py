"""The /staff mount: the console's routes behind its guard, with its headers and assets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.staff.calendar_connect import CalendarConnect
from app.staff.calendar_page import CalendarPages
from app.staff.callers import CallerPages
from app.staff.context import Console
from app.staff.guard import GuardConfig, StaffGuard
from app.staff.headers import SecurityHeaders
from app.staff.login import LoginPages
from app.staff.pages import Pages
from app.staff.render import make_templates
from app.staff.secret import secret_key
from app.staff.sessions import Signer
from app.staff.throttle import Limits

STATIC = Path(__file__).parent / "static"


class _Cached:
    """Static assets may be cached for an hour (pages never are: they hold call data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cache-control", b"public, max-age=3600"),
                ]
            await send(message)

        await self.app(scope, receive, send_cached)


def staff_mount(
    settings: Settings,
    tz: ZoneInfo,
    business_name: str,
    limits: Limits | None = None,
    extra: Sequence[BaseRoute] = (),
) -> Mount:
    """Mount at /staff. Raises ConfigError when SECRET_KEY is required and missing.

    `extra`: more staff-only routes (e.g. the dev phone at /staff/phone); they sit behind the
    same sign-in, CSRF check and headers as every console page.
    """
    key = secret_key(settings)
    console = Console(
        settings=settings,
        tz=tz,
        business_name=business_name,
        templates=make_templates(tz),
        session_signer=Signer(key, "staff-session"),
        prelogin_signer=Signer(key, "staff-prelogin"),
    )
    login = LoginPages(console, limits or Limits())
    pages = Pages(console)
    calendar = CalendarPages(console)
    connect = CalendarConnect(console, calendar, key)
    caller = CallerPages(console)
    routes = [
        Route("/", pages.today, name="today"),
        Route("/login", login.login, methods=["GET", "POST"], name="login"),
        Route("/logout", login.logout, methods=["POST"], name="logout"),
        Route("/calls", pages.calls, name="calls"),
        Route("/checks", pages.checks, name="checks"),
        Route("/calls/{call_sid}", pages.call, name="call"),
        Route("/calls/{call_sid}/live", pages.call_live, name="call_live"),
        Route("/callers/blocked", caller.blocked, name="blocked"),
        Route("/callers/{number}", caller.page, name="caller"),
        Route("/callers/{number}/block", caller.block, methods=["POST"], name="caller_block"),
        Route("/callers/{number}/unblock", caller.unblock, methods=["POST"], name="caller_unblock"),
        Route("/callers/{number}/forget", caller.forget, methods=["POST"], name="caller_forget"),
        Route("/messages", pages.messages, name="messages"),
        Route(
            "/messages/{message_id}/handled",
            pages.mark_handled,
            methods=["POST"],
            name="mark_handled",
        ),
        Route("/appointments", pages.appointments, name="appointments"),
        Route(
            "/appointments/{appointment_id}/cancel",
            pages.cancel,
            methods=["GET", "POST"],
            name="cancel",
        ),
        Route("/calendar", calendar.page, name="calendar"),
        Route("/calendar/caldav", calendar.link_caldav, methods=["POST"], name="calendar_caldav"),
        Route("/calendar/calcom", connect.calcom, methods=["POST"], name="calendar_calcom"),
        Route("/calendar/google", connect.google_start, methods=["POST"], name="calendar_google"),
        Route(
            "/calendar/google/callback",
            connect.google_callback,
            name="calendar_google_callback",
        ),
        Route("/calendar/check", calendar.next_free, methods=["POST"], name="calendar_check"),
        Route("/calendar/unlink", calendar.unlink, methods=["POST"], name="calendar_unlink"),
        Mount("/static", app=_Cached(StaticFiles(directory=STATIC)), name="static"),
        *extra,
    ]
    guard = GuardConfig(
        session_signer=console.session_signer,
        prelogin_signer=console.prelogin_signer,
        idle=console.idle,
        public_base=settings.public_base_url,
    )
    return Mount(
        "/staff",
        routes=routes,
        name="staff",
        middleware=[Middleware(SecurityHeaders), Middleware(StaffGuard, config=guard)],
    )
