"""The Starlette application: routes, and a lifespan that owns the database and clients."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, ping, upgrade
from app.logging import get_logger

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
    if await ping(request.app.state.engine):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, 503)


def create_app(settings: Settings) -> Starlette:
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
        engine = make_engine(url)
        app.state.settings = settings
        app.state.engine = engine
        log.info("service_started", port=settings.port, embedded_database=embedded is not None)
        try:
            yield
        finally:
            await engine.dispose()
            if embedded is not None:
                await embedded.stop()
            log.info("service_stopped")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)
    return app
