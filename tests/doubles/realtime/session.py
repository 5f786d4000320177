"""FakeSession: one accepted connection, its lifecycle, and the client events it answers."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeAlias

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from app.lib.audio import ULAW_BYTES_PER_MS
from tests.doubles.realtime.base import SessionHost
from tests.doubles.realtime.config import JsonDict
from tests.doubles.realtime.input_audio import InputAudioSession
from tests.doubles.realtime.payloads import deep_merge
from tests.doubles.realtime.validation import validate_client_event

__all__ = ["AudioHook", "FakeSession"]

_MIN_COMMIT_MS = 100  # the real API refuses to commit less than 100 ms of audio
_APPEND_KEYS = frozenset({"type", "audio", "event_id"})

_Handler: TypeAlias = Callable[["FakeSession", JsonDict, "str | None"], Coroutine[Any, Any, None]]
# Benchmarks: called with the session, an audio event's base64 audio and its time.perf_counter().
AudioHook: TypeAlias = Callable[["FakeSession", str, float], None]


class FakeSession(InputAudioSession):
    """One accepted connection: what the client sent, and the fake model's state."""

    def __init__(
        self,
        server: SessionHost,
        index: int,
        connection: ServerConnection,
        *,
        on_append: AudioHook | None = None,
        on_delta_sent: AudioHook | None = None,
    ) -> None:
        super().__init__(server, index, connection)
        self._append_hook = on_append
        if on_delta_sent is not None:
            self._delta_hook = lambda delta, at: on_delta_sent(self, delta, at)
        self._check_handshake()

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
        self._server.session_changed()

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

    # ----------------------------------------------------------------- client events

    async def _on_message(self, message: str | bytes) -> None:
        received_at = time.perf_counter() if self._append_hook is not None else 0.0
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
            on_append = self._append_hook
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
        deep_merge(self.effective_session, session)
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
