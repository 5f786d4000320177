"""Tests for the fake Twilio caller (tests/doubles/twilio_caller) against a tiny loopback service.

The service below validates signatures with the official RequestValidator and answers TwiML built
with the official VoiceResponse; its WebSocket side is driven by each test through a `Peer`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse
from websockets.exceptions import InvalidStatus

from app.lib.audio import silence_ulaw, tone_ulaw, ulaw_rms
from tests.doubles.server import free_port, serve_app
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.errors import CallerError, StreamClosedError
from tests.doubles.twilio_caller.twiml import parse_twiml

TOKEN = "0123456789abcdef0123456789abcdef"


class Peer:
    """The service's end of one Media Streams WebSocket: every frame with its arrival time."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.disconnect_code: int | None = None
        self.done = asyncio.Event()
        self._changed = asyncio.Event()
        self.stream_sid = ""

    async def read_all(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    self.disconnect_code = message.get("code")
                    return
                self.frames.append((time.perf_counter(), orjson.loads(message["text"])))
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
        finally:
            self.done.set()
            self._changed.set()

    def of(self, event: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame.get("event") == event]

    async def wait_for(
        self,
        event: str,
        count: int = 1,
        timeout: float = 3.0,
    ) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                matching = [(at, f) for at, f in self.frames if f.get("event") == event]
                if len(matching) >= count:
                    return matching[count - 1]
                if self.done.is_set():
                    raise AssertionError(f"socket closed before {count} x {event}")
                await self._changed.wait()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def send_audio(self, audio: bytes) -> None:
        payload = base64.b64encode(audio).decode()
        await self.send(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    async def send_mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})


