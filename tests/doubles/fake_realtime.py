"""A local stand-in for the OpenAI Realtime API (GA protocol) for tests, benchmarks and smoke runs.

A real `websockets` server on 127.0.0.1 that speaks the wire format of docs PROTOCOLS.md section 1:
scripted spoken replies paced like a real model, function calls, an energy VAD on the caller's
mu-law audio, server-side interruption, truncation and cancellation with the real API's errors,
and fault injection (connect latency, errors, abrupt socket loss). Every client event is checked
against the official `openai` types (`tests.doubles.realtime_validation`); anything the real API
would reject, and anything our client must never do, lands in `violations`.

    config = FakeRealtimeConfig(pace=0, replies=[FunctionCallReply("lookup_hours", {})])
    async with FakeRealtimeServer(config) as server:      # settings: OPENAI_REALTIME_URL=server.url
        ...                                               # drive a call through the app
        session = (await server.wait_for_sessions(1))[0]
        await session.wait_for("conversation.item.create")
        assert server.violations == []

Faithful details worth knowing: audio goes out in the session's output format (the server
default is 24 kHz `audio/pcm` until session.update asks for `audio/pcmu`); caller transcripts
are sent only when `audio.input.transcription` is set; speech_started's audio_start_ms includes
`vad_prefix_padding_ms`; a cancelled response still closes its open item with the *.done events
(status `incomplete`, cut-off transcript or arguments) before response.done.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import logging
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from types import TracebackType
from typing import Any, ClassVar, TypeAlias
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.lib.audio import ULAW_BYTES_PER_MS, tone_pcm16, tone_ulaw, ulaw_rms
from tests.doubles.realtime_validation import (
    validate_client_event,
    validate_server_event,
    warm_up,
)
from tests.doubles.stamps import STAMP_BYTES, stamp_ulaw

__all__ = [
    "DEFAULT_CALLER_TRANSCRIPT",
    "DEFAULT_REPLY_TEXT",
    "AudioHook",
    "AudioReply",
    "FakeRealtimeConfig",
    "FakeRealtimeServer",
    "FakeSession",
    "FunctionCallReply",
    "Reply",
]

DEFAULT_REPLY_TEXT = "Sure, I can help with that."
DEFAULT_CALLER_TRANSCRIPT = "Hello?"
REALTIME_PATH = "/v1/realtime"
VAD_FRAME_MS = 20
_VAD_FRAME_BYTES = VAD_FRAME_MS * ULAW_BYTES_PER_MS
_MIN_COMMIT_MS = 100  # the real API refuses to commit less than 100 ms of audio
_APPEND_KEYS = frozenset({"type", "audio", "event_id"})

log = logging.getLogger(__name__)

JsonDict: TypeAlias = dict[str, Any]
_Handler: TypeAlias = Callable[["FakeSession", JsonDict, "str | None"], Coroutine[Any, Any, None]]
# Benchmarks: called with the session, an audio event's base64 audio and its time.perf_counter().
AudioHook: TypeAlias = Callable[["FakeSession", str, float], None]


@dataclass
class AudioReply:
    """One scripted spoken response."""

    text: str  # the transcript of what is "said"
    audio_ms: int | None = None  # length of audio; default: 60 ms per character, min 400

    def duration_ms(self) -> int:
        if self.audio_ms is not None:
            return max(self.audio_ms, 0)
        return max(400, 60 * len(self.text))


@dataclass
class FunctionCallReply:
    """One scripted response that calls a function (optionally after a spoken preamble)."""

    name: str
    arguments: dict[str, Any] | str  # str lets a test send broken JSON
    call_id: str | None = None  # default generated "call_<n>"
    preamble: str | None = None  # spoken before the call, in the same response

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(self.arguments).decode()


Reply: TypeAlias = AudioReply | FunctionCallReply


def _default_greeting() -> AudioReply:
    return AudioReply("Thanks for calling! How can I help you today?")


@dataclass
class FakeRealtimeConfig:
    """Behaviour of the fake model. Mutable: tests may change it between calls."""

    connect_delay_ms: int = 0  # delay before completing the WebSocket handshake
    first_audio_delay_ms: int = 0  # response.create (or auto response) -> first output item
    chunk_ms: int = 100  # audio per output_audio.delta (8 bytes of mu-law per ms)
    pace: float = 1.0  # 1.0 = deltas in real time (one chunk every chunk_ms); 0 = at once
    greeting: AudioReply = field(default_factory=_default_greeting)
    # Consumed (popped) in order, one per response after the greeting, across all sessions.
    replies: list[Reply] = field(default_factory=list)
    # Consumed in order, one per committed caller utterance; default "Hello?".
    caller_transcripts: list[str] = field(default_factory=list)
    vad_threshold_rms: float = 500.0  # energy VAD on decoded mu-law
    vad_min_speech_ms: int = 60  # speech must last this long before speech_started
    vad_silence_ms: int = 400  # silence after speech before speech_stopped + committed
    # audio_start_ms includes this much audio before the detected onset, like the real
    # server's prefix_padding_ms (default 300), clamped to the start of the buffer.
    vad_prefix_padding_ms: int = 300
    create_response_on_commit: bool = True  # like server_vad create_response
    # The real server (interrupt_response=true) cancels the active response on speech_started.
    server_interrupts: bool = True
    # Input transcription runs beside the response on the real server: > 0 sends the
    # transcription.completed this much later (after the reply has started).
    transcription_delay_ms: int = 0
    error_on_connect: JsonDict | None = None  # `error` payload sent right after session.created
    # The real API ends a session after 60 minutes: `error` session_expired, then close.
    # Set this to expire sessions sooner (fault injection for reconnect logic).
    session_max_ms: int | None = None
    rate_limits_events: bool = True  # send rate_limits.updated at the start of each response
    # Benchmarks: stamp each output_audio.delta with (session index, delta number) using the
    # caller double's stamp_ulaw(), so the delta can be recognised when it reaches the caller
    # (deltas shorter than the stamp, under 2 ms of mu-law, go out unstamped).
    stamp_deltas: bool = False


def _deep_merge(target: JsonDict, update: JsonDict) -> None:
    """session.update semantics: only given fields change; a `type` change replaces the object."""
    for key, value in update.items():
        current = target.get(key)
        if (
            isinstance(value, dict)
            and isinstance(current, dict)
            and value.get("type", current.get("type")) == current.get("type")
        ):
            _deep_merge(current, value)
        else:
            target[key] = copy.deepcopy(value)


@lru_cache(maxsize=32)
def _audio_bytes(fmt: str, ms: int) -> bytes:
    """`ms` of a non-silent tone in the session's output format (cached per size)."""
    if fmt == "audio/pcm":  # 24 kHz PCM16 little-endian
        samples = array("h", tone_pcm16(ms, sample_rate=24000))
        if sys.byteorder == "big":  # pragma: no cover
            samples.byteswap()
        return samples.tobytes()
    # audio/pcmu (and audio/pcma, which the fake voices as mu-law: same size, 8 bytes per ms)
    return tone_ulaw(ms)


