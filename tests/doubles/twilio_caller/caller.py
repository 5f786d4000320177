"""FakeTwilioCaller: what a test does with one inbound call (dial, stream, speak, hang up, wait)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Self
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.lib.audio import tone_ulaw
from tests.doubles.twilio_caller.errors import CallerError
from tests.doubles.twilio_caller.frames import (
    CONNECTED_FRAME,
    DTMF_DIGITS,
    dtmf_frame,
    start_frame,
    stop_frame,
)
from tests.doubles.twilio_caller.stream import StreamCaller
from tests.doubles.twilio_caller.twiml import Twiml

__all__ = ["FakeTwilioCaller"]


class FakeTwilioCaller(StreamCaller):
    """One inbound call, from Twilio's side. Use as `async with FakeTwilioCaller(...) as caller`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self) -> Twiml:
        """dial(), then connect_stream()."""
        twiml = await self.dial()
        await self.connect_stream(twiml)
        return twiml

    # --- WebSocket: the stream -----------------------------------------------------------------

    async def connect_stream(
        self,
        twiml: Twiml | None = None,
        *,
        sign: bool = True,
        signature: str | None = None,
        parameters: dict[str, str] | None = None,
        send_start: bool = True,
    ) -> None:
        """Open the `<Stream url>` WebSocket, send `connected` and (unless told not to) `start`."""
        twiml = twiml or self.twiml
        if twiml is None or twiml.stream_url is None:
            raise CallerError("no <Connect><Stream url> to connect to")
        if self._ws is not None:
            raise CallerError("stream already connected")
        url = twiml.stream_url
        if urlsplit(url).query:
            self.protocol_errors.append(f"<Stream url> has a query string (Twilio drops it): {url}")
        self._custom_parameters = dict(twiml.parameters if parameters is None else parameters)
        for name, value in self._custom_parameters.items():
            if len(value) >= 500:
                self.protocol_errors.append(
                    f"<Parameter {name}> value is {len(value)} chars (max 499)"
                )
        headers: dict[str, str] = {}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif sign:
            headers["X-Twilio-Signature"] = self.sign(url)  # Twilio signs the upgrade, no params
        self._ws = await connect(
            url,
            additional_headers=headers,
            compression=None,
            user_agent_header="Twilio.TmeWs/1.0",
            ping_interval=None,
            close_timeout=2,
            max_size=2**22,
        )
        await self._ws.send(orjson.dumps(CONNECTED_FRAME), text=True)
        self._receiver = asyncio.create_task(self._receive(), name=f"caller-recv-{self.call_sid}")
        self._player = asyncio.create_task(
            self._playback.run(), name=f"caller-play-{self.call_sid}"
        )
        if send_start:
            await self.send_start()

    async def send_start(self) -> None:
        """Send the `start` event and begin streaming media (connect_stream does this by default)."""
        ws = self._require_ws()
        start = start_frame(
            self.call_sid,
            self.stream_sid,
            self.account_sid,
            self._custom_parameters,
            self._next_seq(),
        )
        self._stream_t0 = asyncio.get_running_loop().time()
        self.start_sent_at = time.perf_counter()
        await ws.send(orjson.dumps(start), text=True)
        self._sender = asyncio.create_task(self._send_media(), name=f"caller-send-{self.call_sid}")

    def say(self, ms: int, *, amplitude: float = 0.3) -> None:
        """Queue `ms` of a 440 Hz tone as the next inbound frames; silence resumes after it."""
        self.say_ulaw(tone_ulaw(ms, 440.0, amplitude))

    def say_ulaw(self, audio: bytes) -> None:
        """Queue raw mu-law audio as the next inbound frames (padded with silence to a frame)."""
        self._speech += audio
        self._speech_queued += len(audio)

    async def say_and_wait(
        self,
        ms: int,
        *,
        amplitude: float = 0.3,
        timeout: float = 30.0,
    ) -> None:
        """say(), then wait until all of it was sent."""
        self.say(ms, amplitude=amplitude)
        target = self._speech_queued
        await self._wait(lambda: self._speech_sent >= target, timeout, "queued speech sent")

    async def send_dtmf(self, digit: str) -> None:
        if digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        await self._send_event(dtmf_frame(self._next_seq(), self.stream_sid, digit))

    async def send_raw(self, data: str | bytes) -> None:
        """Send anything (str as a text frame, bytes as a binary frame): for bad-input tests."""
        await self._require_ws().send(data)

    async def hangup(self) -> None:
        """The caller hangs up: Twilio sends `stop`, then closes the WebSocket normally (1000)."""
        ws = self._require_ws()
        await self._cancel(self._sender, self._player)
        self._drop_late_marks()
        with contextlib.suppress(ConnectionClosed):
            await self._send_event(
                stop_frame(self._next_seq(), self.stream_sid, self.account_sid, self.call_sid)
            )
        await ws.close(1000)
        await self._settle_receiver()

    async def drop(self) -> None:
        """The network goes away: the TCP connection is aborted, no `stop`, no close frame."""
        ws = self._require_ws()
        await self._cancel(self._sender, self._player)
        self._drop_late_marks()
        ws.transport.abort()
        await self._settle_receiver()

    # --- waiting (the `timeout` arguments are these test helpers' contract, hence the noqa) -----

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the WebSocket is closed (by either side); returns the close code."""
        if self._ws is not None:
            await self._wait(lambda: self._closed, timeout, "stream closed")
        return self.close_code

    async def wait_for_audio(self, ms: float = 1, timeout: float = 5.0) -> float:
        """Wait until `ms` of outbound audio was received; returns seconds since `start` was sent.

        The time is that of the frame that crossed `ms` when this was already waiting; when it had
        already been reached, that of the first frame if it alone covered `ms`, or of the crossing
        frame with record_arrivals, else now.
        """
        if self.received_audio_ms >= ms:
            at = self._crossing_time(ms)
        else:
            at = await self._wait(
                lambda: self.received_audio_ms >= ms, timeout, f"{ms} ms of audio received"
            )
        return at - (self.start_sent_at or at)

    async def wait_until_heard(self, ms: float, timeout: float = 10.0) -> None:
        """Wait until `ms` of outbound audio has been played to the caller."""
        await self._wait(lambda: self.played_audio_ms >= ms, timeout, f"{ms} ms of audio played")

    async def wait_for_event(
        self,
        event: str,
        timeout: float = 5.0,
        count: int = 1,
    ) -> dict[str, Any]:
        """Wait for the `count`-th frame of `event` from the service; returns it.

        For "media" (not kept in `received`) it returns the latest media frame.
        """
        await self._wait(
            lambda: self._event_counts.get(event, 0) >= count, timeout, f"{count} x {event!r}"
        )
        if event == "media":
            return self._last_media
        return [msg for msg in self.received if msg.get("event") == event][count - 1]

    async def aclose(self) -> None:
        """Stop the tasks, close the socket if open, close our own HTTP client. Idempotent."""
        if self._aclosed:
            return
        self._aclosed = True
        await self._cancel(self._sender, self._player)
        if self._ws is not None and not self._closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(1000), 3.0)
        await self._settle_receiver()
        await self._aclose_http()
        for task in (self._sender, self._receiver, self._player):
            if task is not None and task.done() and not task.cancelled():
                failure = task.exception()
                if failure is not None:  # a bug in this double: let the test see it
                    raise failure
