"""The Starlette application: routes, and a lifespan that owns the database and clients."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.business.profile import load_profile
from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, ping, project_root, upgrade
from app.db.store import CallStore
from app.front import front_door_route
from app.logging import get_logger
from app.realtime.client import PreparedSessions
from app.realtime.session import load_template
from app.runtime import Runtime
from app.staff.routes import staff_mount
from app.staff.upkeep import Upkeep
from app.twilio.callbacks import call_status, stream_ended, transfer_done, transfer_whisper
from app.twilio.incoming import incoming_call
from app.twilio.stream import stream_endpoint
from app.twilio.tokens import StreamTokens
from app.wiring import Business, install

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


def _token_secret(settings: Settings) -> bytes:
    if settings.twilio_auth_token is not None:
        return hashlib.sha256(settings.twilio_auth_token.get_secret_value().encode()).digest()
    return secrets.token_bytes(32)


async def _not_ready(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": {"code": "starting", "message": "not ready"}}, 503)(
        scope, receive, send
    )


def create_app(settings: Settings) -> Starlette:
    """The service. Raises ValueError (one clear line) when the business profile is invalid,
    ConfigError when SECRET_KEY is required and missing."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await embedded.start()
            await upgrade(url)
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
        engine = make_engine(url)
        store = CallStore(engine, settings.data_dir / "spool")
        await store.start()
        twilio_http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            store=store,
            tokens=StreamTokens(_token_secret(settings), settings.stream_token_ttl_seconds),
            prepared=PreparedSessions(settings.preconnect_ttl_seconds),
            prompt_template=load_template(project_root() / "prompts" / "system.md"),
        )
        install(runtime, business, twilio_http)
        business_mount.app = business.app(runtime)
        app.state.runtime = runtime
        upkeep = Upkeep(engine, settings)  # the staff console's daily chores
        await upkeep.start()
        # Everything loaded so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise pause the event loop (and the audio) for tens of ms.
        gc.collect()
        gc.freeze()
        log.info("service_started", port=settings.port, embedded_database=embedded is not None)
        try:
            yield
        finally:
            await upkeep.stop()
            await runtime.prepared.close_all()
            await business.http.aclose()
            await twilio_http.aclose()
            await store.stop()
            await engine.dispose()
            if embedded is not None:
                await embedded.stop()
            log.info("service_stopped")

    profile_path = settings.business_profile
    if not profile_path.is_absolute() and not profile_path.exists():
        profile_path = project_root() / profile_path  # relative to the checkout or image
    profile = load_profile(profile_path)
    business = Business(settings, profile)
    # The built-in backend is mounted now and given its database once the lifespan starts.
    business_mount = Mount("/business", app=_not_ready)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/twilio/incoming", incoming_call, methods=["POST"]),
        Route("/twilio/stream-ended", stream_ended, methods=["POST"]),
        Route("/twilio/status", call_status, methods=["POST"]),
        Route("/twilio/transfer/whisper", transfer_whisper, methods=["POST"]),
        Route("/twilio/transfer/done", transfer_done, methods=["POST"]),
        WebSocketRoute("/twilio/stream", stream_endpoint),
        front_door_route(settings, profile),
        staff_mount(settings, profile.tz, profile.name),
    ]
    if business.builtin:
        routes.append(business_mount)
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)
    return app