@lru_cache(maxsize=32)
def _audio_b64(fmt: str, ms: int) -> str:
    """Base64 of `_audio_bytes(fmt, ms)` (cached per size)."""
    return base64.b64encode(_audio_bytes(fmt, ms)).decode()


def _split_evenly(text: str, parts: int) -> list[str]:
    if parts <= 0:
        return []
    length = len(text)
    return [text[round(i * length / parts) : round((i + 1) * length / parts)] for i in range(parts)]


@dataclass
class _OpenItem:
    """The output item a response is producing right now (what a cancel must close)."""

    item_id: str
    output_index: int
    kind: str  # "audio" | "function_call"
    text: str = ""  # transcript or arguments produced so far
    name: str = ""
    call_id: str = ""
    audio_started: bool = False  # content_part.added sent


@dataclass
class _Response:
    id: str
    instructions: str | None
    output: list[JsonDict] = field(default_factory=list)
    current: _OpenItem | None = None
    task: asyncio.Task[None] | None = None
    finished: bool = False
    audio_ms: int = 0
    text_chars: int = 0


class FakeSession:
    """One accepted connection: what the client sent, and the fake model's state."""

    def __init__(self, server: FakeRealtimeServer, index: int, connection: ServerConnection):
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
        self.effective_session: JsonDict = self._default_session()

        self._counters: Counter[str] = Counter()
        self._type_counts: Counter[str] = Counter()
        self._last_by_type: dict[str, JsonDict] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._active: _Response | None = None
        self._greeted = False
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._server_closing = False
        self._last_item_id: str | None = None
        self._function_call_ids: set[str] = set()
        self._append_bytes = 0
        self.deltas_sent = 0  # response.output_audio.delta events sent
        # Input audio buffer and VAD state, in ms from the start of the session's input audio.
        self._buffer_start_ms = 0
        self._buffer_bytes = 0
        self._vad_pending = bytearray()
        self._vad_pos_ms = 0
        self._in_speech = False
        self._speech_run_ms = 0
        self._speech_run_start_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id: str | None = None

        self._check_handshake()

    # ----------------------------------------------------------------- public API for tests

    def types_received(self) -> list[str]:
        """Types of the received client events, in order (input_audio_buffer.append excluded)."""
        return [str(event.get("type")) for event in self.received]

    def count(self, event_type: str) -> int:
        """How many client events of this type arrived (input_audio_buffer.append included)."""
        return self._type_counts[event_type]

    @property
    def response_active(self) -> bool:
        return self._active is not None

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

    async def speak_reply(self, reply: Reply) -> None:
        """Start a response now, as if the model decided to speak (replies/greeting untouched)."""
        if self._active is not None:
            raise RuntimeError(f"session {self.index}: a response is already active")
        await self._start_response(reply)

    # ----------------------------------------------------------------- connection lifecycle

    async def run(self) -> None:
        try:
            await self._send({"type": "session.created", "session": self.effective_session})
            if self._server.config.error_on_connect is not None:
                await self._send_error_payload(self._server.config.error_on_connect)
            if self._server.config.session_max_ms is not None:
                self._spawn(self._expire_after(self._server.config.session_max_ms))
            async for message in self._ws:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self._violation(f"fake server internal error: {exc!r}")
            raise
        finally:
            await self._shutdown()

    async def _expire_after(self, ms: int) -> None:
        await asyncio.sleep(ms / 1000)
        await self.expire()

    async def _shutdown(self) -> None:
        response, self._active = self._active, None
        tasks = [t for t in self._side_tasks if not t.done()]
        if response is not None and response.task is not None and not response.task.done():
            tasks.append(response.task)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self.closed_by_client = not self._server_closing
        self.closed.set()
        self._notify()
        self._server._notify()

    def _check_handshake(self) -> None:
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            self._violation("handshake: missing or empty 'Authorization: Bearer <key>' header")
        if "openai-beta" in self.headers:
            self._violation(
                f"handshake: 'OpenAI-Beta: {self.headers['openai-beta']}' sent; it selects the "
                "retired beta protocol"
            )
        if not self.model:
            self._violation("handshake: no ?model= query parameter")

    # ----------------------------------------------------------------- plumbing

    def _next_id(self, prefix: str) -> str:
        self._counters[prefix] += 1
        return f"{prefix}_{self._counters[prefix]}"

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

    # ----------------------------------------------------------------- client events

    async def _on_message(self, message: str | bytes) -> None:
        received_at = time.perf_counter() if self._server.on_append is not None else 0.0
        if isinstance(message, bytes):
            self._violation("binary frame received; the Realtime API takes JSON text frames")
            await self._send_error("Binary frames are not supported.", code="invalid_value")
            return
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._violation(f"invalid JSON from client: {message[:120]!r}")
            await self._send_error(
                "We could not parse the JSON body of your request.", code="invalid_json"
            )
            return
        if not isinstance(event, dict):
            self._violation(f"client event is not a JSON object: {message[:120]!r}")
            await self._send_error("The event must be a JSON object.", code="invalid_value")
            return
        event_type = event.get("type")
        client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None

        if event_type == "input_audio_buffer.append":
            on_append = self._server.on_append
            if on_append is not None and isinstance(event.get("audio"), str):
                on_append(self, event["audio"], received_at)
            # Hot path: an equivalent of the schema check without pydantic (type/audio/event_id).
            if self._server.validate and not (
                event.keys() <= _APPEND_KEYS
                and isinstance(event.get("audio"), str)
                and (client_event_id is not None or event.get("event_id") is None)
            ):
                problems = validate_client_event(message) or ["malformed append event"]
                await self._reject(event, problems, client_event_id)
                return
            self._record(event, event_type)
            await self._on_append(event, client_event_id)
            return

        self.received.append(event)
        self._record(event, str(event_type))
        if self._server.validate:
            problems = validate_client_event(message)
            if problems:
                await self._reject(event, problems, client_event_id)
                return
        handler = self._handlers.get(str(event_type))
        if handler is None:
            self._violation(f"unknown or unsupported client event type {event_type!r}")
            await self._send_error(
                f"Invalid value: {event_type!r}. Supported values are the GA client events.",
                code="invalid_value",
                param="type",
                client_event_id=client_event_id,
            )
            return
        await handler(self, event, client_event_id)

    async def _reject(
        self, event: JsonDict, problems: list[str], client_event_id: str | None
    ) -> None:
        for problem in problems:
            self._violation(f"invalid client event: {problem}")
        unknown = [p for p in problems if p.endswith(": unknown key")]
        if unknown and len(unknown) == len(problems):
            param = unknown[0].removesuffix(": unknown key").split(".", 1)[-1]
            await self._send_error(
                f"Unknown parameter: '{param}'.",
                code="unknown_parameter",
                param=param,
                client_event_id=client_event_id,
            )
        else:
            await self._send_error(
                f"Invalid {event.get('type')!r} event: {problems[0]}",
                code="invalid_value",
                client_event_id=client_event_id,
            )

    async def _on_session_update(self, event: JsonDict, client_event_id: str | None) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            await self._send_error(
                "Missing 'session'.",
                code="missing_required_parameter",
                param="session",
                client_event_id=client_event_id,
            )
            self._violation("session.update without a session object")
            return
        if session.get("type", "realtime") != "realtime":
            self._violation(
                f"session.update with session.type {session.get('type')!r}: "
                "the receptionist needs a realtime session"
            )
        new_model = session.get("model")
        if new_model is not None and new_model != self.effective_session.get("model"):
            self._violation(
                f"session.update changes the model to {new_model!r}; the model is fixed by the URL"
            )
            await self._send_error(
                "Cannot update a session's model.",
                code="invalid_value",
                param="session.model",
                client_event_id=client_event_id,
            )
            return
        voice = ((session.get("audio") or {}).get("output") or {}).get("voice")
        old_voice = self.effective_session["audio"]["output"].get("voice")
        if voice is not None and voice != old_voice and any(self.sent_audio_ms_by_item.values()):
            self._violation("session.update changes the voice after audio was produced")
            await self._send_error(
                "Cannot update a conversation's voice if assistant audio is present.",
                code="cannot_update_voice",
                param="session.audio.output.voice",
                client_event_id=client_event_id,
            )
            return
        self.session_config = session
        _deep_merge(self.effective_session, session)
        await self._send({"type": "session.updated", "session": self.effective_session})

    async def _on_response_create(self, event: JsonDict, client_event_id: str | None) -> None:
        params = event.get("response") or {}
        instructions = params.get("instructions") if isinstance(params, dict) else None
        self.response_instructions.append(instructions)
        if self._active is not None:
            await self._send_error(
                "Conversation already has an active response in progress: "
                f"{self._active.id}. Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
                client_event_id=client_event_id,
            )
            return
        await self._start_response(self._next_reply(), instructions=instructions)

    async def _on_response_cancel(self, event: JsonDict, client_event_id: str | None) -> None:
        wanted = event.get("response_id")
        active = self._active
        if active is None or (wanted is not None and wanted != active.id):
            self._violation("response.cancel with no active response")
            await self._send_error(
                "Cancellation failed: no active response found",
                code="response_cancel_not_active",
                client_event_id=client_event_id,
            )
            return
        self.cancels += 1
        await self._cancel_active("client_cancelled")

    async def _on_truncate(self, event: JsonDict, client_event_id: str | None) -> None:
        self.truncates.append(event)
        item_id = str(event.get("item_id"))
        audio_end_ms = int(event.get("audio_end_ms", 0))
        content_index = int(event.get("content_index", 0))
        sent = self.sent_audio_ms_by_item.get(item_id)
        problem: str | None = None
        if sent is None:
            problem = f"Conversation item '{item_id}' has no assistant audio to truncate."
        elif content_index != 0:
            problem = f"Item '{item_id}' has no audio content at index {content_index}."
        elif sent == 0:
            problem = "Only model output audio messages can be truncated"
        elif audio_end_ms > sent:
            problem = f"Audio content of {sent}ms is already shorter than {audio_end_ms}ms"
        if problem is not None:
            self._violation(f"conversation.item.truncate rejected: {problem}")
            await self._send_error(
                problem, code="invalid_value", param="audio_end_ms", client_event_id=client_event_id
            )
            return
        self.truncated_ms_by_item[item_id] = audio_end_ms
        await self._send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    async def _on_item_create(self, event: JsonDict, client_event_id: str | None) -> None:
        raw_item = event.get("item")
        if not isinstance(raw_item, dict):
            self._violation("conversation.item.create without an item object")
            await self._send_error(
                "Missing 'item'.",
                code="missing_required_parameter",
                param="item",
                client_event_id=client_event_id,
            )
            return
        item = copy.deepcopy(raw_item)
        if not item.get("id"):
            item["id"] = self._next_id("item")
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        if item.get("type") == "function_call_output":
            self.function_outputs.append(raw_item)
            if item.get("call_id") not in self._function_call_ids:
                self._violation(
                    f"function_call_output for call_id {item.get('call_id')!r}, which the model "
                    "never issued in this session"
                )
        previous = event.get("previous_item_id", self._last_item_id)
        self._last_item_id = item["id"]
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self._send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )

    async def _on_item_delete(self, event: JsonDict, client_event_id: str | None) -> None:
        await self._send({"type": "conversation.item.deleted", "item_id": event.get("item_id")})

    async def _on_commit(self, event: JsonDict, client_event_id: str | None) -> None:
        buffered_ms = self._buffer_bytes // ULAW_BYTES_PER_MS
        if buffered_ms < _MIN_COMMIT_MS:
            self._violation(f"input_audio_buffer.commit with only {buffered_ms} ms buffered")
            await self._send_error(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{_MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                client_event_id=client_event_id,
            )
            return
        item_id = self._speech_item_id if self._in_speech and self._speech_item_id else None
        self._reset_vad()
        await self._commit(item_id or self._next_id("item"), auto=False)

    async def _on_clear(self, event: JsonDict, client_event_id: str | None) -> None:
        self._buffer_bytes = 0
        self._buffer_start_ms = self._append_bytes // ULAW_BYTES_PER_MS
        self._reset_vad()
        await self._send({"type": "input_audio_buffer.cleared"})

    async def _on_unsupported(self, event: JsonDict, client_event_id: str | None) -> None:
        event_type = event.get("type")
        if event_type == "output_audio_buffer.clear":
            problem = "output_audio_buffer.clear is for WebRTC/SIP only, not WebSocket sessions"
        else:
            problem = f"{event_type} is not supported by the fake"
        self._violation(problem)
        await self._send_error(
            problem, code="invalid_value", param="type", client_event_id=client_event_id
        )

    _handlers: ClassVar[dict[str, _Handler]] = {
        "session.update": _on_session_update,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
        "conversation.item.truncate": _on_truncate,
        "conversation.item.create": _on_item_create,
        "conversation.item.delete": _on_item_delete,
        "conversation.item.retrieve": _on_unsupported,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_clear,
        "output_audio_buffer.clear": _on_unsupported,
    }

    # ----------------------------------------------------------------- input audio and VAD

    async def _on_append(self, event: JsonDict, client_event_id: str | None) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            self._violation("input_audio_buffer.append with invalid base64 audio")
            await self._send_error(
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                code="invalid_value",
                param="audio",
                client_event_id=client_event_id,
            )
            return
        self._append_bytes += len(data)
        self.appended_ms = self._append_bytes // ULAW_BYTES_PER_MS
        self._buffer_bytes += len(data)
        if self._turn_detection() is None:
            return
        pending = self._vad_pending
        pending += data
        if len(pending) < _VAD_FRAME_BYTES:
            return
        usable = len(pending) - len(pending) % _VAD_FRAME_BYTES
        frames = bytes(pending[:usable])
        del pending[:usable]
        for start in range(0, usable, _VAD_FRAME_BYTES):
            await self._vad_frame(frames[start : start + _VAD_FRAME_BYTES])

    def _turn_detection(self) -> JsonDict | None:
        audio_input = (self.effective_session.get("audio") or {}).get("input") or {}
        turn_detection = audio_input.get("turn_detection")
        return turn_detection if isinstance(turn_detection, dict) else None

    def _reset_vad(self) -> None:
        self._vad_pending.clear()
        self._vad_pos_ms = self._append_bytes // ULAW_BYTES_PER_MS
        self._in_speech = False
        self._speech_run_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id = None

    async def _vad_frame(self, frame: bytes) -> None:
        config = self._server.config
        frame_start = self._vad_pos_ms
        self._vad_pos_ms += VAD_FRAME_MS
        loud = ulaw_rms(frame) >= config.vad_threshold_rms
        if not self._in_speech:
            if not loud:
                self._speech_run_ms = 0
                return
            if self._speech_run_ms == 0:
                self._speech_run_start_ms = frame_start
            self._speech_run_ms += VAD_FRAME_MS
            if self._speech_run_ms >= config.vad_min_speech_ms:
                await self._speech_started()
        elif loud:
            self._silence_run_ms = 0
        else:
            self._silence_run_ms += VAD_FRAME_MS
            if self._silence_run_ms >= config.vad_silence_ms:
                await self._speech_stopped()

    async def _speech_started(self) -> None:
        config = self._server.config
        self._in_speech = True
        self._silence_run_ms = 0
        self._speech_run_ms = 0
        item_id = self._speech_item_id = self._next_id("item")
        audio_start_ms = max(
            self._buffer_start_ms, self._speech_run_start_ms - config.vad_prefix_padding_ms
        )
        await self._send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": item_id,
            }
        )
        turn_detection = self._turn_detection() or {}
        if (
            self._active is not None
            and config.server_interrupts
            and turn_detection.get("interrupt_response", True) is not False
        ):
            await self._cancel_active("turn_detected")

    async def _speech_stopped(self) -> None:
        item_id = self._speech_item_id or self._next_id("item")
        self._in_speech = False
        self._speech_run_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id = None
        await self._send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._vad_pos_ms,
                "item_id": item_id,
            }
        )
        await self._commit(item_id, auto=True)

    async def _commit(self, item_id: str, *, auto: bool) -> None:
        config = self._server.config
        previous, self._last_item_id = self._last_item_id, item_id
        self._buffer_bytes = 0
        self._buffer_start_ms = self._append_bytes // ULAW_BYTES_PER_MS
        await self._send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        item: JsonDict = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self._send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )
        audio_input = self.effective_session["audio"].get("input") or {}
        if audio_input.get("transcription"):  # transcription is off unless the session asks
            transcript = (
                config.caller_transcripts.pop(0)
                if config.caller_transcripts
                else DEFAULT_CALLER_TRANSCRIPT
            )
            self.caller_transcripts.append(transcript)
            if config.transcription_delay_ms > 0:
                self._spawn(
                    self._send_transcript_later(item_id, transcript, config.transcription_delay_ms)
                )
            else:
                await self._send_transcript(item_id, transcript)
        turn_detection = self._turn_detection() or {}
        if (
            auto
            and config.create_response_on_commit
            and turn_detection.get("create_response", True) is not False
            and self._active is None
        ):
            await self._start_response(self._next_reply())

    async def _send_transcript_later(self, item_id: str, transcript: str, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        await self._send_transcript(item_id, transcript)

    async def _send_transcript(self, item_id: str, transcript: str) -> None:
        audio_tokens = max(1, self.appended_ms // 100)
        text_tokens = max(1, len(transcript) // 4)
        await self._send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {
                    "type": "tokens",
                    "input_tokens": audio_tokens,
                    "output_tokens": text_tokens,
                    "total_tokens": audio_tokens + text_tokens,
                    "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
                },
            }
        )

    # ----------------------------------------------------------------- responses

    def _next_reply(self) -> Reply:
        config = self._server.config
        if not self._greeted:
            self._greeted = True
            return config.greeting
        if config.replies:
            return config.replies.pop(0)
        return AudioReply(DEFAULT_REPLY_TEXT)

    def _output_format(self) -> str:
        output = self.effective_session["audio"].get("output") or {}
        fmt = output.get("format") or {}
        return str(fmt.get("type") or "audio/pcm")

    def _response_object(self, response: _Response, status: str) -> JsonDict:
        output = self.effective_session["audio"].get("output") or {}
        return {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": response.output,
            "conversation_id": "conv_1",
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": output.get("format"), "voice": output.get("voice")}},
            "usage": None,
            "metadata": None,
        }

    async def _start_response(self, reply: Reply, *, instructions: str | None = None) -> None:
        self.responses_started += 1
        response = _Response(id=self._next_id("resp"), instructions=instructions)
        self._active = response
        await self._send(
            {
                "type": "response.created",
                "response": self._response_object(response, "in_progress"),
            }
        )
        if self._server.config.rate_limits_events:
            await self._send_rate_limits()
        if self._active is response and not response.finished:
            response.task = asyncio.create_task(self._run_response(response, reply))
            response.task.add_done_callback(self._task_done)

    async def _send_rate_limits(self) -> None:
        # Tokens reserved for the response show as used until it is done (SDK docstring).
        used = 4096 * (self.responses_started + 1)
        await self._send(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                    {
                        "name": "tokens",
                        "limit": 40_000_000,
                        "remaining": 40_000_000 - used,
                        "reset_seconds": round(used * 60 / 40_000_000, 3),
                    },
                ],
            }
        )

    async def _run_response(self, response: _Response, reply: Reply) -> None:
        config = self._server.config
        try:
            if config.first_audio_delay_ms > 0:
                await asyncio.sleep(config.first_audio_delay_ms / 1000)
            if isinstance(reply, AudioReply):
                await self._emit_audio_item(response, reply.text, reply.duration_ms())
            else:
                if reply.preamble:
                    preamble = AudioReply(reply.preamble)
                    await self._emit_audio_item(response, preamble.text, preamble.duration_ms())
                await self._emit_function_call(response, reply)
            await self._finish_response(response, "completed")
        except ConnectionClosed:
            response.finished = True

    async def _open_item(self, response: _Response, open_item: _OpenItem, item: JsonDict) -> None:
        response.current = open_item
        previous, self._last_item_id = self._last_item_id, open_item.item_id
        await self._send(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": open_item.output_index,
                "item": item,
            }
        )
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )

    async def _emit_audio_item(self, response: _Response, text: str, audio_ms: int) -> None:
        config = self._server.config
        item_id = self._next_id("item")
        open_item = _OpenItem(item_id, len(response.output), "audio")
        self.sent_audio_ms_by_item[item_id] = 0
        await self._open_item(
            response,
            open_item,
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        ids = {
            "response_id": response.id,
            "item_id": item_id,
            "output_index": open_item.output_index,
            "content_index": 0,
        }
        open_item.audio_started = True
        await self._send(
            {
                "type": "response.content_part.added",
                **ids,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        chunk_ms = max(config.chunk_ms, 1)
        chunks = [chunk_ms] * (audio_ms // chunk_ms)
        if audio_ms % chunk_ms:
            chunks.append(audio_ms % chunk_ms)
        pieces = _split_evenly(text, len(chunks))
        fmt = self._output_format()
        loop = asyncio.get_running_loop()
        start = loop.time()
        elapsed_ms = 0
        for ms, piece in zip(chunks, pieces, strict=True):
            pace = self._server.config.pace
            if pace > 0:
                delay = start + elapsed_ms * pace / 1000 - loop.time()
                await asyncio.sleep(max(delay, 0))
            else:
                await asyncio.sleep(0)  # let client events (a cancel) in between chunks
            self.sent_audio_ms_by_item[item_id] += ms
            response.audio_ms += ms
            self.deltas_sent += 1
            if config.stamp_deltas and len(_audio_bytes(fmt, ms)) >= STAMP_BYTES:
                audio = stamp_ulaw(_audio_bytes(fmt, ms), self.index, self.deltas_sent)
                delta = base64.b64encode(audio).decode()
            else:
                delta = _audio_b64(fmt, ms)
            on_delta_sent = self._server.on_delta_sent
            if on_delta_sent is not None:
                # Taken before the send: websockets writes the frame before its first await.
                on_delta_sent(self, delta, time.perf_counter())
            await self._send({"type": "response.output_audio.delta", **ids, "delta": delta})
            if piece:
                open_item.text += piece
                await self._send(
                    {"type": "response.output_audio_transcript.delta", **ids, "delta": piece}
                )
            elapsed_ms += ms
        open_item.text = text
        await self._close_item(response, status="completed")

    async def _emit_function_call(self, response: _Response, reply: FunctionCallReply) -> None:
        call_id = reply.call_id or self._next_id("call")
        item_id = self._next_id("item")
        arguments = reply.arguments_json()
        open_item = _OpenItem(
            item_id, len(response.output), "function_call", name=reply.name, call_id=call_id
        )
        self._function_call_ids.add(call_id)
        await self._open_item(
            response,
            open_item,
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": reply.name,
                "arguments": "",
            },
        )
        for piece in _split_evenly(arguments, min(3, len(arguments))):
            await asyncio.sleep(0)
            open_item.text += piece
            await self._send(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": response.id,
                    "item_id": item_id,
                    "output_index": open_item.output_index,
                    "call_id": call_id,
                    "delta": piece,
                }
            )
        await self._close_item(response, status="completed")

    async def _close_item(self, response: _Response, *, status: str) -> None:
        """The *.done events of the open item; also what a cancel sends (the real API does too)."""
        open_item = response.current
        if open_item is None:
            return
        response.current = None
        if open_item.kind == "audio":
            ids = {
                "response_id": response.id,
                "item_id": open_item.item_id,
                "output_index": open_item.output_index,
                "content_index": 0,
            }
            transcript = open_item.text
            response.text_chars += len(transcript)
            item: JsonDict = {
                "id": open_item.item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [{"type": "output_audio", "transcript": transcript}],
            }
            response.output.append(item)
            if open_item.audio_started:
                await self._send({"type": "response.output_audio.done", **ids})
                await self._send(
                    {
                        "type": "response.output_audio_transcript.done",
                        **ids,
                        "transcript": transcript,
                    }
                )
                await self._send(
                    {
                        "type": "response.content_part.done",
                        **ids,
                        "part": {"type": "audio", "transcript": transcript},
                    }
                )
        else:
            arguments = open_item.text
            response.text_chars += len(arguments)
            item = {
                "id": open_item.item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": status,
                "call_id": open_item.call_id,
                "name": open_item.name,
                "arguments": arguments,
            }
            response.output.append(item)
            await self._send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": response.id,
                    "item_id": open_item.item_id,
                    "output_index": open_item.output_index,
                    "call_id": open_item.call_id,
                    "name": open_item.name,
                    "arguments": arguments,
                }
            )
        await self._send(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": open_item.output_index,
                "item": item,
            }
        )
        await self._send({"type": "conversation.item.done", "item": item})

    def _usage(self, response: _Response) -> JsonDict:
        instructions = response.instructions or self.effective_session.get("instructions") or ""
        input_text = 100 + len(instructions) // 4 + 20 * len(self.function_outputs)
        input_audio = self.appended_ms // 100
        cached = min(input_text, 64 * (self.responses_started - 1))
        output_audio = response.audio_ms // 50
        output_text = (response.text_chars + 3) // 4
        total_in, total_out = input_text + input_audio, output_audio + output_text
        return {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {
                "text_tokens": input_text,
                "audio_tokens": input_audio,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {
                    "text_tokens": cached,
                    "audio_tokens": 0,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }

    async def _finish_response(
        self, response: _Response, status: str, reason: str | None = None
    ) -> None:
        if response.finished:
            return
        response.finished = True
        if self._active is response:
            self._active = None
        body = self._response_object(response, status)
        body["usage"] = self._usage(response)
        if status == "cancelled":
            body["status_details"] = {"type": "cancelled", "reason": reason}
        await self._send({"type": "response.done", "response": body})

    async def _cancel_active(self, reason: str) -> None:
        """Stop the active response now: no more deltas, close its open item, response.done."""
        response = self._active
        if response is None:
            return
        self._active = None
        task = response.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        if response.finished:  # it completed on its own just before the cancel
            return
        await self._close_item(response, status="incomplete")
        await self._finish_response(response, "cancelled", reason)

    def _default_session(self) -> JsonDict:
        """What the real server reports in session.created (GA shape, server defaults)."""
        return {
            "type": "realtime",
            "model": self.model or "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "You are a helpful, witty, and friendly AI.",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "include": None,
            "truncation": "auto",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": None,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "marin",
                    "speed": 1.0,
                },
            },
        }


