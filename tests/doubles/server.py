"""Run an ASGI app on a real uvicorn server on 127.0.0.1 inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from app.server import WS_MAX_SIZE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _QuietServer(uvicorn.Server):
    """Leaves the process's signal handlers alone: the test runner owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class RunningServer:
    port: int
    server: uvicorn.Server

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp,
    port: int | None = None,
    *,
    ws_max_size: int = WS_MAX_SIZE,
    proxy: dict[str, Any] | None = None,
) -> AsyncIterator[RunningServer]:
    """Start uvicorn (lifespan included) and stop it on exit, as `receptionist serve` would.

    `proxy`: the forwarded-header options `serve` passes (app.server.proxy_options); without
    them uvicorn's defaults apply (X-Forwarded-* believed from loopback)."""
    config = uvicorn.Config(
        app,
        **(proxy or {}),
        host="127.0.0.1",
        port=port or free_port(),
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=ws_max_size,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield RunningServer(config.port, server)
    finally:
        server.should_exit = True
        await task


async def wait_ready(http: httpx.AsyncClient, proc: subprocess.Popen[str]) -> None:
    """Wait until a `receptionist serve` subprocess answers /readyz 200 (within 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early"
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("never ready")
