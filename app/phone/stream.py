"""The dev phone's socket as the driver's MediaStream, and the page-only notices it carries.

Besides Twilio's own frames the page is sent `{"event": "devphone", ...}` notices (turns as
heard, tool calls, a transfer), which no Twilio event is named like.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket

from app.call import actions as A
from app.logging import get_logger
from app.recording.tape import StereoTape
from app.twilio.stream import StarletteMediaStream

log = get_logger(__name__)

NOTICE = "devphone"  # the event name of the page-only messages


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def notice_of(action: A.Action) -> dict[str, Any] | None:
    """What the page shows of a watched action: a turn as heard, a tool call and its result."""
    match action:
        case A.SaveTurn():
            return {
                "type": "turn",
                "seq": action.seq,
                "speaker": action.speaker,
                "text": action.text,
                "interrupted": action.interrupted,
                "offset_ms": action.offset_ms,
            }
        case A.StartTool():
            return {
                "type": "tool_started",
                "call_id": action.call_id,
                "name": action.name,
                "arguments": _json(action.arguments),
            }
        case A.SaveToolCall():
            return {
                "type": "tool",
                "call_id": action.call_id,
                "name": action.name,
                "arguments": _json(action.arguments),
                "result": _json(action.output),
                "ok": action.ok,
                "duration_ms": action.duration_ms,
            }
    return None


class DevPhoneStream(StarletteMediaStream):
    """The page's socket as the driver's `MediaStream`, plus the page-only notices."""

    def __init__(self, websocket: WebSocket) -> None:
        super().__init__(websocket)
        # Notices are sent from their own tasks: one frame at a time on the socket.
        self._lock = asyncio.Lock()
        self._sending: set[asyncio.Task[bool]] = set()
        # CALL_RECORDING=on: both directions as heard, once the caller has heard the disclosure.
        self.tape = StereoTape()
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    async def receive(self) -> str | bytes | None:
        text = await super().receive()
        if self.tape.running and isinstance(text, str) and '"media"' in text:
            audio = _media_audio(text)
            if audio is not None:
                self.tape.from_caller(audio)
        return text

    async def send(self, text: str) -> bool:
        if self.tape.running and '"media"' in text:
            audio = _media_audio(text)
            if audio is not None:
                self.tape.to_caller(audio, self.now_ms())
        elif self.tape.running and '"clear"' in text:
            self.tape.cleared(self.now_ms())
        async with self._lock:
            return await super().send(text)

    def watch(self, action: A.Action) -> None:
        """The driver's `CallWatcher`: returns at once, the notice goes out on its own task."""
        message = notice_of(action)
        if message is None:
            return
        task = asyncio.get_running_loop().create_task(self.send(_notice(message)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def notice_now(self, message: dict[str, Any]) -> bool:
        """Send a notice after those already queued (a transfer follows the last turn)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        return await self.send(_notice(message))


def _media_audio(text: str) -> bytes | None:
    """The mu-law audio of a media frame, or None for any other frame."""
    try:
        frame = orjson.loads(text)
        if frame.get("event") != "media":
            return None
        return base64.b64decode(frame["media"]["payload"], validate=True)
    except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError, AttributeError):
        return None


def _notice(message: dict[str, Any]) -> str:
    return orjson.dumps({"event": NOTICE, **message}).decode()