class FakeRealtimeServer:
    """The fake Realtime endpoint: `async with FakeRealtimeServer(config) as server: ...`."""

    def __init__(
        self,
        config: FakeRealtimeConfig | None = None,
        *,
        validate: bool = True,
        self_check: bool = False,
        host: str = "127.0.0.1",
        on_append: AudioHook | None = None,
        on_delta_sent: AudioHook | None = None,
    ) -> None:
        """`on_append` sees every input_audio_buffer.append's audio as it arrives, and
        `on_delta_sent` every output_audio.delta as it leaves (benchmarks; None costs nothing).
        """
        self.config = config if config is not None else FakeRealtimeConfig()
        self.on_append = on_append
        self.on_delta_sent = on_delta_sent
        self.validate = validate  # check every client event against the SDK types
        self.self_check = self_check  # check every event the fake emits (tests of the fake)
        self.host = host
        self.sessions: list[FakeSession] = []
        self.violations: list[str] = []
        self.port = 0
        self._server: Server | None = None
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def url(self) -> str:
        """What the app's OPENAI_REALTIME_URL is set to."""
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    @property
    def base_url(self) -> str:
        """What AsyncOpenAI(websocket_base_url=...) takes."""
        return f"ws://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        if self._server is not None:
            return
        if self.validate or self.self_check:
            warm_up()  # a one-off stall here rather than in the middle of the first call
        self._server = await serve(
            self._handle,
            self.host,
            0,
            compression=None,
            process_request=self._process_request,
            max_size=16 * 2**20,
            close_timeout=2,
        )
        sockets = list(self._server.sockets)
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for session in self.sessions:
            session._server_closing = True
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> FakeRealtimeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def open_sessions(self) -> list[FakeSession]:
        return [session for session in self.sessions if not session.closed.is_set()]

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = 5.0,
    ) -> list[FakeSession]:
        """Wait until `n` connections have been accepted (ever); return the first `n`."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.sessions) < n:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
                    await waiter
        except TimeoutError:
            raise TimeoutError(
                f"waited for {n} realtime sessions, got {len(self.sessions)}"
            ) from None
        return self.sessions[:n]

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.config.connect_delay_ms > 0:
            await asyncio.sleep(self.config.connect_delay_ms / 1000)
        path = urlsplit(request.path).path
        if path != REALTIME_PATH:
            self.violations.append(
                f"[handshake] wrong path {request.path!r}, expected {REALTIME_PATH!r}"
            )
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        session = FakeSession(self, len(self.sessions), connection)
        self.sessions.append(session)
        self._notify()
        await session.run()
