"""The fake Twilio caller's Media Stream: signed upgrade, paced media, DTMF, hang-up, checks.

The peer is a tiny Twilio-facing service (tests/test_doubles/twilio_service.py).
"""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from websockets.exceptions import InvalidStatus

from app.lib.audio import silence_ulaw, tone_ulaw, ulaw_rms
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.errors import StreamClosedError
from tests.test_doubles.twilio_service import TOKEN, Service


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