@dataclass
class Service:
    port: int
    webhooks: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    upgrades: list[bool] = field(default_factory=list)
    peers: dict[str, asyncio.Future[Peer]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peer_future(self, call_sid: str) -> asyncio.Future[Peer]:
        if call_sid not in self.peers:
            self.peers[call_sid] = asyncio.get_running_loop().create_future()
        return self.peers[call_sid]

    async def peer(self, call_sid: str) -> Peer:
        async with asyncio.timeout(3.0):
            return await self.peer_future(call_sid)


def _make_app(service: Service) -> Starlette:
    validator = RequestValidator(TOKEN)

    async def incoming(request: Request) -> Response:
        async with request.form() as form:
            params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get("x-twilio-signature", "")
        valid = validator.validate(service.base_url + request.url.path, params, signature)
        service.webhooks.append((params, valid))
        if not valid:
            return Response("bad signature", status_code=403)
        response = VoiceResponse()
        connect = Connect(action=f"{service.base_url}/twilio/stream-ended")
        stream = Stream(url=f"ws://127.0.0.1:{service.port}/twilio/stream")
        stream.parameter(name="token", value="abc")
        connect.append(stream)
        response.append(connect)
        return Response(str(response), media_type="text/xml")

    async def stream(ws: WebSocket) -> None:
        signature = ws.headers.get("x-twilio-signature", "")
        valid = validator.validate(f"ws://127.0.0.1:{service.port}/twilio/stream", {}, signature)
        service.upgrades.append(valid)
        if not valid:
            await ws.close(code=1008)  # before accept(): the upgrade is refused with HTTP 403
            return
        await ws.accept()
        peer = Peer(ws)
        reader = asyncio.create_task(peer.read_all())
        try:
            _, start = await peer.wait_for("start")
            peer.stream_sid = start["streamSid"]
            service.peer_future(start["start"]["callSid"]).set_result(peer)
            await peer.done.wait()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    return Starlette(
        routes=[
            Route("/twilio/incoming", incoming, methods=["POST"]),
            WebSocketRoute("/twilio/stream", stream),
        ]
    )


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    svc = Service(free_port())
    async with serve_app(_make_app(svc), port=svc.port):
        yield svc


@pytest.fixture
async def caller(service: Service) -> AsyncIterator[FakeTwilioCaller]:
    async with FakeTwilioCaller(service.base_url, TOKEN) as fake:
        yield fake
    assert fake.protocol_errors == []


async def test_webhook_is_signed_like_twilio_and_twiml_is_parsed(
    service: Service, caller: FakeTwilioCaller
) -> None:
    twiml = await caller.dial()
    params, valid = service.webhooks[-1]
    assert valid
    assert params["CallSid"] == caller.call_sid and params["CallSid"].startswith("CA")
    assert len(caller.call_sid) == 34
    assert params["AccountSid"] == "AC" + "0" * 32
    assert (params["From"], params["To"], params["Caller"], params["Called"]) == (
        "+15551230000",
        "+15559870000",
        "+15551230000",
        "+15559870000",
    )
    assert (params["CallStatus"], params["Direction"], params["ApiVersion"]) == (
        "ringing",
        "inbound",
        "2010-04-01",
    )
    assert (params["FromState"], params["FromCountry"]) == ("TX", "US")
    assert twiml.verbs == ("Connect",)
    assert twiml.stream_url == f"ws://127.0.0.1:{service.port}/twilio/stream"
    assert twiml.connect_action == f"{service.base_url}/twilio/stream-ended"
    assert twiml.parameters == {"token": "abc"}


async def test_webhook_without_or_with_a_wrong_signature_is_refused(
    service: Service, caller: FakeTwilioCaller
) -> None:
    assert (await caller.post_webhook(sign=False)).status_code == 403
    assert (await caller.post_webhook(signature="AAAA" + "=" * 24)).status_code == 403
    # the signature covers the params: changing one after signing breaks it
    good = caller.sign(service.base_url + "/twilio/incoming", caller.call_params())
    tampered = await caller.post_webhook(params={"From": "+15550000000"}, signature=good)
    assert tampered.status_code == 403
    assert [valid for _, valid in service.webhooks[-3:]] == [False, False, False]


async def test_stream_upgrade_is_signed_and_start_matches_twilio(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    assert service.upgrades[-1] is True
    assert peer.ws.headers["user-agent"] == "Twilio.TmeWs/1.0"
    assert "sec-websocket-extensions" not in peer.ws.headers  # no permessage-deflate
    connected, start = peer.frames[0][1], peer.frames[1][1]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": caller.stream_sid,
        "start": {
            "accountSid": caller.account_sid,
            "streamSid": caller.stream_sid,
            "callSid": caller.call_sid,
            "tracks": ["inbound"],
            "customParameters": {"token": "abc"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    assert caller.stream_sid.startswith("MZ") and len(caller.stream_sid) == 34
    assert caller.start_sent_at is not None


async def test_stream_upgrade_with_a_bad_signature_is_refused(
    service: Service, caller: FakeTwilioCaller
) -> None:
    twiml = await caller.dial()
    with pytest.raises(InvalidStatus) as refused:
        await caller.connect_stream(twiml, signature="bad")
    assert refused.value.response.status_code == 403
    assert service.upgrades[-1] is False


async def test_media_is_paced_every_20_ms_in_real_time(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    first_at, _ = await peer.wait_for("media")
    await asyncio.sleep(1.05)
    media = [(at, f) for at, f in peer.frames if f["event"] == "media"]
    in_one_second = [f for at, f in media if at - first_at < 1.0]
    assert 47 <= len(in_one_second) <= 53
    frames = [f for _, f in media]
    assert [int(f["media"]["chunk"]) for f in frames] == list(range(1, len(frames) + 1))
    assert [int(f["sequenceNumber"]) for f in frames] == list(range(2, len(frames) + 2))
    stamps = [int(f["media"]["timestamp"]) for f in frames]
    assert stamps == sorted(stamps) and 900 <= stamps[50] - stamps[0] <= 1100
    first = frames[0]
    assert set(first) == {"event", "sequenceNumber", "streamSid", "media"}
    assert set(first["media"]) == {"track", "chunk", "timestamp", "payload"}
    assert first["media"]["track"] == "inbound"
    assert base64.b64decode(first["media"]["payload"]) == silence_ulaw(20)
    assert caller.sent_frames >= len(frames)


async def test_marks_return_only_after_their_audio_has_played(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await asyncio.sleep(0.05)  # the greeting starts 50 ms after `start`
    sent_at = time.perf_counter()
    for name in ("m1", "m2", "m3"):
        await peer.send_audio(tone_ulaw(100))  # 100 ms = 800 bytes
        await peer.send_mark(name)
    latency = await caller.wait_for_audio(300)
    returned = [await peer.wait_for("mark", n) for n in (1, 2, 3)]
    delays = [at - sent_at for at, _ in returned]
    assert [f["mark"]["name"] for _, f in returned] == ["m1", "m2", "m3"]
    assert 0.08 <= delays[0] <= 0.16
    assert 0.18 <= delays[1] <= 0.26
    assert 0.28 <= delays[2] <= 0.38  # not at once: after the 300 ms before it has played
    assert returned[2][1] == {
        "event": "mark",
        "sequenceNumber": returned[2][1]["sequenceNumber"],
        "streamSid": caller.stream_sid,
        "mark": {"name": "m3"},
    }
    assert caller.marks_returned == ["m1", "m2", "m3"]
    assert caller.received_audio_ms == 300
    assert caller.played_audio_ms == 300
    assert caller.received_media_frames == 3
    assert caller.greeting_latency_ms is not None and 40 <= caller.greeting_latency_ms <= 150
    assert 0.04 <= latency <= 0.15
    assert [e["event"] for e in caller.received] == ["mark", "mark", "mark"]


async def test_a_mark_with_no_audio_before_it_returns_at_once(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    sent_at = time.perf_counter()
    await peer.send_mark("empty")
    returned_at, _ = await peer.wait_for("mark")
    assert returned_at - sent_at < 0.03


async def test_clear_empties_the_buffer_and_returns_pending_marks_at_once(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await peer.send_audio(tone_ulaw(1000))
    await peer.send_mark("a")
    await peer.send_audio(tone_ulaw(1000))
    await peer.send_mark("b")
    await caller.wait_until_heard(100)
    cleared_at = time.perf_counter()
    await peer.send({"event": "clear", "streamSid": peer.stream_sid})
    first = await peer.wait_for("mark", 1)
    second = await peer.wait_for("mark", 2)
    assert [first[1]["mark"]["name"], second[1]["mark"]["name"]] == ["a", "b"]
    assert second[0] - cleared_at < 0.05
    heard = caller.played_audio_ms
    assert 100 <= heard <= 160
    await asyncio.sleep(0.1)
    assert caller.played_audio_ms == heard  # nothing left to play
    assert caller.clears == 1
    assert caller.received_audio_ms == 2000
    # audio after the clear plays again from the start of a fresh buffer
    await peer.send_audio(tone_ulaw(40))
    await peer.send_mark("c")
    after_at, _ = await peer.wait_for("mark", 3)
    assert caller.played_audio_ms == heard + 40
    assert caller.marks_returned == ["a", "b", "c"]
    assert after_at - cleared_at >= 0.1


async def test_say_sends_tone_frames_then_silence(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await peer.wait_for("media", 3)
    await caller.say_and_wait(200)
    await asyncio.sleep(0.1)
    levels = [ulaw_rms(base64.b64decode(f["media"]["payload"])) for f in peer.of("media")]
    loud = [i for i, level in enumerate(levels) if level > 1000]
    assert len(loud) == 10  # 200 ms of 20 ms frames
    assert loud == list(range(loud[0], loud[0] + 10))  # in one run
    assert loud[0] >= 3 and levels[loud[0] - 1] == 0.0
    assert all(level == 0.0 for level in levels[loud[-1] + 1 :])
    assert len(levels) > loud[-1] + 2  # silence resumed


async def test_say_without_realtime_sends_queued_speech_at_once(service: Service) -> None:
    config = CallerConfig(realtime=False)
    async with FakeTwilioCaller(service.base_url, TOKEN, config) as fast:
        await fast.call()
        peer = await service.peer(fast.call_sid)
        started = time.perf_counter()
        await fast.say_and_wait(1000)
        assert time.perf_counter() - started < 0.5
        await peer.wait_for("media", 50)
    assert fast.protocol_errors == []


async def test_dtmf_is_sent_like_twilio(service: Service, caller: FakeTwilioCaller) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await caller.send_dtmf("5")
    _, dtmf = await peer.wait_for("dtmf")
    assert dtmf == {
        "event": "dtmf",
        "streamSid": caller.stream_sid,
        "sequenceNumber": dtmf["sequenceNumber"],
        "dtmf": {"track": "inbound_track", "digit": "5"},
    }
    with pytest.raises(ValueError):
        await caller.send_dtmf("x")


async def test_hangup_sends_stop_then_closes_normally(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await peer.wait_for("media", 2)
    await caller.hangup()
    await asyncio.wait_for(peer.done.wait(), 3.0)
    last = peer.frames[-1][1]
    assert last == {
        "event": "stop",
        "sequenceNumber": last["sequenceNumber"],
        "streamSid": caller.stream_sid,
        "stop": {"accountSid": caller.account_sid, "callSid": caller.call_sid},
    }
    numbers = [int(f["sequenceNumber"]) for _, f in peer.frames[1:]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert peer.disconnect_code == 1000
    assert await caller.wait_closed() == 1000
    assert caller.close_code == 1000


async def test_drop_closes_the_connection_without_stop(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    await peer.wait_for("media")
    await caller.drop()
    await asyncio.wait_for(peer.done.wait(), 3.0)
    assert peer.of("stop") == []
    # no close frame: uvicorn's websockets-sansio reports a lost connection as 1005, others 1006
    assert peer.disconnect_code in (1005, 1006)
    assert caller.close_code == 1006


async def test_server_close_ends_the_call_and_fails_waiters(
    service: Service, caller: FakeTwilioCaller
) -> None:
    await caller.call()
    peer = await service.peer(caller.call_sid)
    waiting = asyncio.create_task(caller.wait_for_event("clear"))
    await peer.ws.close(1000)
    assert await caller.wait_closed() == 1000
    with pytest.raises(StreamClosedError):
        await waiting
    with pytest.raises(StreamClosedError):
        await caller.wait_until_heard(10)
    sent = caller.sent_frames
    await asyncio.sleep(0.06)
    assert caller.sent_frames == sent  # the sender stopped
    await caller.aclose()
    await caller.aclose()  # idempotent


async def test_protocol_errors_catch_what_twilio_would_reject(service: Service) -> None:
    async with FakeTwilioCaller(service.base_url, TOKEN) as fake:
        await fake.call()
        peer = await service.peer(fake.call_sid)
        sid = peer.stream_sid
        good = base64.b64encode(tone_ulaw(20)).decode()
        await peer.send(
            {"event": "media", "streamSid": sid, "media": {"payload": good, "track": "outbound"}}
        )
        await peer.send(
            {"event": "media", "streamSid": sid, "media": {"payload": good}, "extra": 1}
        )
        await peer.ws.send_bytes(b"\xff" * 160)
        await peer.send({"event": "media", "streamSid": "MZwrong", "media": {"payload": good}})
        await peer.send({"event": "media", "streamSid": sid, "media": {"payload": "not base64!"}})
        await peer.send({"event": "clear", "streamSid": sid, "reason": "barge-in"})
        await peer.send({"event": "mark", "streamSid": sid, "mark": {"name": 7}})
        await peer.send({"event": "flush", "streamSid": sid})
        await peer.ws.send_text("{not json")
        await peer.send({"event": "media", "streamSid": sid, "media": {"payload": good}})
        await fake.wait_for_event("media")
        errors = list(fake.protocol_errors)
    assert len(errors) == 9, errors
    assert any(e.startswith("31950 binary frame") for e in errors)
    assert any("unknown fields ['extra']" in e for e in errors)
    assert any("media must be {'payload': str}" in e for e in errors)
    assert any("MZwrong" in e for e in errors)
    assert any("not base64" in e for e in errors)
    assert any("clear: unknown fields ['reason']" in e for e in errors)
    assert any("mark must be" in e for e in errors)
    assert any("unknown event 'flush'" in e for e in errors)
    assert any("not JSON" in e for e in errors)
    assert fake.received_media_frames == 1  # only the valid frame counted and played
    assert fake.clears == 0


async def test_record_arrivals_and_audio(service: Service) -> None:
    config = CallerConfig(record_arrivals=True, record_audio=True, call_sid="CA" + "7" * 32)
    async with FakeTwilioCaller(service.base_url, TOKEN, config) as fake:
        await fake.call()
        assert fake.call_sid == "CA" + "7" * 32
        peer = await service.peer(fake.call_sid)
        await peer.send_audio(tone_ulaw(20))
        await peer.send_audio(tone_ulaw(40))
        at = await fake.wait_for_audio(60)
        assert at == pytest.approx(fake.media_arrivals[1][0] - (fake.start_sent_at or 0))
        assert [size for _, size in fake.media_arrivals] == [160, 320]
        assert bytes(fake.received_audio) == tone_ulaw(20) + tone_ulaw(40)
        # already reached: the time of the frame that crossed it
        assert await fake.wait_for_audio(30) == pytest.approx(at)
    assert fake.protocol_errors == []


def test_parse_twiml_rejects_what_twilio_cannot_run() -> None:
    with pytest.raises(CallerError):
        parse_twiml("<Hangup/>")
    with pytest.raises(CallerError):
        parse_twiml("<Response><Say>")
    twiml = parse_twiml("<Response><Say>Hi</Say><Hangup/></Response>")
    assert (twiml.verbs, twiml.stream_url, twiml.parameters) == (("Say", "Hangup"), None, {})
