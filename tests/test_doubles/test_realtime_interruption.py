"""The fake Realtime API under interruption: cancels, server-side barge-in, truncation.

The official `openai` client is the peer (tests/test_doubles/realtime_peers.py).
"""

from __future__ import annotations

import pytest

from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.test_doubles.realtime_peers import fake, of_type, recv, sdk, speak, until

# ------------------------------------------------------------------------- interruption


async def test_response_cancel_mid_response_stops_deltas_and_reports_cancelled() -> None:
    config = FakeRealtimeConfig(pace=1.0, chunk_ms=100, greeting=AudioReply("A" * 50, 3000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        first = await until(conn, "response.output_audio.delta")
        item_id = first[-1].item_id
        await conn.response.cancel()
        events = await until(conn, "response.done")
        done = events[-1]
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        item_done = of_type(events, "response.output_item.done")[0]
        assert item_done.item.status == "incomplete"
        with pytest.raises(TimeoutError):
            await recv(conn, limit=0.3)  # nothing more: no late deltas
    session = server.sessions[0]
    assert session.cancels == 1
    assert 0 < session.sent_audio_ms_by_item[item_id] < 1000
    assert server.violations == []


async def test_caller_speech_during_a_response_makes_the_server_cancel_it() -> None:
    config = FakeRealtimeConfig(pace=1.0, greeting=AudioReply("A" * 50, 5000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        await speak(conn, speech_ms=100, silence_ms=0)
        events = await until(conn, "response.done")
        assert of_type(events, "input_audio_buffer.speech_started")
        assert events[-1].response.status == "cancelled"
        assert events[-1].response.status_details.reason == "turn_detected"
        # The response is over: a client cancel now is the real API's "not active" error.
        await conn.response.cancel()
        errors = await until(conn, "error")
        assert errors[-1].error.code == "response_cancel_not_active"
    assert server.sessions[0].cancels == 0
    assert len(server.violations) == 1
    assert "no active response" in server.violations[0]


async def test_server_interrupts_false_lets_the_response_finish() -> None:
    config = FakeRealtimeConfig(
        pace=1.0, chunk_ms=50, server_interrupts=False, greeting=AudioReply("Hi", 400)
    )
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        await speak(conn, speech_ms=100, silence_ms=0)
        events = await until(conn, "response.done")
        assert events[-1].response.status == "completed"
    assert server.violations == []


async def test_response_cancel_with_nothing_active_is_an_error_and_a_violation() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.response.cancel()
        events = await until(conn, "error")
        assert events[-1].error.code == "response_cancel_not_active"
    assert server.sessions[0].cancels == 0
    assert any("no active response" in v for v in server.violations)


async def test_truncate_within_sent_audio_is_acknowledged_and_beyond_it_is_a_violation() -> None:
    config = FakeRealtimeConfig(pace=0, greeting=AudioReply("Hello", 1000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        events = await until(conn, "response.done")
        item_id = of_type(events, "response.output_audio.delta")[0].item_id
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=500)
        truncated = (await until(conn, "conversation.item.truncated"))[-1]
        assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 500)
        assert server.violations == []
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=5000)
        error = (await until(conn, "error"))[-1]
        assert error.error.code == "invalid_value"
        assert "1000ms is already shorter than 5000ms" in error.error.message
    session = server.sessions[0]
    assert len(session.truncates) == 2
    assert session.truncated_ms_by_item == {item_id: 500}
    assert len(server.violations) == 1


async def test_truncating_an_unknown_item_is_a_violation() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.conversation.item.truncate(item_id="item_x", content_index=0, audio_end_ms=0)
        await until(conn, "error")
    assert any("item_x" in v for v in server.violations)
