"""The fake Twilio caller's playback: marks come back when their audio has played; clear.

The peer is a tiny Twilio-facing service (tests/test_doubles/twilio_service.py).
"""

from __future__ import annotations

import asyncio
import time

from app.lib.audio import tone_ulaw
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.test_doubles.twilio_service import Service


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
