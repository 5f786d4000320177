"""WS /twilio/stream: authenticate Twilio's Media Stream, then hand it to the call driver."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.call import events as E
from app.call.info import CallInfo
from app.call.run import run_call
from app.logging import get_logger, mask_phone
from app.twilio.disclosure import must_disclose
from app.twilio.signatures import is_valid, public_base, ws_base
from app.wire import twilio as tw

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

START_WAIT_SECONDS = 10.0  # Twilio sends `connected` and `start` at once


class StarletteMediaStream:
    """A Starlette WebSocket as the driver's `MediaStream`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        if text is None:
            return bytes(message.get("bytes") or b"")
        return text

    async def send(self, text: str) -> bool:
        if self._ws.application_state != WebSocketState.CONNECTED:
            return False
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return False
        return True

    async def close(self, code: int) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self._ws.close(code)


async def first_frames(stream: StarletteMediaStream, limit: int) -> E.StreamStarted | int:
    """Read `connected` then `start` within START_WAIT_SECONDS; otherwise the close code."""
    try:
        async with asyncio.timeout(START_WAIT_SECONDS):
            return await _connected_then_start(stream, limit)
    except (TimeoutError, tw.FrameError):
        return tw.POLICY_VIOLATION


async def _connected_then_start(stream: StarletteMediaStream, limit: int) -> E.StreamStarted | int:
    """Anything but `connected` then `start` first is refused with a close code."""
    for _ in range(3):
        text = await stream.receive()
        if text is None:
            return 1000
        if isinstance(text, bytes):
            return tw.POLICY_VIOLATION  # binary frames are not part of the protocol
        if len(text) > limit:
            return tw.MESSAGE_TOO_BIG
        frame = tw.parse_frame(text, 0)
        if isinstance(frame, tw.Connected):
            continue
        if isinstance(frame, E.StreamStarted):
            return frame
        return tw.POLICY_VIOLATION  # media, marks or stop before `start`
    return tw.POLICY_VIOLATION


async def stream_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    settings = runtime.settings
    url = ws_base(public_base(settings, websocket.headers, websocket.url)) + websocket.url.path
    signature = websocket.headers.get("x-twilio-signature")
    await websocket.accept()
    stream = StarletteMediaStream(websocket)
    if not is_valid(settings, url, {}, signature):
        log.warning("stream_rejected", reason="bad_signature")
        runtime.metrics.signature_refusals.labels("stream").inc()
        await stream.close(tw.POLICY_VIOLATION)
        return
    start = await first_frames(stream, settings.max_frame_bytes)
    if not isinstance(start, E.StreamStarted):
        log.warning("stream_rejected", reason="no_start", code=start)
        await stream.close(start)
        return
    token = start.parameters.get("token", "")
    redeemed = runtime.tokens.redeem(start.call_sid, token)
    if redeemed is None or not await runtime.used_tokens.first_use(
        redeemed.token_id, redeemed.expires
    ):
        log.warning("stream_rejected", reason="bad_token")
        runtime.metrics.signature_refusals.labels("stream_token").inc()
        await stream.close(tw.POLICY_VIOLATION)
        return
    from_state = start.parameters.get("from_state") or None
    disclose = redeemed.disclose_recording
    if disclose is None:  # a token of the previous release: decide as its webhook did
        disclose = must_disclose(settings, from_state)
    info = CallInfo(
        start.call_sid,
        start.stream_sid,
        start.parameters.get("from") or None,
        from_state,
        # Whichever Machine runs the call hands out its own URLs from now on (a transfer).
        runtime.machines.call_base(public_base(settings, websocket.headers, websocket.url)),
        start.parameters.get("resume") or None,
        disclose_recording=disclose,
    )
    with structlog.contextvars.bound_contextvars(call_sid=info.call_sid):
        log.info(
            "stream_started",
            caller=mask_phone(info.from_number),
            issued_by=redeemed.machine_id,
        )
        await run_call(runtime.services, runtime.active_calls, stream, info)
