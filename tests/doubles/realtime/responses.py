"""The fake model's responses: output items, paced audio and function-call deltas, cancels."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.doubles.realtime.audio import audio_b64, audio_bytes, split_evenly
from tests.doubles.realtime.base import SessionBase, SessionHost
from tests.doubles.realtime.config import (
    DEFAULT_REPLY_TEXT,
    AudioReply,
    FunctionCallReply,
    JsonDict,
    Reply,
)
from tests.doubles.realtime.payloads import rate_limits_event, response_object, usage
from tests.doubles.stamps import STAMP_BYTES, stamp_ulaw

__all__ = ["ResponsesSession"]


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


class ResponsesSession(SessionBase):
    """A session's responses: one active at a time, run as a task, cancellable at any point."""

    def __init__(self, server: SessionHost, index: int, connection: ServerConnection) -> None:
        super().__init__(server, index, connection)
        self._active: _Response | None = None
        self._greeted = False
        self._function_call_ids: set[str] = set()
        # Benchmarks: sees every output_audio.delta's audio and its time.perf_counter().
        self._delta_hook: Callable[[str, float], None] | None = None

    @property
    def response_active(self) -> bool:
        return self._active is not None

    async def speak_reply(self, reply: Reply) -> None:
        """Start a response now, as if the model decided to speak (replies/greeting untouched)."""
        if self._active is not None:
            raise RuntimeError(f"session {self.index}: a response is already active")
        await self._start_response(reply)

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
        return response_object(response.id, status, response.output, self.effective_session)

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
        if self.model in self._server.config.refused_models:
            await self._refuse_model(response)
            return
        if self._active is response and not response.finished:
            response.task = asyncio.create_task(self._run_response(response, reply))
            response.task.add_done_callback(self._task_done)

    async def _send_rate_limits(self) -> None:
        await self._send(rate_limits_event(self.responses_started))

    async def _run_response(self, response: _Response, reply: Reply) -> None:
        config = self._server.config
        try:
            if config.first_audio_delay_ms > 0:
                await asyncio.sleep(config.first_audio_delay_ms / 1000)
            if reply.preamble:
                # A 2.x model may speak a short preamble first: its own assistant item.
                preamble = AudioReply(reply.preamble)
                await self._emit_audio_item(response, preamble.text, preamble.duration_ms())
            if isinstance(reply, AudioReply):
                await self._emit_audio_item(response, reply.text, reply.duration_ms())
            else:
                for call in (reply, *reply.parallel):
                    await self._emit_function_call(response, call)
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
        pieces = split_evenly(text, len(chunks))
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
            if config.stamp_deltas and len(audio_bytes(fmt, ms)) >= STAMP_BYTES:
                audio = stamp_ulaw(audio_bytes(fmt, ms), self.index, self.deltas_sent)
                delta = base64.b64encode(audio).decode()
            else:
                delta = audio_b64(fmt, ms)
            on_delta_sent = self._delta_hook
            if on_delta_sent is not None:
                # Taken before the send: websockets writes the frame before its first await.
                on_delta_sent(delta, time.perf_counter())
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
        for piece in split_evenly(arguments, min(3, len(arguments))):
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
        return usage(
            instructions=instructions,
            function_outputs=len(self.function_outputs),
            appended_ms=self.appended_ms,
            responses_started=self.responses_started,
            audio_ms=response.audio_ms,
            text_chars=response.text_chars,
        )

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

    async def _refuse_model(self, response: _Response) -> None:
        response.finished = True
        self._active = None
        body = self._response_object(response, "failed")
        body["status_details"] = {
            "type": "failed",
            "error": {
                "type": "invalid_request_error",
                "code": "model_not_found",
                "message": f"The model `{self.model}` does not exist or you do not have access "
                "to it.",
            },
        }
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
