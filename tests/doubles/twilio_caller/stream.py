"""The Media Stream as Twilio runs it: paced inbound media, the service's frames checked, marks.

Built for load too (hundreds of callers in one process): per caller one sender task, one receiver
task and one player task; orjson; no per-frame work beyond a base64 encode or decode.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.lib.audio import ULAW_BYTES_PER_MS, ULAW_SILENCE
from tests.doubles.stamps import stamp_ulaw
from tests.doubles.twilio_caller.config import CallerConfig, MediaHook
from tests.doubles.twilio_caller.errors import CallerError, StreamClosedError
from tests.doubles.twilio_caller.frames import (
    CLEAR_KEYS,
    MARK_KEYS,
    MEDIA_KEYS,
    frame_problems,
    mark_frame,
    media_frame,
)
from tests.doubles.twilio_caller.playback import Playback
from tests.doubles.twilio_caller.waiting import Watchers
from tests.doubles.twilio_caller.webhooks import WebhookCaller

__all__ = ["StreamCaller"]

_MAX_SEND_LAG_S = 0.2  # a sender further behind than this resynchronises instead of bursting


class StreamCaller(WebhookCaller):
    """A caller's Media Stream as Twilio runs it; FakeTwilioCaller is what tests drive it with."""

    def __init__(
        self,
        base_url: str,
        auth_token: str,
        config: CallerConfig | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        on_media_sent: MediaHook | None = None,
        on_media_received: MediaHook | None = None,
    ) -> None:
        """`on_media_sent` / `on_media_received` (benchmarks) see every media frame's payload."""
        super().__init__(base_url, auth_token, config, http=http)

        # records (public)
        self.received: list[dict[str, Any]] = []
        self.received_audio_ms = 0.0
        self.received_media_frames = 0
        self.received_audio = bytearray()  # only with config.record_audio
        self.start_sent_at: float | None = None
        self.first_audio_at: float | None = None
        self.greeting_latency_ms: float | None = None
        self.clears = 0
        self.marks_returned: list[str] = []
        self.media_arrivals: list[tuple[float, int]] = []  # only with config.record_arrivals
        self.protocol_errors: list[str] = []
        self.close_code: int | None = None
        self.sent_frames = 0
        self.max_send_lag_ms = 0.0  # how late the sender ever was: > a frame means a busy loop

        self._frame_bytes = self.config.frame_ms * ULAW_BYTES_PER_MS
        self._silence_b64 = base64.b64encode(bytes([ULAW_SILENCE]) * self._frame_bytes).decode()
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._chunk = 0
        self._stream_t0 = 0.0
        self._custom_parameters: dict[str, str] = {}
        self._first_frame_ms = 0.0
        self._speech = bytearray()
        self._speech_queued = 0
        self._speech_sent = 0
        self._playback = Playback(self._return_mark, self._played)
        self._last_media: dict[str, Any] = {}
        self._event_counts: dict[str, int] = {}
        self._watchers = Watchers()
        self._closed = False
        self._aclosed = False
        self._on_media_sent = on_media_sent
        self._on_media_received = on_media_received
        self._sender: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._player: asyncio.Task[None] | None = None
        self._late_marks: set[asyncio.TimerHandle] = set()

    @property
    def played_audio_ms(self) -> float:
        """Outbound audio played to the caller so far, at real time (marks follow it)."""
        return self._playback.played_audio_ms

    # --- internals: sending --------------------------------------------------------------------

    def _require_ws(self) -> ClientConnection:
        if self._ws is None:
            raise CallerError("stream not connected")
        return self._ws

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_event(self, event: dict[str, Any]) -> None:
        # websockets writes a whole text frame before its first await, so frames leave in the
        # order their sequence numbers were taken, whichever task sends them.
        await self._require_ws().send(orjson.dumps(event), text=True)

    async def _send_media(self) -> None:
        """Inbound media every frame_ms on a monotonic schedule (no drift), like Twilio."""
        loop = asyncio.get_running_loop()
        frame_s = self.config.frame_ms / 1000
        fb = self._frame_bytes
        speech = self._speech
        stamp = self.config.stamp
        silence = bytes([ULAW_SILENCE]) * fb
        on_sent = self._on_media_sent
        next_at = loop.time() + frame_s
        try:
            while True:
                if not self.config.realtime and speech:
                    await asyncio.sleep(0)
                    next_at = loop.time() + frame_s
                else:
                    delay = next_at - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    else:
                        self.max_send_lag_ms = max(self.max_send_lag_ms, -delay * 1000)
                        if -delay > _MAX_SEND_LAG_S:
                            next_at = loop.time()
                    next_at += frame_s
                self._chunk += 1
                if speech:
                    chunk = bytes(speech[:fb])
                    del speech[:fb]  # O(1): CPython bytearrays shrink from the front in place
                    self._speech_sent += len(chunk)
                    if len(chunk) < fb:
                        chunk += bytes([ULAW_SILENCE]) * (fb - len(chunk))
                    if stamp is not None:
                        chunk = stamp_ulaw(chunk, stamp, self._chunk)
                    payload = base64.b64encode(chunk).decode()
                elif stamp is not None:
                    payload = base64.b64encode(stamp_ulaw(silence, stamp, self._chunk)).decode()
                else:
                    payload = self._silence_b64
                if on_sent is not None:
                    # Taken before the send: websockets writes the frame before its first await.
                    on_sent(payload, time.perf_counter())
                await self._send_event(
                    media_frame(
                        self._next_seq(),
                        self.stream_sid,
                        self._chunk,
                        int((loop.time() - self._stream_t0) * 1000),
                        payload,
                    )
                )
                self.sent_frames += 1
                if self._watchers:
                    self._notify()
        except ConnectionClosed:
            pass

    async def _return_mark(self, name: str) -> None:
        delay = self.config.mark_delay_ms / 1000
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._late_marks.add(loop.call_later(delay, self._send_late_mark, name))
            return
        self.marks_returned.append(name)
        await self._send_event(mark_frame(self._next_seq(), self.stream_sid, name))

    def _send_late_mark(self, name: str) -> None:
        self.marks_returned.append(name)
        task = asyncio.ensure_future(
            self._send_event(mark_frame(self._next_seq(), self.stream_sid, name))
        )
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _drop_late_marks(self) -> None:
        """The call ends: marks still on their way never arrive."""
        for handle in self._late_marks:
            handle.cancel()
        self._late_marks.clear()

    def _played(self) -> None:
        if self._watchers:
            self._notify()

    # --- internals: receiving ------------------------------------------------------------------

    async def _receive(self) -> None:
        ws = self._require_ws()
        try:
            async for message in ws:
                if not isinstance(message, str):
                    self.protocol_errors.append(f"31950 binary frame ({len(message)} bytes)")
                    continue
                try:
                    msg = orjson.loads(message)
                except orjson.JSONDecodeError:
                    self.protocol_errors.append(f"31951 not JSON: {message[:80]!r}")
                    continue
                if type(msg) is dict and msg.get("event") == "media":
                    self._on_media(msg)  # the hot path: no coroutine per frame
                else:
                    await self._on_control(msg, message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            self._closed = True
            for task in (self._sender, self._player):
                if task is not None and not task.done():
                    task.cancel()
            self._notify(closing=True)

    async def _on_control(self, msg: Any, text: str) -> None:
        """Every frame but media: recorded in `received`, checked, acted on."""
        if not isinstance(msg, dict):
            self.protocol_errors.append(f"31951 not a JSON object: {text[:80]!r}")
            return
        event = msg.get("event")
        self.received.append(msg)
        if event == "mark":
            mark = msg.get("mark")
            if not (
                isinstance(mark, dict) and mark.keys() == {"name"} and isinstance(mark["name"], str)
            ):
                self.protocol_errors.append(f"31951 mark must be {{'name': str}}: {mark!r}")
            elif self._check(msg, MARK_KEYS):
                self._playback.add_mark(mark["name"])
        elif event == "clear":
            if self._check(msg, CLEAR_KEYS):
                await self._clear()
        else:
            self.protocol_errors.append(f"31951 unknown event {event!r}: {text[:80]!r}")
        if isinstance(event, str):
            self._event_counts[event] = self._event_counts.get(event, 0) + 1
        if self._watchers:
            self._notify()

    def _check(self, msg: dict[str, Any], keys: frozenset[str]) -> bool:
        problems = frame_problems(msg, keys, self.stream_sid)
        self.protocol_errors += problems
        return not problems

    def _on_media(self, msg: dict[str, Any]) -> None:
        media = msg.get("media")
        # Fast path: exactly {"event","streamSid","media":{"payload"}} for this stream (3 keys
        # present out of 3 allowed); anything else takes the slow path that names the problem.
        if not (
            len(msg) == 3
            and msg.get("streamSid") == self.stream_sid
            and type(media) is dict
            and len(media) == 1
            and "payload" in media
        ):
            if not self._check(msg, MEDIA_KEYS):
                return
            if not isinstance(media, dict) or media.keys() != {"payload"}:
                keys = list(media) if isinstance(media, dict) else type(media).__name__
                self.protocol_errors.append(f"31951 media must be {{'payload': str}}, got {keys}")
                return
        try:
            audio = binascii.a2b_base64(media["payload"], strict_mode=True)
        except (binascii.Error, TypeError, ValueError):
            self.protocol_errors.append("31951 media payload is not base64")
            return
        now = time.perf_counter()
        size = len(audio)
        if self.first_audio_at is None:
            self.first_audio_at = now
            self._first_frame_ms = size / ULAW_BYTES_PER_MS
            if self.start_sent_at is not None:
                self.greeting_latency_ms = (now - self.start_sent_at) * 1000
        if self._on_media_received is not None:
            self._on_media_received(media["payload"], now)
        if self.config.record_arrivals:
            self.media_arrivals.append((now, size))
        if self.config.record_audio:
            self.received_audio += audio
        self.received_media_frames += 1
        self._event_counts["media"] = self.received_media_frames
        self._last_media = msg
        self.received_audio_ms += size / ULAW_BYTES_PER_MS
        if size:
            self._playback.add_audio(size)
        if self._watchers:
            self._notify(now)

    async def _clear(self) -> None:
        """Twilio: `clear` empties the buffer at once and returns every pending mark."""
        self.clears += 1
        for name in self._playback.clear():
            await self._return_mark(name)

    # --- internals: waiting and tasks ----------------------------------------------------------

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until `ready()`; returns the perf_counter() at which it became true."""
        if ready():
            return time.perf_counter()
        if self._closed:
            raise self._closed_error(what)
        return await self._watchers.wait(ready, timeout, what)

    def _notify(self, now: float | None = None, *, closing: bool = False) -> None:
        at = time.perf_counter() if now is None else now
        self._watchers.notify(at, self._closed_error if closing else None)

    def _closed_error(self, what: str) -> StreamClosedError:
        return StreamClosedError(f"stream closed (code {self.close_code}) before {what}")

    def _crossing_time(self, ms: float) -> float:
        if self.first_audio_at is not None and self._first_frame_ms >= ms:
            return self.first_audio_at
        total = 0
        for at, size in self.media_arrivals:
            total += size
            if total / ULAW_BYTES_PER_MS >= ms:
                return at
        return time.perf_counter()

    async def _cancel(self, *tasks: asyncio.Task[None] | None) -> None:
        live = [task for task in tasks if task is not None and not task.done()]
        for task in live:
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)

    async def _settle_receiver(self) -> None:
        receiver = self._receiver
        if receiver is None or receiver.done():
            return
        try:
            async with asyncio.timeout(3.0):
                await asyncio.shield(receiver)
        except TimeoutError:
            await self._cancel(receiver)
        except ConnectionClosed:
            pass
