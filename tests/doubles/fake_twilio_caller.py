"""A fake Twilio caller: places an inbound call to the service the way Twilio does, hears it back.

It posts the signed inbound-call webhook, reads the TwiML, opens the signed Media Streams
WebSocket of `<Connect><Stream>`, streams inbound mu-law in real time (silence, or queued "speech"
tones), and plays the service's outbound audio at real time the way Twilio does: a `mark` comes
back only when the audio sent before it has played, and `clear` drops the buffer and returns every
pending mark at once (docs PROTOCOLS.md section 2). Anything the service sends that Twilio would
reject is recorded in `protocol_errors`.

Built for load too (hundreds of callers in one process): per caller one sender task, one receiver
task and one player task; orjson; no per-frame work beyond a base64 encode or decode.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import operator
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.lib.audio import ULAW_BYTES_PER_MS, ULAW_SILENCE, tone_ulaw

__all__ = [
    "STAMP_BYTES",
    "CallerConfig",
    "CallerError",
    "FakeTwilioCaller",
    "MediaHook",
    "StreamClosedError",
    "Twiml",
    "parse_twiml",
    "read_stamp",
    "read_stamp_b64",
    "stamp_ulaw",
]

_TICK_MS = 20  # Twilio plays outbound audio in 20 ms frames
_MAX_SEND_LAG_S = 0.2  # a sender further behind than this resynchronises instead of bursting
_DTMF_DIGITS = frozenset("0123456789*#")
_MEDIA_KEYS = frozenset({"event", "streamSid", "media"})
_MARK_KEYS = frozenset({"event", "streamSid", "mark"})
_CLEAR_KEYS = frozenset({"event", "streamSid"})
# Rough geography Twilio adds to US numbers (FromCity, FromZip); unknown states get empty strings.
_STATE_GEO = {
    "TX": ("AUSTIN", "78701"),
    "CA": ("SAN FRANCISCO", "94105"),
    "NY": ("NEW YORK", "10001"),
}


# --- frame stamps (benchmarks): which frame is which, at the far end of the relay ----------------
#
# A stamp is written over the first STAMP_BYTES samples of a mu-law frame, 5 bits a sample, in
# codes that decode to |x| <= 120 of 32124 (0x70-0x7F and 0xF0-0xFF: exponent 0), so a stamped
# silence frame stays far below any VAD threshold (RMS about 30). Ten digits carry 50 bits
# (a 26-bit tag and a 24-bit frame number); the last one is a check digit, so plain silence
# (0xFF...) and tone audio never read as stamped.
STAMP_BYTES = 11
_STAMP_DIGITS = STAMP_BYTES - 1
_STAMP_CHECK = 0x15
_QUIET_CODES = bytes((0xF0 if d & 0x10 else 0x70) | (d & 0x0F) for d in range(32))
_QUIET_DIGIT = tuple(_QUIET_CODES.find(bytes([code])) for code in range(256))  # -1: not quiet
_STAMP_B64_CHARS = (STAMP_BYTES + 2) // 3 * 4  # base64 characters that cover the stamp

# Called with a media frame's base64 payload and the time.perf_counter() it was sent/received.
MediaHook = Callable[[str, float], None]


def stamp_ulaw(audio: bytes, tag: int, number: int) -> bytes:
    """`audio` with (tag, number) written over its first STAMP_BYTES samples (quietly)."""
    if len(audio) < STAMP_BYTES:
        raise ValueError(f"a stamped frame needs at least {STAMP_BYTES} bytes")
    value = ((tag & 0x3FFFFFF) << 24) | (number & 0xFFFFFF)
    digits = [(value >> (5 * i)) & 31 for i in range(_STAMP_DIGITS)]
    digits.append(functools.reduce(operator.xor, digits, _STAMP_CHECK))
    return bytes(_QUIET_CODES[d] for d in digits) + audio[STAMP_BYTES:]


def read_stamp(audio: bytes) -> tuple[int, int] | None:
    """The (tag, number) of a frame made by `stamp_ulaw`, or None if it carries no stamp."""
    if len(audio) < STAMP_BYTES:
        return None
    value = 0
    check = _STAMP_CHECK
    for i in range(_STAMP_DIGITS):
        digit = _QUIET_DIGIT[audio[i]]
        if digit < 0:
            return None
        value |= digit << (5 * i)
        check ^= digit
    if _QUIET_DIGIT[audio[_STAMP_DIGITS]] != check:
        return None
    return value >> 24, value & 0xFFFFFF


def read_stamp_b64(payload: str) -> tuple[int, int] | None:
    """read_stamp() of a base64 payload, decoding only its first few characters."""
    try:
        head = binascii.a2b_base64(payload[:_STAMP_B64_CHARS])
    except (binascii.Error, ValueError):
        return None
    return read_stamp(head)


class CallerError(Exception):
    """The service did something a real Twilio call could not go on with."""


class StreamClosedError(CallerError):
    """The Media Streams WebSocket closed before what was awaited happened."""


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class CallerConfig:
    """Who calls whom, and how the stream behaves."""

    call_sid: str | None = None  # default "CA" + 32 hex
    account_sid: str = "AC" + "0" * 32
    from_number: str = "+15551230000"
    to_number: str = "+15559870000"
    from_state: str | None = "TX"  # Twilio's FromState; None: a number without US geography
    extra_params: dict[str, str] = field(default_factory=dict)
    stream_sid: str | None = None  # default "MZ" + 32 hex
    frame_ms: int = 20  # inbound media frame size (20 ms = 160 bytes)
    realtime: bool = True  # False: queued speech goes out as fast as possible (silence stays paced)
    record_arrivals: bool = False  # keep (perf_counter, bytes) of every received media frame
    record_audio: bool = False  # keep every received outbound audio byte in `received_audio`
    # Benchmarks: stamp every inbound frame with (stamp, its chunk number) via stamp_ulaw(), so
    # the far end can tell frames apart; None sends the plain audio.
    stamp: int | None = None


@dataclass(frozen=True)
class Twiml:
    """A TwiML document as the caller understood it."""

    xml: str
    verbs: tuple[str, ...]  # the top-level verbs of <Response>, in order
    stream_url: str | None = None  # <Connect><Stream url>
    connect_action: str | None = None  # <Connect action>
    parameters: dict[str, str] = field(default_factory=dict)  # <Stream><Parameter name value>
    root: ET.Element | None = field(default=None, repr=False, compare=False)


CONNECTED_FRAME: dict[str, Any] = {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start_frame(
    call_sid: str,
    stream_sid: str,
    account_sid: str,
    parameters: dict[str, str],
    sequence_number: str = "1",
) -> dict[str, Any]:
    """Twilio's `start` event, exactly as a Media Stream sends it."""
    return {
        "event": "start",
        "sequenceNumber": sequence_number,
        "streamSid": stream_sid,
        "start": {
            "accountSid": account_sid,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }


def parse_twiml(xml: str) -> Twiml:
    """Parse a TwiML document; raises CallerError unless it is a <Response>."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CallerError(f"TwiML is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise CallerError(f"TwiML root is <{root.tag}>, not <Response>")
    stream_url = action = None
    parameters: dict[str, str] = {}
    connect_el = root.find("Connect")
    if connect_el is not None:
        action = connect_el.get("action")
        stream_el = connect_el.find("Stream")
        if stream_el is not None:
            stream_url = stream_el.get("url")
            for param in stream_el.findall("Parameter"):
                parameters[param.get("name", "")] = param.get("value", "")
    return Twiml(
        xml=xml,
        verbs=tuple(child.tag for child in root),
        stream_url=stream_url,
        connect_action=action,
        parameters=parameters,
        root=root,
    )


class FakeTwilioCaller:
    """One inbound call, from Twilio's side. Use as `async with FakeTwilioCaller(...) as caller`."""

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
        self.base_url = base_url.rstrip("/")
        self.config = config or CallerConfig()
        self.call_sid = self.config.call_sid or _sid("CA")
        self.stream_sid = self.config.stream_sid or _sid("MZ")
        self.account_sid = self.config.account_sid
        self._validator = RequestValidator(auth_token)
        self._http = http
        self._own_http = http is None
        self.twiml: Twiml | None = None

        # records (public)
        self.received: list[dict[str, Any]] = []
        self.received_audio_ms = 0.0
        self.played_audio_ms = 0.0
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
        # Twilio's outbound buffer: byte counts of audio not yet played, and mark names, in order
        self._playq: deque[int | str] = deque()
        self._wake_player = asyncio.Event()
        self._last_media: dict[str, Any] = {}
        self._event_counts: dict[str, int] = {}
        self._watchers: list[tuple[Callable[[], bool], asyncio.Future[float], str]] = []
        self._closed = False
        self._aclosed = False
        self._on_media_sent = on_media_sent
        self._on_media_received = on_media_received
        self._sender: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._player: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- HTTP: webhooks ------------------------------------------------------------------------

    def call_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every request about this inbound call."""
        cfg = self.config
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "ringing",
            "Called": cfg.to_number,
            "Caller": cfg.from_number,
            "Direction": "inbound",
            "From": cfg.from_number,
            "To": cfg.to_number,
            "FromCountry": "US",
            "CallerCountry": "US",
            "ToCountry": "US",
            "CalledCountry": "US",
        }
        if cfg.from_state is not None:
            city, zip_code = _STATE_GEO.get(cfg.from_state, ("", ""))
            for prefix in ("From", "Caller"):
                params[f"{prefix}State"] = cfg.from_state
                params[f"{prefix}City"] = city
                params[f"{prefix}Zip"] = zip_code
        params.update(cfg.extra_params)
        return params

    def sign(self, url: str, params: dict[str, str] | None = None) -> str:
        """X-Twilio-Signature for `url` and POST `params` (the WebSocket upgrade: no params)."""
        signature: str = self._validator.compute_signature(url, params or {})
        return signature

    async def post_webhook(
        self,
        path: str = "/twilio/incoming",
        params: dict[str, str] | None = None,
        *,
        sign: bool = True,
        signature: str | None = None,
        include_call_params: bool = True,
    ) -> httpx.Response:
        """POST a form-encoded, signed webhook, as Twilio does.

        `path` is relative to base_url, or an absolute URL (e.g. a `<Connect action>`). `params` are
        merged over `call_params()` unless include_call_params=False. sign=False omits the
        signature header; `signature` replaces it.
        """
        url = path if urlsplit(path).scheme else self.base_url + path
        form = (
            {**self.call_params(), **(params or {})} if include_call_params else dict(params or {})
        )
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif sign:
            headers["X-Twilio-Signature"] = self.sign(url, form)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return await self._http.post(url, data=form, headers=headers)

    async def dial(self) -> Twiml:
        """Post the inbound-call webhook and parse the TwiML answer (kept in `self.twiml`)."""
        response = await self.post_webhook()
        if response.status_code != 200:
            raise CallerError(f"webhook answered {response.status_code}: {response.text[:200]}")
        content_type = response.headers.get("content-type", "")
        if "xml" not in content_type:  # Twilio error 12300: Invalid Content-Type
            raise CallerError(f"webhook answered Content-Type {content_type!r}, not XML")
        self.twiml = parse_twiml(response.text)
        return self.twiml

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
        self._player = asyncio.create_task(self._play(), name=f"caller-play-{self.call_sid}")
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
        if digit not in _DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        await self._send_event(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next_seq(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, data: str | bytes) -> None:
        """Send anything (str as a text frame, bytes as a binary frame): for bad-input tests."""
        await self._require_ws().send(data)

    async def hangup(self) -> None:
        """The caller hangs up: Twilio sends `stop`, then closes the WebSocket normally (1000)."""
        ws = self._require_ws()
        await self._cancel(self._sender, self._player)
        with contextlib.suppress(ConnectionClosed):
            await self._send_event(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
        await ws.close(1000)
        await self._settle_receiver()

    async def drop(self) -> None:
        """The network goes away: the TCP connection is aborted, no `stop`, no close frame."""
        ws = self._require_ws()
        await self._cancel(self._sender, self._player)
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
        if self._own_http and self._http is not None:
            await self._http.aclose()
        for task in (self._sender, self._receiver, self._player):
            if task is not None and task.done() and not task.cancelled():
                failure = task.exception()
                if failure is not None:  # a bug in this double: let the test see it
                    raise failure

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
                    {
                        "event": "media",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._chunk),
                            "timestamp": str(int((loop.time() - self._stream_t0) * 1000)),
                            "payload": payload,
                        },
                    }
                )
                self.sent_frames += 1
                if self._watchers:
                    self._notify()
        except ConnectionClosed:
            pass

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
            elif self._check(msg, _MARK_KEYS):
                self._playq.append(mark["name"])
                self._wake_player.set()
        elif event == "clear":
            if self._check(msg, _CLEAR_KEYS):
                await self._clear()
        else:
            self.protocol_errors.append(f"31951 unknown event {event!r}: {text[:80]!r}")
        if isinstance(event, str):
            self._event_counts[event] = self._event_counts.get(event, 0) + 1
        if self._watchers:
            self._notify()

    def _check(self, msg: dict[str, Any], keys: frozenset[str]) -> bool:
        """Twilio 31951: unknown or missing fields, or another stream's streamSid."""
        ok = True
        if msg.keys() != keys:
            extra, missing = sorted(msg.keys() - keys), sorted(keys - msg.keys())
            self.protocol_errors.append(
                f"31951 {msg.get('event')}: unknown fields {extra}, missing {missing}"
            )
            ok = False
        if "streamSid" in msg and msg["streamSid"] != self.stream_sid:
            self.protocol_errors.append(
                f"31951 {msg.get('event')}: streamSid {msg['streamSid']!r} is not {self.stream_sid!r}"
            )
            ok = False
        return ok

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
            if not self._check(msg, _MEDIA_KEYS):
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
            q = self._playq
            if q and isinstance(q[-1], int):
                q[-1] += size
            else:
                q.append(size)
            self._wake_player.set()
        if self._watchers:
            self._notify(now)

    async def _clear(self) -> None:
        """Twilio: `clear` empties the buffer at once and returns every pending mark."""
        self.clears += 1
        pending = [item for item in self._playq if isinstance(item, str)]
        self._playq.clear()
        for name in pending:
            await self._return_mark(name)

    # --- internals: playing --------------------------------------------------------------------

    async def _play(self) -> None:
        """Play the outbound buffer at real time in 20 ms ticks; return marks as they are reached."""
        loop = asyncio.get_running_loop()
        tick_s = _TICK_MS / 1000
        per_tick = _TICK_MS * ULAW_BYTES_PER_MS
        q = self._playq
        try:
            while True:
                await self._return_head_marks()
                if not q:
                    self._wake_player.clear()
                    await self._wake_player.wait()
                    continue
                # A run of playback: anchored when audio is first there, ticking until it runs dry.
                anchor = loop.time()
                ticks = 0
                while q:
                    await asyncio.sleep(anchor + (ticks + 1) * tick_s - loop.time())
                    due = max(ticks + 1, int((loop.time() - anchor) / tick_s))
                    budget = (due - ticks) * per_tick
                    ticks = due
                    played = 0
                    while q and budget > 0:
                        head = q[0]
                        if isinstance(head, str):
                            q.popleft()
                            await self._return_mark(head)
                            continue
                        take = min(head, budget)
                        if take == head:
                            q.popleft()
                        else:
                            q[0] = head - take
                        budget -= take
                        played += take
                    self.played_audio_ms += played / ULAW_BYTES_PER_MS
                    await self._return_head_marks()  # all audio before them has played
                    if self._watchers:
                        self._notify()
        except ConnectionClosed:
            pass

    async def _return_head_marks(self) -> None:
        q = self._playq
        while q and isinstance(q[0], str):
            name = q.popleft()
            assert isinstance(name, str)
            await self._return_mark(name)

    async def _return_mark(self, name: str) -> None:
        self.marks_returned.append(name)
        await self._send_event(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    # --- internals: waiting and tasks ----------------------------------------------------------

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until `ready()`; returns the perf_counter() at which it became true."""
        if ready():
            return time.perf_counter()
        if self._closed:
            raise StreamClosedError(f"stream closed (code {self.close_code}) before {what}")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        watcher = (ready, future, what)
        self._watchers.append(watcher)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout} s") from None
        finally:
            with contextlib.suppress(ValueError):
                self._watchers.remove(watcher)

    def _notify(self, now: float | None = None, *, closing: bool = False) -> None:
        at = time.perf_counter() if now is None else now
        for watcher in list(self._watchers):
            ready, future, what = watcher
            if future.done():
                continue
            if ready():
                future.set_result(at)
            elif closing:
                future.set_exception(
                    StreamClosedError(f"stream closed (code {self.close_code}) before {what}")
                )
            else:
                continue
            self._watchers.remove(watcher)

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
