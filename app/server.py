"""The uvicorn server the `serve` command runs, with graceful draining on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn

from app.config import Settings
from app.logging import get_logger

log = get_logger(__name__)

# What uvicorn itself accepts: the app reads frames up to this and closes over MAX_FRAME_BYTES
# with a clean 1009 (refusing inside uvicorn resets the socket while the peer is still sending).
WS_MAX_SIZE = 1024 * 1024


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for forwarded headers: believed only from FORWARDED_ALLOW_IPS.

    uvicorn rewrites the client address from X-Forwarded-For (and the scheme from
    X-Forwarded-Proto) only when the connection comes from one of these proxies. With none
    named, nobody's headers are believed, loopback included: the sign-in throttle keys on the
    address (app/staff/throttle.py) and must not be handed one by the client. On Fly the
    platform's own header is used instead (app/fleet/client_address.py).
    """
    trusted = settings.forwarded_allow_ips
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) or None}


class ReceptionistServer(uvicorn.Server):
    """uvicorn that drains calls on the first SIGTERM/SIGINT and exits 0 when done.

    Stock uvicorn stops accepting connections at once and re-raises the signal afterwards, so
    a deploy would cut calls short and look like a crash (exit -15). Here the first signal runs
    `drain` (calls finish or are wrapped up politely) and only then shuts uvicorn down; a
    second signal exits without waiting.
    """

    def __init__(
        self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is None or self._drain_task is not None or self._loop is None:
            super().handle_exit(sig, frame)
            return
        log.info("shutdown_requested", signal=signal.Signals(sig).name)
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        assert self._drain is not None
        self._drain_task = asyncio.ensure_future(self._drain_then_exit(self._drain))

    async def _drain_then_exit(self, drain: Callable[[], Awaitable[None]]) -> None:
        try:
            await drain()
        except Exception:
            log.exception("drain_failed")
        self.should_exit = True
