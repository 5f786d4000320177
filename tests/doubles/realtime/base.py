"""What a fake session records, its test-facing waits and controls, and its sending plumbing.

FakeSession is built in layers, one concern a module: this base; responses.py (the model's
responses and output items) on it; input_audio.py (the input buffer and VAD, which start
responses) on that; session.py (the connection and the client events) on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.doubles.realtime.config import FakeRealtimeConfig, JsonDict
from tests.doubles.realtime.payloads import default_session
from tests.doubles.realtime.validation import validate_server_event

__all__ = ["SessionBase", "SessionHost"]

log = logging.getLogger(__name__)


class SessionHost(Protocol):
    """What a session needs of the server that accepted it."""

    config: FakeRealtimeConfig
    validate: bool  # check every client event against the SDK types
    self_check: bool  # check every event the fake emits
    violations: list[str]
    # Ids are unique across the server's sessions, as the real API's are (a call's second model
    # session must not reuse the first one's function call ids).
    id_counters: Counter[str]

    def session_changed(self) -> None:
        """Wake whoever waits on the server's sessions."""


class SessionBase:
    """One accepted connection: what the client sent and what the fake sent back."""

    def __init__(self, server: SessionHost, index: int, connection: ServerConnection) -> None:
        self._server = server
        self._ws = connection
        self.index = index
        request = connection.request
        assert request is not None
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        self.path: str = parts.path
        models = query.get("model")
        self.model: str | None = models[0] if models else None
        self.headers: dict[str, str] = {k.lower(): v for k, v in request.headers.raw_items()}
        self.offered_compression = "permessage-deflate" in self.headers.get(
            "sec-websocket-extensions", ""
        )

        self.received: list[JsonDict] = []  # every client event except input_audio_buffer.append
        self.appended_ms = 0
        self.truncates: list[JsonDict] = []
        self.cancels = 0
        self.function_outputs: list[JsonDict] = []
        self.session_config: JsonDict | None = None  # the latest `session` from session.update
        self.response_instructions: list[str | None] = []  # response.create's instructions
        self.closed = asyncio.Event()
        self.closed_by_client = False
        self.violations: list[str] = []
        self.errors: list[JsonDict] = []  # the `error` objects sent to the client
        self.sent_types: list[str] = []  # type of every server event sent, in order
        self.sent_audio_ms_by_item: dict[str, int] = {}
        self.truncated_ms_by_item: dict[str, int] = {}
        self.caller_transcripts: list[str] = []  # transcripts given for committed caller turns
        self.responses_started = 0
        self.deltas_sent = 0  # response.output_audio.delta events sent
        self.effective_session: JsonDict = default_session(self.model)

        self._type_counts: Counter[str] = Counter()
        self._last_by_type: dict[str, JsonDict] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._server_closing = False
        self._last_item_id: str | None = None

    # ----------------------------------------------------------------- public API for tests

    def types_received(self) -> list[str]:
        """Types of the received client events, in order (input_audio_buffer.append excluded)."""
        return [str(event.get("type")) for event in self.received]

    def count(self, event_type: str) -> int:
        """How many client events of this type arrived (input_audio_buffer.append included)."""
        return self._type_counts[event_type]

    async def wait_for(
        self,
        event_type: str,
        timeout: float = 5.0,
        count: int = 1,
    ) -> JsonDict:
        """Wait until the client has sent `count` events of that type; return the last one."""
        try:
            async with asyncio.timeout(timeout):
                while self._type_counts[event_type] < count:
                    if self.closed.is_set():
                        raise TimeoutError
                    await self._changed()
        except TimeoutError:
            state = "closed" if self.closed.is_set() else "open"
            raise TimeoutError(
                f"session {self.index} ({state}): waited for {count} x {event_type!r}, got "
                f"{self._type_counts[event_type]}; received {self.types_received()}"
            ) from None
        return self._last_by_type[event_type]

    async def wait_closed(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await self.closed.wait()

    async def send_event(self, event: JsonDict) -> None:
        """Inject any server event (an `event_id` is added if missing)."""
        await self._send(dict(event))

    async def kill(self) -> None:
        """Abrupt loss: drop the TCP connection without a close frame."""
        self._server_closing = True
        self._ws.transport.abort()
        with contextlib.suppress(TimeoutError):
            await self.wait_closed(5.0)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Clean close from the server side."""
        self._server_closing = True
        await self._ws.close(code, reason)

    async def expire(self) -> None:
        """What the real API does at the session time limit: an error, then a close."""
        await self._send_error(
            "Your session hit the maximum duration of 60 minutes.",
            code="session_expired",
        )
        await self.close(1000, "session expired")

    # ----------------------------------------------------------------- plumbing

    def _next_id(self, prefix: str) -> str:
        self._server.id_counters[prefix] += 1
        return f"{prefix}_{self._server.id_counters[prefix]}"

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        self._server.violations.append(f"[session {self.index}] {message}")

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            self._violation(f"fake server internal error in a task: {exc!r}")
            log.error("fake realtime task failed", exc_info=exc)

    async def _send(self, event: JsonDict) -> None:
        event.setdefault("event_id", self._next_id("event"))
        data = orjson.dumps(event)
        if self._server.self_check:
            for problem in validate_server_event(data):
                self._violation(f"fake emitted an invalid server event: {problem}")
        self.sent_types.append(event["type"])
        await self._ws.send(data, text=True)

    async def _send_error(
        self,
        message: str,
        *,
        code: str,
        param: str | None = None,
        client_event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        error = {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        }
        self.errors.append(error)
        await self._send({"type": "error", "error": error})

    async def _send_error_payload(self, payload: JsonDict) -> None:
        if payload.get("type") == "error" and isinstance(payload.get("error"), dict):
            error = dict(payload["error"])
        else:
            error = dict(payload)
        error.setdefault("type", "invalid_request_error")
        error.setdefault("code", None)
        error.setdefault("message", "Injected error")
        error.setdefault("param", None)
        error.setdefault("event_id", None)
        self.errors.append(error)
        await self._send({"type": "error", "error": error})

    def _record(self, event: JsonDict, event_type: str) -> None:
        self._type_counts[event_type] += 1
        self._last_by_type[event_type] = event
        if self._waiters:
            self._notify()
