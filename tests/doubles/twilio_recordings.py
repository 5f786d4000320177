"""The Recordings resources of the fake Twilio REST API (protocols/twilio-more.md section 1).

- `POST /2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings.json` starts a recording of a live call
  (form `RecordingChannels`, `RecordingTrack`, `Trim`, `RecordingStatusCallback`,
  `RecordingStatusCallbackEvent`...): 201 and the call-recording resource, status `in-progress`;
  21220 when the call is not in progress, 20404 for an unknown call.
- `GET /2010-04-01/Accounts/{AC}/Recordings/{RE}.json` the metadata; `.wav` the media: a real
  WAV (8 kHz, 16-bit, one channel per party when dual), with Range requests (206/416);
  `DELETE .../{RE}.json` 204, then the recording answers 20404 like a deleted one.
- The recording runs until the call ends (the service hangs up, or a test calls `end_call`);
  then it is `completed` and the status callback is POSTed, signed like Twilio
  (`X-Twilio-Signature`, HMAC-SHA1 of URL and sorted form with the auth token).

Twilio documents no Range support on media (UNCONFIRMED): the double honours it, and the service
must work either way. `.mp3` is a real MP3 of the same length, in silence (no encoder here: its
frames are built by hand, MPEG-2.5 Layer III at 8 kHz and 32 kbps, Twilio's MP3 bit rate).
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from tests.doubles.twilio_api import FakeTwilioAPI

RecordingMode = Literal["ok", "refuse", "error", "stall"]

_PARAMS = frozenset(
    {
        "RecordingStatusCallbackEvent",
        "RecordingStatusCallback",
        "RecordingStatusCallbackMethod",
        "Trim",
        "RecordingChannels",
        "RecordingTrack",
        "RecordingConfigurationId",
    }
)
_EVENTS = frozenset({"in-progress", "completed", "absent"})
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
RATE = 8000


def tone_wav(seconds: float, channels: int) -> bytes:
    """A real WAV: 8 kHz 16-bit PCM, a 440 Hz tone left (the caller), 660 Hz right (the agent)."""
    frames = max(1, int(seconds * RATE))
    samples = bytearray()
    for n in range(frames):
        for channel in range(channels):
            hz = 440 if channel == 0 else 660
            samples += struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / RATE)))
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(samples),
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        RATE,
        RATE * 2 * channels,
        2 * channels,
        16,
        b"data",
        len(samples),
    )
    return header + bytes(samples)


MP3_FRAME_SAMPLES = 576  # MPEG-2/2.5 Layer III
# sync, MPEG-2.5, Layer III, no CRC | 32 kbps, 8000 Hz, no padding | mono; 72*32000/8000 bytes
MP3_FRAME = bytes([0xFF, 0xE3, 0x48, 0xC0]) + bytes(288 - 4)  # all-zero side info: silence


def silent_mp3(seconds: float) -> bytes:
    return MP3_FRAME * max(1, math.ceil(seconds * RATE / MP3_FRAME_SAMPLES))


@dataclass
class FakeRecording:
    sid: str
    call_sid: str
    channels: int
    track: str
    trim: str
    callback: str | None
    events: frozenset[str]
    started: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "in-progress"
    duration: int | None = None
    media: bytes | None = None
    mp3: bytes | None = None
    deleted: bool = False


class RecordingsResource:
    """Mounted by FakeTwilioAPI; shares its request log, auth check and stop signal."""

    def __init__(self, api: FakeTwilioAPI) -> None:
        self._api = api
        self.mode: RecordingMode = "ok"
        self.recordings: dict[str, FakeRecording] = {}
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # url, form, answer
        self.media_requests: list[dict[str, str]] = []  # headers of each media GET
        self.problems: list[str] = []
        self.on_create: Callable[[], None] | None = None  # called as a start request arrives
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        self.mode = "ok"
        self.recordings.clear()
        self.callbacks.clear()
        self.media_requests.clear()
        self.problems.clear()
        self.on_create = None

    def of_call(self, call_sid: str) -> list[FakeRecording]:
        return [r for r in self.recordings.values() if r.call_sid == call_sid]

    def add(self, call_sid: str, seconds: float, channels: int = 2) -> FakeRecording:
        """A finished recording, as if made earlier (for console and retention tests)."""
        recording = FakeRecording(
            "RE" + secrets.token_hex(16), call_sid, channels, "both", "do-not-trim", None, _EVENTS
        )
        self._finish(recording, seconds)
        self.recordings[recording.sid] = recording
        return recording

    def delete_by_hand(self, sid: str) -> None:
        """Someone deleted it in Twilio's console."""
        self.recordings[sid].deleted = True

    async def end_call(self, call_sid: str, after: float | None = None) -> None:
        """The call is over (the caller hung up): its recordings complete, callbacks go out."""
        for recording in self.of_call(call_sid):
            if recording.status == "in-progress":
                self._finish(recording, after)
                await self._callback(recording, "completed")

    def call_ended(self, call_sid: str) -> None:
        """Called by the fake API when the service hangs the call up through REST."""
        self._spawn(self.end_call(call_sid))

    async def settled(self) -> None:
        """Wait for every status callback sent so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finish(self, recording: FakeRecording, seconds: float | None) -> None:
        elapsed = time.monotonic() - recording.started if seconds is None else seconds
        recording.duration = max(1, math.ceil(elapsed))
        recording.status = "completed"
        recording.media = tone_wav(elapsed, recording.channels)
        recording.mp3 = silent_mp3(elapsed)

    # --- handlers --------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        from tests.doubles.twilio_api import _error

        api = self._api
        account_sid, call_sid = request.path_params["account_sid"], request.path_params["call_sid"]
        if request.method == "POST" and self.on_create is not None:
            self.on_create()
        recorded = await api._record(request, account_sid=account_sid, call_sid=call_sid)
        if not recorded.auth_ok:
            return api._answer(recorded, api._unauthorized())
        if account_sid != api.account_sid:
            return api._answer(recorded, api._not_found(request.url.path))
        if request.method == "GET":
            listed = [self._resource(r) for r in self.of_call(call_sid) if not r.deleted]
            return api._answer(recorded, JSONResponse({"recordings": listed}))
        if self.mode == "stall":
            await api._release.wait()
            return api._answer(recorded, _error(20503, "Service unavailable", 503))
        if self.mode == "error":
            return api._answer(
                recorded, _error(20500, "An internal server error has occurred", 500)
            )
        status = api.call_status(call_sid)
        if self.mode == "refuse" or status not in (None, "in-progress"):
            message = "Invalid call state. Calls that have completed cannot be recorded."
            return api._answer(recorded, _error(21220, message, 400))
        form = recorded.form
        unknown = sorted(set(form) - _PARAMS)
        if unknown:
            self.problems.append(f"unknown Recordings parameters {unknown}")
        channels = form.get("RecordingChannels", "mono")
        track = form.get("RecordingTrack", "both")
        if channels not in ("mono", "dual") or track not in ("inbound", "outbound", "both"):
            self.problems.append(f"bad RecordingChannels/RecordingTrack {channels}/{track}")
        if channels == "dual" and track != "both":
            self.problems.append("13622: only RecordingTrack=both can be dual")
        events = frozenset(form.get("RecordingStatusCallbackEvent", "completed").split())
        if events - _EVENTS:
            self.problems.append(f"13621: invalid RecordingStatusCallbackEvent {sorted(events)}")
        callback = form.get("RecordingStatusCallback")
        if callback is not None and not callback.startswith(("http://", "https://")):
            self.problems.append(f"13256: invalid RecordingStatusCallback {callback!r}")
            callback = None
        recording = FakeRecording(
            "RE" + secrets.token_hex(16),
            call_sid,
            2 if channels == "dual" else 1,
            track,
            form.get("Trim", "do-not-trim"),
            callback,
            events & _EVENTS,
        )
        self.recordings[recording.sid] = recording
        self._spawn(self._callback(recording, "in-progress"))
        return api._answer(recorded, JSONResponse(self._resource(recording), status_code=201))

    async def resource(self, request: Request) -> Response:
        api = self._api
        account_sid = request.path_params["account_sid"]
        name = request.path_params["name"]
        recorded = await api._record(request, account_sid=account_sid)
        if not recorded.auth_ok:
            return api._answer(recorded, api._unauthorized())
        sid, _, extension = name.partition(".")
        recording = self.recordings.get(sid)
        if account_sid != api.account_sid or recording is None or recording.deleted:
            return api._answer(recorded, api._not_found(request.url.path))
        if request.method == "DELETE":
            if extension != "json":
                return api._answer(recorded, api._not_found(request.url.path))
            recording.deleted = True
            return api._answer(recorded, Response(status_code=204))
        if extension == "json":
            return api._answer(recorded, JSONResponse(self._resource(recording)))
        if extension not in ("wav", "mp3", ""):
            return api._answer(recorded, api._not_found(request.url.path))
        self.media_requests.append(dict(request.headers))
        media = recording.mp3 if extension == "mp3" else recording.media
        if media is None:  # still recording: Twilio has no file yet
            return api._answer(recorded, api._not_found(request.url.path))
        kind = "audio/mpeg" if extension == "mp3" else "audio/x-wav"  # [OLD-REC] MIME types
        return api._answer(recorded, _ranged(media, request.headers.get("range"), kind))

    # --- the status callback ---------------------------------------------------------------

    async def _callback(self, recording: FakeRecording, status: str) -> None:
        if recording.callback is None or status not in recording.events:
            return
        api = self._api
        form = {
            "AccountSid": api.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}"
            f"/Recordings/{recording.sid}",
            "RecordingStatus": status,
            "RecordingDuration": str(recording.duration or 0),
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": format_datetime(recording.created),
            "RecordingSource": "StartCallRecordingAPI",
            "RecordingTrack": recording.track,
        }
        if status == "in-progress":
            form["RecordingDuration"] = "-1"
        signature = RequestValidator(api.auth_token).compute_signature(recording.callback, form)
        try:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                response = await http.post(
                    recording.callback, data=form, headers={"X-Twilio-Signature": signature}
                )
            self.callbacks.append((recording.callback, form, response.status_code))
        except httpx.HTTPError:
            self.callbacks.append((recording.callback, form, 0))

    def _resource(self, r: FakeRecording) -> dict[str, Any]:
        account = self._api.account_sid
        stamp = format_datetime(r.created)
        return {
            "account_sid": account,
            "api_version": "2010-04-01",
            "call_sid": r.call_sid,
            "conference_sid": None,
            "channels": r.channels,
            "date_created": stamp,
            "date_updated": stamp,
            "start_time": stamp,
            "duration": None if r.duration is None else str(r.duration),
            "sid": r.sid,
            "price": None if r.duration is None else "-0.0025",
            "price_unit": "USD",
            "status": r.status,
            "source": "StartCallRecordingAPI",
            "error_code": None,
            "encryption_details": None,
            "track": r.track,
            "uri": f"/2010-04-01/Accounts/{account}/Calls/{r.call_sid}/Recordings/{r.sid}.json",
        }


def _ranged(media: bytes, header: str | None, kind: str) -> Response:
    total = len(media)
    base = {"Accept-Ranges": "bytes", "Content-Type": kind}
    match = _RANGE.match(header or "")
    if header is None or match is None or match.group(1) == match.group(2) == "":
        return Response(media, headers=base)
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(0, total - int(last)), total - 1
    else:
        start, end = int(first), min(int(last) if last else total - 1, total - 1)
    if start >= total or start > end:
        return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{total}"})
    return Response(
        media[start : end + 1],
        status_code=206,
        headers={**base, "Content-Range": f"bytes {start}-{end}/{total}"},
    )
