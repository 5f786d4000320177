"""The fake Realtime API's input audio: the VAD, commits, transcription.

The official `openai` client is the peer (tests/test_doubles/realtime_peers.py).
"""

from __future__ import annotations

from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    InputAudioBufferSpeechStartedEvent,
)

from app.lib.audio import silence_ulaw, tone_ulaw
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.test_doubles.realtime_peers import SESSION, b64, fake, of_type, sdk, speak, until

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
