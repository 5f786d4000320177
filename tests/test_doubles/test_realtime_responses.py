"""The fake Realtime API's responses: paced audio, replies, function calls.

The official `openai` client is the peer (tests/test_doubles/realtime_peers.py).
"""

from __future__ import annotations

import base64
import time

import orjson
from openai.types.realtime import (
    ResponseAudioDeltaEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
)

from app.lib.audio import ulaw_rms
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply, Reply
from tests.test_doubles.realtime_peers import fake, greet, of_type, sdk, until

# ------------------------------------------------------------------------- responses


async def test_response_create_streams_the_greeting_audio_of_the_configured_length() -> None:
    config = FakeRealtimeConfig(pace=0, chunk_ms=100, greeting=AudioReply("Hello there!", 1050))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        events = await until(conn, "response.done")
    types = [event.type for event in events]
    assert types[:5] == [
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    assert types[-7:] == [
        "response.output_audio_transcript.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    deltas = of_type(events, "response.output_audio.delta")
    assert all(isinstance(delta, ResponseAudioDeltaEvent) for delta in deltas)
    audio = b"".join(base64.b64decode(delta.delta) for delta in deltas)
    assert len(audio) == 1050 * 8
    assert [len(base64.b64decode(d.delta)) for d in deltas] == [800] * 10 + [400]
    assert ulaw_rms(audio) > 2000  # a tone, not silence
    transcript = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
    assert transcript == "Hello there!"
    assert of_type(events, "response.output_audio_transcript.done")[0].transcript == transcript
    done = events[-1]
    assert isinstance(done, ResponseDoneEvent)
    assert done.response.status == "completed"
    assert done.response.output is not None
    item = done.response.output[0]
    assert item.type == "message" and item.status == "completed"
    usage = done.response.usage
    assert usage is not None and usage.output_token_details is not None
    assert usage.output_token_details.audio_tokens == 1050 // 50
    assert usage.total_tokens == (usage.input_tokens or 0) + (usage.output_tokens or 0)
    item_id = deltas[0].item_id
    assert server.sessions[0].sent_audio_ms_by_item == {item_id: 1050}
    assert server.violations == []


async def test_audio_reply_defaults_to_60_ms_per_character_with_a_400_ms_minimum() -> None:
    assert AudioReply("Hi").duration_ms() == 400
    assert AudioReply("x" * 20).duration_ms() == 1200
    assert AudioReply("x", audio_ms=90).duration_ms() == 90


async def test_pace_one_spreads_deltas_over_real_time_and_pace_zero_sends_at_once() -> None:
    config = FakeRealtimeConfig(pace=1.0, chunk_ms=100, greeting=AudioReply("One", 500))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        started = time.monotonic()
        await until(conn, "response.done")
        paced = time.monotonic() - started
        server.config.pace = 0
        server.config.replies.append(AudioReply("Two", 5000))
        await conn.response.create()
        started = time.monotonic()
        await until(conn, "response.done")
        unpaced = time.monotonic() - started
    assert 0.35 <= paced < 1.5  # four more chunks at 100 ms each
    assert unpaced < 0.5  # 5 s of audio
    assert server.violations == []


async def test_first_audio_delay_holds_back_the_first_delta() -> None:
    config = FakeRealtimeConfig(pace=0, first_audio_delay_ms=200)
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.created")
        started = time.monotonic()
        await until(conn, "response.output_audio.delta")
        assert time.monotonic() - started >= 0.18
    assert server.violations == []


async def test_default_output_format_pcm_gets_24khz_pcm16_audio() -> None:
    config = FakeRealtimeConfig(pace=0, greeting=AudioReply("Hi", 100))
    async with fake(config) as server, sdk(server, update=False) as conn:
        await until(conn, "session.created")
        await conn.response.create()
        events = await until(conn, "response.done")
    deltas = of_type(events, "response.output_audio.delta")
    assert sum(len(base64.b64decode(d.delta)) for d in deltas) == 100 * 48  # 24 kHz x 2 bytes
    assert server.violations == []


async def test_response_create_while_one_is_active_gets_the_real_apis_error() -> None:
    config = FakeRealtimeConfig(pace=1.0, greeting=AudioReply("A long greeting", 3000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        await conn.response.create()
        events = await until(conn, "error")
        assert events[-1].error.code == "conversation_already_has_active_response"
        assert server.sessions[0].errors[-1]["code"] == "conversation_already_has_active_response"
    assert server.violations == []


async def test_response_create_records_its_instructions() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.response.create(response={"instructions": "Say goodbye."})
        await until(conn, "response.done")
        await conn.response.create()
        await until(conn, "response.done")
    assert server.sessions[0].response_instructions == ["Say goodbye.", None]
    assert server.violations == []


# ------------------------------------------------------------------------- functions


async def test_function_call_reply_emits_arguments_done_and_a_completed_item() -> None:
    call = FunctionCallReply("book_appointment", {"day": "tuesday"}, preamble="One moment.")
    async with fake(FakeRealtimeConfig(pace=0, replies=[call])) as server, sdk(server) as conn:
        await greet(conn)
        await conn.response.create()
        events = await until(conn, "response.done")
    arguments_done = of_type(events, "response.function_call_arguments.done")[0]
    assert isinstance(arguments_done, ResponseFunctionCallArgumentsDoneEvent)
    assert arguments_done.name == "book_appointment"
    assert arguments_done.call_id == "call_1"
    assert orjson.loads(arguments_done.arguments) == {"day": "tuesday"}
    deltas = of_type(events, "response.function_call_arguments.delta")
    assert "".join(d.delta for d in deltas) == arguments_done.arguments
    item_done = of_type(events, "response.output_item.done")[-1]
    assert item_done.item.type == "function_call"
    assert item_done.item.status == "completed"
    assert item_done.item.arguments == arguments_done.arguments
    preamble = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
    assert preamble == "One moment."
    output = events[-1].response.output
    assert [item.type for item in output] == ["message", "function_call"]
    assert server.violations == []


async def test_a_preamble_and_its_answer_are_two_items_of_one_response() -> None:
    """Like the 2.x models: a short preamble, then the answer, each its own assistant item."""
    reply = AudioReply("We open at nine.", 600, preamble="Let me look.")
    config = FakeRealtimeConfig(pace=0, replies=[reply])
    async with fake(config) as server, sdk(server) as conn:
        await greet(conn)
        await conn.response.create()
        events = await until(conn, "response.done")
    audio_done = of_type(events, "response.output_audio.done")
    transcripts = of_type(events, "response.output_audio_transcript.done")
    assert [t.transcript for t in transcripts] == ["Let me look.", "We open at nine."]
    assert len({d.item_id for d in audio_done}) == 2
    output = events[-1].response.output
    assert [item.type for item in output] == ["message", "message"]
    assert server.violations == []


async def test_parallel_function_calls_are_items_of_one_response() -> None:
    call = FunctionCallReply(
        "lookup_hours", {}, preamble="One moment.", parallel=(FunctionCallReply("check", {}),)
    )
    async with fake(FakeRealtimeConfig(pace=0, replies=[call])) as server, sdk(server) as conn:
        await greet(conn)
        await conn.response.create()
        events = await until(conn, "response.done")
    done = of_type(events, "response.function_call_arguments.done")
    assert [(d.name, d.call_id) for d in done] == [("lookup_hours", "call_1"), ("check", "call_2")]
    output = events[-1].response.output
    assert [item.type for item in output] == ["message", "function_call", "function_call"]
    assert server.violations == []


async def test_function_call_output_then_response_create_leads_to_the_next_reply() -> None:
    replies: list[Reply] = [
        FunctionCallReply("book_appointment", '{"day": "tues', call_id="call_abc"),
        AudioReply("You're booked for Tuesday."),
    ]
    async with fake(FakeRealtimeConfig(pace=0, replies=replies)) as server, sdk(server) as conn:
        await greet(conn)
        await conn.response.create()
        events = await until(conn, "response.function_call_arguments.done")
        assert events[-1].arguments == '{"day": "tues'  # broken JSON passes through as given
        await until(conn, "response.done")
        output = {"type": "function_call_output", "call_id": "call_abc", "output": '{"ok":true}'}
        await conn.conversation.item.create(item=output)  # type: ignore[arg-type]
        added = await until(conn, "conversation.item.done")
        assert added[0].type == "conversation.item.added"
        assert added[-1].item.id  # the server gave it an id
        await conn.response.create()
        events = await until(conn, "response.done")
    reply = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
    assert reply == "You're booked for Tuesday."
    assert server.sessions[0].function_outputs == [output]
    assert server.violations == []


async def test_function_call_output_for_an_unknown_call_id_is_a_violation() -> None:
    async with fake() as server, sdk(server) as conn:
        item = {"type": "function_call_output", "call_id": "call_nope", "output": "{}"}
        await conn.conversation.item.create(item=item)  # type: ignore[arg-type]
        await until(conn, "conversation.item.done")
    assert any("call_nope" in v for v in server.violations)


async def test_a_refused_model_fails_each_response_with_model_not_found() -> None:
    config = FakeRealtimeConfig(pace=0, refused_models=("gpt-realtime",))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        events = await until(conn, "response.done")
    done = events[-1]
    assert isinstance(done, ResponseDoneEvent) and done.response.status == "failed"
    assert done.response.status_details is not None
    assert done.response.status_details.error is not None
    assert done.response.status_details.error.code == "model_not_found"
    assert not of_type(events, "response.output_audio.delta")
    assert server.violations == []
