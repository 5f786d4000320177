"""Tests for tests/doubles/realtime/, with the official `openai` client as the peer.

The fake runs with self_check=True here: every event it emits is validated against the SDK's
server event types, so any shape it invents shows up in `server.violations`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    InputAudioBufferSpeechStartedEvent,
    RealtimeErrorEvent,
    RealtimeServerEvent,
    ResponseAudioDeltaEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from app.lib.audio import silence_ulaw, tone_ulaw, ulaw_rms
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply, Reply
from tests.doubles.realtime.server import FakeRealtimeServer

MODEL = "gpt-realtime"

# The GA session the receptionist sends (docs PROTOCOLS.md section 1).
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": MODEL,
    "instructions": "You are the receptionist of a hair salon.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "create_response": True,
                "interrupt_response": True,
            },
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
    "tools": [
        {
            "type": "function",
            "name": "book_appointment",
            "description": "Book an appointment.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        }
    ],
    "tool_choice": "auto",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@asynccontextmanager
async def fake(
    config: FakeRealtimeConfig | None = None, **kwargs: Any
) -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer(
        config or FakeRealtimeConfig(pace=0), self_check=True, **kwargs
    ) as server:
        yield server


@asynccontextmanager
async def sdk(
    server: FakeRealtimeServer, *, update: bool = True
) -> AsyncIterator[AsyncRealtimeConnection]:
    """An official-client connection; with `update`, session.created/updated are consumed."""
    client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.base_url)
    async with client.realtime.connect(model=MODEL) as conn:
        if update:
            assert (await recv(conn)).type == "session.created"
            await conn.session.update(session=SESSION)  # type: ignore[arg-type]
            assert (await recv(conn)).type == "session.updated"
        yield conn


async def recv(conn: AsyncRealtimeConnection, limit: float = 5.0) -> RealtimeServerEvent:
    return await asyncio.wait_for(conn.recv(), limit)


async def until(conn: AsyncRealtimeConnection, event_type: str, limit: float = 5.0) -> list[Any]:
    """Every event (SDK-typed) up to and including the first of `event_type`."""
    events: list[Any] = []
    async with asyncio.timeout(limit):
        while True:
            event = await conn.recv()
            events.append(event)
            if event.type == event_type:
                return events


def of_type(events: list[Any], event_type: str) -> list[Any]:
    return [event for event in events if event.type == event_type]


@asynccontextmanager
async def raw(
    server: FakeRealtimeServer,
    headers: dict[str, str] | None = None,
    query: str = f"?model={MODEL}",
) -> AsyncIterator[ClientConnection]:
    auth = {"Authorization": "Bearer sk-test"} if headers is None else headers
    async with connect(server.url + query, additional_headers=auth, compression=None) as ws:
        yield ws


async def raw_until(ws: ClientConnection, event_type: str, limit: float = 5.0) -> list[Any]:
    events: list[Any] = []
    async with asyncio.timeout(limit):
        while True:
            event = orjson.loads(await ws.recv())
            events.append(event)
            if event["type"] == event_type:
                return events


async def speak(conn: AsyncRealtimeConnection, speech_ms: int, silence_ms: int) -> None:
    """Caller audio as Twilio sends it: 20 ms mu-law frames."""
    for _ in range(speech_ms // 20):
        await conn.input_audio_buffer.append(audio=b64(tone_ulaw(20)))
    for _ in range(silence_ms // 20):
        await conn.input_audio_buffer.append(audio=b64(silence_ulaw(20)))


# ------------------------------------------------------------------------- session


async def test_session_created_and_updated_parse_as_sdk_types_and_echo_the_merged_config() -> None:
    async with fake() as server, sdk(server, update=False) as conn:
        created = await recv(conn)
        assert isinstance(created, SessionCreatedEvent)
        assert created.session.type == "realtime"
        await conn.session.update(session=SESSION)  # type: ignore[arg-type]
        updated = await recv(conn)
        assert isinstance(updated, SessionUpdatedEvent)
        session = updated.session
        assert session.type == "realtime"
        assert session.audio is not None and session.audio.input is not None
        assert session.audio.output is not None
        # pcm -> pcmu replaces the format object (a merged "rate" would fail self_check).
        assert session.audio.input.format is not None
        assert session.audio.input.format.type == "audio/pcmu"
        assert session.audio.output.voice == "marin"
        assert session.instructions == SESSION["instructions"]
        fake_session = (await server.wait_for_sessions(1))[0]
        assert fake_session.session_config == SESSION
        assert fake_session.model == MODEL
        assert fake_session.headers["authorization"] == "Bearer sk-test"
        assert not fake_session.offered_compression
    assert server.violations == []


async def test_session_update_changing_the_model_is_rejected() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.session.update(session={"type": "realtime", "model": "gpt-realtime-mini"})
        error = await recv(conn)
        assert isinstance(error, RealtimeErrorEvent)
    assert any("model" in v for v in server.violations)


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


# ------------------------------------------------------------------------- caller audio


async def test_caller_speech_then_silence_yields_vad_events_transcript_and_a_reply() -> None:
    config = FakeRealtimeConfig(
        pace=0,
        vad_prefix_padding_ms=100,
        caller_transcripts=["I need a haircut"],
        replies=[AudioReply("Sure, what day works for you?")],
    )
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.done")  # the greeting
        for _ in range(10):  # 200 ms of silence before the caller speaks
            await conn.input_audio_buffer.append(audio=b64(silence_ulaw(20)))
        await speak(conn, speech_ms=200, silence_ms=420)
        events = await until(conn, "response.done")
    started = of_type(events, "input_audio_buffer.speech_started")[0]
    assert isinstance(started, InputAudioBufferSpeechStartedEvent)
    assert started.audio_start_ms == 200 - 100  # onset minus prefix padding
    stopped = of_type(events, "input_audio_buffer.speech_stopped")[0]
    assert stopped.audio_end_ms == 200 + 200 + 400
    assert stopped.item_id == started.item_id
    committed = of_type(events, "input_audio_buffer.committed")[0]
    assert committed.item_id == started.item_id
    assert committed.previous_item_id is not None  # the greeting's item
    transcription = of_type(events, "conversation.item.input_audio_transcription.completed")[0]
    assert isinstance(transcription, ConversationItemInputAudioTranscriptionCompletedEvent)
    assert transcription.transcript == "I need a haircut"
    assert transcription.item_id == started.item_id
    reply = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
    assert reply == "Sure, what day works for you?"
    session = server.sessions[0]
    assert session.appended_ms == 200 + 200 + 420
    assert session.types_received() == ["session.update", "response.create"]
    assert session.count("input_audio_buffer.append") == 41
    assert server.violations == []


async def test_quiet_audio_and_short_blips_do_not_trigger_speech() -> None:
    config = FakeRealtimeConfig(pace=0, vad_min_speech_ms=60)
    async with fake(config) as server, sdk(server) as conn:
        for _ in range(20):  # quiet hum well under the threshold
            await conn.input_audio_buffer.append(audio=b64(tone_ulaw(20, amplitude=0.005)))
        await speak(conn, speech_ms=40, silence_ms=500)  # a 40 ms click
        await conn.response.create()
        events = await until(conn, "response.done")
    assert of_type(events, "input_audio_buffer.speech_started") == []
    assert server.violations == []


async def test_transcription_is_sent_only_when_the_session_enables_it() -> None:
    session = {**SESSION, "audio": {"input": {"transcription": None}}}
    async with fake() as server, sdk(server) as conn:
        await conn.session.update(session=session)  # type: ignore[arg-type]
        await until(conn, "session.updated")
        await speak(conn, speech_ms=100, silence_ms=400)
        events = await until(conn, "response.done")
    assert of_type(events, "input_audio_buffer.committed")
    assert of_type(events, "conversation.item.input_audio_transcription.completed") == []
    assert server.violations == []


async def test_transcription_delay_sends_the_transcript_after_the_reply_starts() -> None:
    config = FakeRealtimeConfig(pace=0, transcription_delay_ms=150)
    async with fake(config) as server, sdk(server) as conn:
        await speak(conn, speech_ms=100, silence_ms=400)
        events = await until(conn, "conversation.item.input_audio_transcription.completed")
    types = [event.type for event in events]
    assert types.index("response.created") < types.index(
        "conversation.item.input_audio_transcription.completed"
    )
    assert server.violations == []


async def test_turn_detection_null_disables_vad_and_a_manual_commit_needs_response_create() -> None:
    session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    async with fake() as server, sdk(server) as conn:
        await conn.session.update(session=session)  # type: ignore[arg-type]
        await until(conn, "session.updated")
        await speak(conn, speech_ms=200, silence_ms=600)
        await conn.input_audio_buffer.commit()
        events = await until(conn, "conversation.item.input_audio_transcription.completed")
        assert of_type(events, "input_audio_buffer.speech_started") == []
        assert of_type(events, "input_audio_buffer.committed")
        await conn.response.create()
        events = await until(conn, "response.done")
        assert of_type(events, "response.created")
    assert server.sessions[0].responses_started == 1  # the commit did not start one
    assert server.violations == []


async def test_committing_an_empty_buffer_is_an_error_and_a_violation() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.input_audio_buffer.commit()
        events = await until(conn, "error")
        assert events[-1].error.code == "input_audio_buffer_commit_empty"
    assert server.violations


async def test_invalid_base64_audio_is_an_error_and_a_violation() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.input_audio_buffer.append(audio="not base64!!")
        events = await until(conn, "error")
        assert events[-1].error.param == "audio"
    assert any("base64" in v for v in server.violations)


# ------------------------------------------------------------------------- functions


async def _greet(conn: AsyncRealtimeConnection) -> None:
    await conn.response.create()
    await until(conn, "response.done")


async def test_function_call_reply_emits_arguments_done_and_a_completed_item() -> None:
    call = FunctionCallReply("book_appointment", {"day": "tuesday"}, preamble="One moment.")
    async with fake(FakeRealtimeConfig(pace=0, replies=[call])) as server, sdk(server) as conn:
        await _greet(conn)
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


async def test_function_call_output_then_response_create_leads_to_the_next_reply() -> None:
    replies: list[Reply] = [
        FunctionCallReply("book_appointment", '{"day": "tues', call_id="call_abc"),
        AudioReply("You're booked for Tuesday."),
    ]
    async with fake(FakeRealtimeConfig(pace=0, replies=replies)) as server, sdk(server) as conn:
        await _greet(conn)
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


# ------------------------------------------------------------------------- validation


async def test_invalid_client_events_are_recorded_and_answered_with_an_error() -> None:
    async with fake() as server, raw(server) as ws:
        await raw_until(ws, "session.created")
        beta = {
            "type": "session.update",
            "session": {"modalities": ["audio", "text"], "input_audio_format": "g711_ulaw"},
        }
        await ws.send(orjson.dumps(beta).decode())
        error = (await raw_until(ws, "error"))[-1]
        assert error["error"]["type"] == "invalid_request_error"
        extra = {
            "type": "response.create",
            "event_id": "evt_1",
            "response": {"instructions": "x", "modalities": ["audio"]},
        }
        await ws.send(orjson.dumps(extra).decode())
        error = (await raw_until(ws, "error"))[-1]
        assert error["error"]["code"] == "unknown_parameter"
        assert error["error"]["event_id"] == "evt_1"
        await ws.send('{"type": "response.audio.delta", "delta": ""}')
        await raw_until(ws, "error")
        await ws.send("{not json")
        await raw_until(ws, "error")
        session = server.sessions[0]
        assert session.responses_started == 0  # rejected events are not acted on
    assert any("session.update" in v for v in server.violations)
    assert any("response.modalities: unknown key" in v for v in server.violations)
    assert any("response.audio.delta" in v for v in server.violations)
    assert any("invalid JSON" in v for v in server.violations)
    assert all(v.startswith("[session 0] ") for v in server.violations)


async def test_validate_false_skips_schema_checks_but_still_records_unknown_types() -> None:
    server = FakeRealtimeServer(FakeRealtimeConfig(pace=0), validate=False)
    async with server, raw(server) as ws:
        await raw_until(ws, "session.created")
        await ws.send('{"type": "input_audio_buffer.append", "audio": "", "extra": 1}')
        await ws.send('{"type": "response.create", "response": {"modalities": ["audio"]}}')
        await raw_until(ws, "response.done")
        await ws.send('{"type": "nonsense"}')
        await raw_until(ws, "error")
    assert len(server.violations) == 1
    assert "nonsense" in server.violations[0]


async def test_self_check_flags_an_invalid_event_the_fake_is_told_to_emit() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await session.send_event({"type": "response.audio.delta", "delta": ""})  # beta name
        await recv(conn)
    assert any("fake emitted an invalid server event" in v for v in server.violations)


# ------------------------------------------------------------------------- handshake, faults


async def test_missing_auth_and_a_beta_header_are_handshake_violations() -> None:
    async with fake() as server, raw(server, headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        await raw_until(ws, "session.created")
    assert len(server.violations) == 2
    assert any("Authorization" in v for v in server.violations)
    assert any("OpenAI-Beta" in v for v in server.violations)


async def test_missing_model_query_parameter_is_a_violation() -> None:
    async with fake() as server, raw(server, query="") as ws:
        await raw_until(ws, "session.created")
    assert server.sessions[0].model is None
    assert any("model" in v for v in server.violations)


async def test_wrong_path_is_refused_with_404_and_recorded() -> None:
    async with fake() as server:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{server.port}/v1/realtimes?model={MODEL}"):
                pass
        assert refused.value.response.status_code == 404
    assert server.sessions == []
    assert any("wrong path" in v for v in server.violations)


async def test_connect_delay_delays_the_handshake() -> None:
    async with fake(FakeRealtimeConfig(connect_delay_ms=200)) as server:
        started = time.monotonic()
        async with raw(server):
            assert time.monotonic() - started >= 0.18
    assert server.violations == []


async def test_error_on_connect_is_sent_right_after_session_created() -> None:
    error = {"type": "invalid_request_error", "code": "session_expired", "message": "expired"}
    config = FakeRealtimeConfig(error_on_connect=error)
    async with fake(config) as server, sdk(server, update=False) as conn:
        assert (await recv(conn)).type == "session.created"
        event = await recv(conn)
        assert isinstance(event, RealtimeErrorEvent)
        assert event.error.code == "session_expired"
    assert server.violations == []


async def test_session_max_ms_expires_the_session_with_the_real_apis_error_then_closes() -> None:
    config = FakeRealtimeConfig(pace=0, session_max_ms=100)
    async with fake(config) as server, raw(server) as ws:
        events = await raw_until(ws, "error")
        assert events[-1]["error"]["code"] == "session_expired"
        await asyncio.wait_for(ws.wait_closed(), 2)
        session = server.sessions[0]
        await session.wait_closed()
        assert not session.closed_by_client
    assert server.violations == []


async def test_rate_limits_can_be_switched_off() -> None:
    config = FakeRealtimeConfig(pace=0, rate_limits_events=False)
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        events = await until(conn, "response.done")
    assert of_type(events, "rate_limits.updated") == []
    assert "rate_limits.updated" not in server.sessions[0].sent_types


async def test_kill_drops_the_clients_socket_without_a_close_frame() -> None:
    async with fake() as server, raw(server) as ws:
        await raw_until(ws, "session.created")
        session = (await server.wait_for_sessions(1))[0]
        await session.kill()
        with pytest.raises(ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 2)
        assert closed.value.rcvd is None  # abrupt: no close frame
        assert session.closed.is_set()
        assert not session.closed_by_client
        assert server.open_sessions() == []


async def test_client_close_is_recorded_as_closed_by_client() -> None:
    async with fake() as server:
        async with sdk(server):
            session = (await server.wait_for_sessions(1))[0]
        await session.wait_closed()
        assert session.closed_by_client
    assert server.violations == []


async def test_server_close_and_stop_close_the_open_sessions() -> None:
    async with fake() as server, raw(server) as ws1, raw(server) as ws2:
        first, second = await server.wait_for_sessions(2)
        await first.close(1001)
        await first.wait_closed()
        await asyncio.wait_for(ws1.wait_closed(), 2)
        assert ws1.close_code == 1001
        assert not first.closed_by_client
        await server.stop()
        assert second.closed.is_set() and not second.closed_by_client
        await asyncio.wait_for(ws2.wait_closed(), 2)
        assert ws2.close_code == 1001  # going away


async def test_stop_cancels_a_response_in_flight_without_leaking_tasks() -> None:
    config = FakeRealtimeConfig(pace=1.0, greeting=AudioReply("Long", 10_000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        before = len(asyncio.all_tasks())
        await server.stop()
        assert server.sessions[0].closed.is_set()
        assert len(asyncio.all_tasks()) < before  # the response task is gone


async def test_send_event_and_speak_reply_inject_server_behaviour() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await session.send_event(
            {"type": "error", "error": {"type": "server_error", "message": "boom"}}
        )
        assert isinstance(await recv(conn), RealtimeErrorEvent)
        await session.speak_reply(AudioReply("Are you still there?"))
        with pytest.raises(RuntimeError):
            await session.speak_reply(AudioReply("again"))
        events = await until(conn, "response.done")
        text = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
        assert text == "Are you still there?"
        await _greet(conn)  # the greeting was not consumed by speak_reply
    assert server.violations == []


async def test_wait_for_returns_the_last_event_and_times_out_with_what_arrived() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await conn.response.create(response={"instructions": "one"})
        await until(conn, "response.done")
        await conn.response.create(response={"instructions": "two"})
        last = await session.wait_for("response.create", count=2)
        assert last["response"]["instructions"] == "two"
        with pytest.raises(TimeoutError, match=r"response\.cancel"):
            await session.wait_for("response.cancel", timeout=0.1)
        # Leave nothing unread: websockets stops reading a full queue, and then a client
        # close waits close_timeout for the server's close frame stuck behind the data.
        await until(conn, "response.done")
    assert server.violations == []


async def test_concurrent_sessions_are_independent() -> None:
    async with fake() as server:

        async def call() -> list[str]:
            async with sdk(server) as conn:
                await conn.response.create()
                events = await until(conn, "response.done")
                return [e.response.id for e in events if e.type == "response.done"]

        results = await asyncio.gather(*(call() for _ in range(5)))
    assert results == [["resp_1"]] * 5
    assert len(server.sessions) == 5
    assert server.violations == []
