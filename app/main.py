"""The Starlette application: routes, and a lifespan that owns the database and clients."""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app import compose
from app.business.api import business_app
from app.business.backend import BusinessBackend
from app.business.calendar_view import CalendarView, check_profile
from app.business.profile import load_profile
from app.config import Settings
from app.db.engine import ping, project_root
from app.fleet.client_address import FlyClientAddress
from app.fleet.machines import Machines
from app.fleet.replay import FlyReplay
from app.front import front_door_route
from app.logging import get_logger
from app.phone.routes import phone_routes
from app.recording.callbacks import recording_status
from app.recording.console import recording_routes
from app.runtime import Runtime
from app.staff.routes import staff_mount
from app.twilio.callbacks import call_status, stream_ended, transfer_done, transfer_whisper
from app.twilio.incoming import incoming_call
from app.twilio.stream import stream_endpoint

log = get_logger(__name__)


class RequestIdMiddleware:
    """Binds a request id (Fly's or a new one) to every log line of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"fly-request-id", b"").decode("latin-1") or uuid.uuid4().hex
        with structlog.contextvars.bound_contextvars(request_id=request_id[:64]):
            await self.app(scope, receive, send)


async def healthz(request: Request) -> Response:
    """The process is alive (Fly's health check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The service can take calls: the database answers."""
    runtime: Runtime = request.app.state.runtime
    if runtime.draining:
        return JSONResponse({"status": "draining"}, 503)
    if await ping(runtime.engine):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, 503)


async def _not_ready(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": {"code": "starting", "message": "not ready"}}, 503)(
        scope, receive, send
    )


def create_app(settings: Settings) -> Starlette:
    """The service. Raises ValueError (one clear line) when the business profile is invalid,
    ConfigError when SECRET_KEY is required and missing."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.openai_api_key is None:
            log.warning(
                "openai_api_key_missing",
                detail="OPENAI_API_KEY is not set: callers get a polite fallback, not the agent",
            )
        if settings.twilio_auth_token is None:
            log.warning(
                "twilio_auth_token_missing",
                detail="TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused",
            )
        async with compose.runtime(settings, business) as runtime:
            # The built-in backend's route exists from the start (503 until now): it needs the
            # database, which exists only once the lifespan runs.
            view = None
            if runtime.calendar is not None:
                view = CalendarView(runtime.calendar, business.profile, runtime.engine)
            writer = runtime.calendar_writer
            business_mount.app = business_app(
                business.profile,
                runtime.engine,
                business.token,
                calendar=view,
                on_booking=writer.wake if writer is not None else lambda: None,
            )
            app.state.runtime = runtime
            # Everything loaded so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise pause the event loop (and the audio).
            gc.collect()
            gc.freeze()
            log.info(
                "service_started", port=settings.port, embedded_database=not settings.database_url
            )
            yield
        log.info("service_stopped")

    profile_path = settings.business_profile
    if not profile_path.is_absolute() and not profile_path.exists():
        profile_path = project_root() / profile_path  # relative to the checkout or image
    profile = load_profile(profile_path)
    check_profile(profile, settings.calendar.value if settings.calendar else None)
    business = BusinessBackend(settings, profile)
    # The built-in backend is mounted now and given its database once the lifespan starts.
    business_mount = Mount("/business", app=_not_ready)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/twilio/incoming", incoming_call, methods=["POST"]),
        Route("/twilio/status", call_status, methods=["POST"]),
    ]
    # Call-scoped routes answer both as `/twilio/...` and as `/m/<machine id>/twilio/...`, the
    # form a Machine of a Fly fleet hands out (app/fleet/). The full path is what Twilio signed.
    for prefix in ("", "/m/{machine}"):
        routes += [
            Route(f"{prefix}/twilio/stream-ended", stream_ended, methods=["POST"]),
            Route(f"{prefix}/twilio/transfer/whisper", transfer_whisper, methods=["POST"]),
            Route(f"{prefix}/twilio/transfer/done", transfer_done, methods=["POST"]),
            Route(f"{prefix}/twilio/recording-status", recording_status, methods=["POST"]),
            WebSocketRoute(f"{prefix}/twilio/stream", stream_endpoint),
        ]
    routes += [
        front_door_route(settings, profile),
        staff_mount(
            settings,
            profile.tz,
            profile.name,
            extra=[*phone_routes(profile.name), *recording_routes()],
        ),
    ]
    if business.builtin:
        routes.append(business_mount)
    app = Starlette(routes=routes, lifespan=lifespan)
    # A call's request that reached another Machine than the one holding the call is replayed
    # there by Fly's proxy, before any route (or WebSocket accept) sees it.
    app.add_middleware(FlyReplay, machines=_machines)
    app.add_middleware(RequestIdMiddleware)
    if settings.fly_app_name:  # the client's address is the one Fly's proxy accepted
        app.add_middleware(FlyClientAddress)
    return app


def _machines(scope: Scope) -> Machines | None:
    """The running service's view of the fleet; None while it is starting."""
    runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
    return runtime.machines if runtime is not None else None
