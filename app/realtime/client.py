"""Model sessions: one WebSocket to OpenAI Realtime per call, opened as early as possible.

A `ModelSession` connects in the background and reads every server event into a queue from
the first moment, so a session opened when the webhook arrives has the greeting's audio waiting
when the media stream starts. `PreparedSessions` keeps those sessions by CallSid until the
stream adopts them, and closes any that nobody adopts (a paid session must never leak).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import websockets
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.logging import get_logger
from app.wire import realtime as wire

log = get_logger(__name__)

CLOSED = None  # sentinel in `frames`: the model socket is gone


Sink = Callable[[str | bytes | None], None]
# The opening messages, or a future of them: a session opened at webhook time connects while
# what it needs to say first (e.g. instructions with the caller's note) is still being looked
# up, so the lookup costs the greeting nothing unless it is slower than the connect.
Opening = Sequence[str] | Awaitable[Sequence[str]]


class ModelSession:
    """One Realtime connection. Raw server events are buffered in `frames` until a driver
    `attach`es a sink; from then on each one goes straight to the sink (None: it closed)."""

    def __init__(
        self,
        settings: Settings,
        call_sid: str,
        first_messages: Opening = (),
        connect_timeout: float = 5.0,
        model: str | None = None,
    ) -> None:
        self.call_sid = call_sid
        self.model = model or settings.openai_realtime_model
        self.frames: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._sink: Sink = self.frames.put_nowait
        self._settings = settings
        self._first = first_messages
        self._connect_timeout = connect_timeout
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._run(), name=f"model-{call_sid[-6:]}")

    @property
    def url(self) -> str:
        return f"{self._settings.openai_realtime_url}?model={self.model}"

    async def _run(self) -> None:
        key = self._settings.openai_api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value() if key else ''}"}
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await connect(
                    self.url,
                    additional_headers=headers,
                    compression=None,  # base64 audio barely compresses; deflate costs CPU + RAM
                    max_size=2**22,
                    ping_interval=20,
                    close_timeout=2,
                    open_timeout=self._connect_timeout,
                )
            self._ws = ws
            first = self._first
            for message in first if isinstance(first, Sequence) else await first:
                await ws.send(message)
            self._ready.set()
            async for frame in ws:
                self._sink(frame)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            log.warning("model_socket_closed", error=type(exc).__name__, detail=str(exc)[:200])
        finally:
            self._ready.set()
            self._sink(CLOSED)
            if self._ws is not None:
                await self._ws.close()

    async def send(self, message: str) -> bool:
        """Send once connected; False when the socket is gone (the reader reports it)."""
        ws = self._ws
        if ws is None:
            await self._ready.wait()
            ws = self._ws
            if ws is None:
                return False
        try:
            await ws.send(message)
        except websockets.ConnectionClosed:
            return False
        return True

    def attach(self, sink: Sink) -> None:
        """Hand over what arrived so far, then deliver every further event directly."""
        while not self.frames.empty():
            sink(self.frames.get_nowait())
        self._sink = sink

    async def wait_connected(self, timeout: float) -> bool:
        """True once the socket is open and the opening messages are sent."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return False
        return self._ws is not None and not self.closed

    async def close(self) -> None:
        """Close the socket while the reader keeps draining it, so the close handshake is quick."""
        if self._closed:
            return
        self._closed = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def closed(self) -> bool:
        return self._closed or self._task.done()


def opening_messages(session: dict[str, object], greet: bool) -> list[str]:
    messages = [wire.session_update(session)]
    if greet:
        messages.append(wire.response_create())
    return messages


class PreparedSessions:
    """Sessions opened at webhook time, waiting for their media stream."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._sessions: dict[str, tuple[ModelSession, asyncio.TimerHandle]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.expired = 0

    def _close_later(self, session: ModelSession) -> None:
        task = asyncio.create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def add(self, session: ModelSession) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._ttl, self._expire, session.call_sid)
        old = self._sessions.pop(session.call_sid, None)
        if old is not None:  # a retried webhook: keep the newest session only
            old[1].cancel()
            self._close_later(old[0])
        self._sessions[session.call_sid] = (session, timer)

    def adopt(self, call_sid: str) -> ModelSession | None:
        entry = self._sessions.pop(call_sid, None)
        if entry is None:
            return None
        entry[1].cancel()
        return entry[0]

    def _expire(self, call_sid: str) -> None:
        entry = self._sessions.pop(call_sid, None)
        if entry is not None:
            self.expired += 1
            log.info("prepared_session_expired", call_sid=call_sid)
            self._close_later(entry[0])

    def __len__(self) -> int:
        return len(self._sessions)

    def has(self, call_sid: str) -> bool:
        return call_sid in self._sessions

    async def close_all(self) -> None:
        entries = list(self._sessions.values())
        self._sessions.clear()
        for session, timer in entries:
            timer.cancel()
            await session.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
