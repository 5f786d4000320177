"""WS /staff/phone/stream: the browser speaks Twilio Media Streams; the call driver answers.

The staff guard has already checked the session and the Origin of the upgrade. Here, as on
Twilio's route, the first frames must be `connected` and `start`, and the start must carry the
single-use token issued for that call (to the same signed-in person). Besides Twilio's own
frames the page is sent `{"event": "devphone", ...}` notices (turns, tool calls, a transfer),
which no Twilio event is named like.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from starlette.websockets import WebSocket

from app.call import actions as A
from app.call import events as E
from app.call.driver import run_call
from app.logging import get_logger
from app.twilio.signatures import public_base
from app.twilio.stream import StarletteMediaStream, first_frames
from app.wire import twilio as tw

if TYPE_CHECKING:
    from app.phone.desk import DevPhone

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

    async def send(self, text: str) -> bool:
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


def _notice(message: dict[str, Any]) -> str:
    return orjson.dumps({"event": NOTICE, **message}).decode()


async def phone_stream(phone: DevPhone, websocket: WebSocket) -> None:
    """One leg of a dev call: authenticate its start, then drive it like a phone call."""
    runtime = phone.runtime
    settings = runtime.settings
    user_id: int = websocket.state.staff.user_id
    await websocket.accept()
    stream = DevPhoneStream(websocket)
    try:
        async with asyncio.timeout(10):
            start = await first_frames(stream, settings.max_frame_bytes)
    except (TimeoutError, tw.FrameError):
        start = tw.POLICY_VIOLATION
    if not isinstance(start, E.StreamStarted):
        log.warning("dev_phone_stream_rejected", reason="no_start", code=start)
        await stream.close(start)
        return
    call_sid = start.call_sid
    token = start.parameters.get("token", "")
    if not phone.owns(call_sid, user_id) or not runtime.tokens.redeem(call_sid, token):
        log.warning("dev_phone_stream_rejected", reason="bad_token", user_id=user_id)
        await stream.close(tw.POLICY_VIOLATION)
        return
    info = phone.stream_info(
        call_sid, start.stream_sid, public_base(settings, websocket.headers, websocket.url)
    )
    phone.streams[call_sid] = stream
    try:
        with structlog.contextvars.bound_contextvars(call_sid=call_sid):
            log.info("dev_phone_stream_started", resumed=info.resume is not None)
            await run_call(phone.services, runtime.active_calls, stream, info, stream.watch)
    finally:
        if phone.streams.get(call_sid) is stream:
            del phone.streams[call_sid]
