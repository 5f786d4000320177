"""OpenAI Realtime GA codec: server events parsed, client events valid per the openai package."""

from __future__ import annotations

import base64

import orjson
import pytest

from app.call import events as E
from app.config import load_settings
from app.realtime.session import session_config
from app.wire import realtime as rt
from tests.doubles.realtime.validation import validate_client_event


@pytest.mark.parametrize("n", [0, 1, 2, 3, 159, 160, 161])
def test_b64_decoded_len_matches_real_decoding(n: int) -> None:
    payload = base64.b64encode(bytes(range(256))[:n] if n <= 256 else b"").decode()
    assert rt.b64_decoded_len(payload) == n


def ev(**fields: object) -> bytes:
    return orjson.dumps(fields)


def test_audio_delta_and_transcripts() -> None:
    delta = base64.b64encode(b"\xff" * 160).decode()
    a = rt.parse_server_event(
        ev(
            type="response.output_audio.delta",
            event_id="e",
            response_id="r",
            item_id="i",
            output_index=0,
            content_index=0,
            delta=delta,
        ),
        3,
    )
    assert a == E.AgentAudio(3, "r", "i", delta, 160)
    t = rt.parse_server_event(
        ev(
            type="response.output_audio_transcript.done",
            event_id="e",
            response_id="r",
            item_id="i",
            output_index=0,
            content_index=0,
            transcript="Hello",
        ),
        4,
    )
    assert t == E.AgentTranscriptDone(4, "r", "i", "Hello")


def test_vad_and_caller_transcription() -> None:
    assert rt.parse_server_event(
        ev(type="input_audio_buffer.speech_started", event_id="e", audio_start_ms=1, item_id="c"), 1
    ) == E.SpeechStarted(1, "c")
    assert rt.parse_server_event(
        ev(type="input_audio_buffer.speech_stopped", event_id="e", audio_end_ms=2, item_id="c"), 2
    ) == E.SpeechStopped(2, "c")
    assert rt.parse_server_event(
        ev(
            type="conversation.item.input_audio_transcription.completed",
            event_id="e",
            item_id="c",
            content_index=0,
            transcript="hi",
        ),
        3,
    ) == E.CallerTranscript(3, "c", "hi")


def test_function_call_only_when_its_item_is_complete() -> None:
    item = {
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "lookup_hours",
        "arguments": "{}",
        "id": "i",
    }
    done = ev(
        type="response.output_item.done", event_id="e", response_id="r", output_index=0, item=item
    )
    assert rt.parse_server_event(done, 5) == E.FunctionCallRequested(
        5, "r", "call_1", "lookup_hours", "{}"
    )
    cut = ev(
        type="response.output_item.done",
        event_id="e",
        response_id="r",
        output_index=0,
        item={**item, "status": "incomplete", "arguments": '{"da'},
    )
    assert rt.parse_server_event(cut, 5) is None


def test_response_done_usage_and_errors() -> None:
    usage = {
        "total_tokens": 50,
        "input_tokens": 30,
        "output_tokens": 20,
        "input_token_details": {"audio_tokens": 20, "text_tokens": 10, "cached_tokens": 4},
        "output_token_details": {"audio_tokens": 15, "text_tokens": 5},
    }
    done = rt.parse_server_event(
        ev(
            type="response.done",
            event_id="e",
            response={"id": "r", "status": "completed", "output": [], "usage": usage},
        ),
        9,
    )
    assert done == E.ResponseDone(9, "r", "completed", E.Usage(30, 20, 20, 15, 4))
    err = rt.parse_server_event(
        ev(
            type="error",
            event_id="e",
            error={"type": "invalid_request_error", "code": "bad", "message": "nope"},
        ),
        1,
    )
    assert err == E.ModelError(1, "bad", "nope")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"type":"response.output_audio.delta"}',
        b'{"type":"rate_limits.updated"}',
    ],
)
def test_malformed_or_uninteresting_server_events_give_none(raw: bytes) -> None:
    assert rt.parse_server_event(raw, 0) is None


def test_every_client_event_we_send_validates_against_the_openai_types() -> None:
    settings = load_settings(_env_file=None)
    tool = {
        "type": "function",
        "name": "lookup_hours",
        "description": "Hours.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
    sent = [
        rt.session_update(session_config(settings, "Be nice.", [tool])),
        rt.append_audio("//79"),
        rt.response_create(),
        rt.response_cancel(),
        rt.truncate("item_1", 1234),
        rt.function_output("call_1", '{"ok":true}'),
        rt.message("system", "Wrap up."),
        rt.message("user", "Hi"),
        rt.message("assistant", "Hello!"),
    ]
    for message in sent:
        assert validate_client_event(message) == [], message


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("gpt-realtime-2.1", True),
        ("gpt-realtime-2.1-mini", True),
        ("gpt-realtime-2", True),
        ("gpt-realtime-1.5", False),
        ("gpt-realtime", False),
        ("gpt-realtime-mini", False),
    ],
)
def test_session_sends_reasoning_effort_to_reasoning_models_only(
    model: str, reasoning: bool
) -> None:
    settings = load_settings(
        _env_file=None,
        openai_realtime_model=model,
        openai_reasoning_effort="medium",
        openai_truncation_retention_ratio=0.7,
    )
    session = session_config(settings, "Be nice.", [])
    assert session["model"] == model
    assert ("reasoning" in session) is reasoning
    if reasoning:
        assert session["reasoning"] == {"effort": "medium"}
    assert session["truncation"] == {"type": "retention_ratio", "retention_ratio": 0.7}
    assert validate_client_event(rt.session_update(session)) == []


def test_session_model_can_differ_from_the_setting() -> None:
    """The ladder's big rung: same instructions and tools, its own model."""
    settings = load_settings(_env_file=None, openai_realtime_model="gpt-realtime-1.5")
    session = session_config(settings, "Be nice.", [], model="gpt-realtime-2.1")
    assert session["model"] == "gpt-realtime-2.1" and session["reasoning"] == {"effort": "low"}


def test_usage_splits_cached_audio_from_cached_text() -> None:
    usage = {
        "total_tokens": 1000,
        "input_tokens": 900,
        "output_tokens": 100,
        "input_token_details": {
            "audio_tokens": 300,
            "text_tokens": 600,
            "cached_tokens": 500,
            "cached_tokens_details": {"audio_tokens": 120, "text_tokens": 380},
        },
        "output_token_details": {"audio_tokens": 80, "text_tokens": 20},
    }
    done = rt.parse_server_event(
        ev(
            type="response.done",
            event_id="e",
            response={"id": "r", "status": "completed", "output": [], "usage": usage},
        ),
        1,
    )
    assert isinstance(done, E.ResponseDone)
    assert done.usage == E.Usage(900, 100, 300, 80, 500, 120, 380)


def test_output_audio_done_ends_one_item_of_a_response() -> None:
    done = rt.parse_server_event(
        ev(
            type="response.output_audio.done",
            event_id="e",
            response_id="r",
            item_id="pre",
            output_index=0,
            content_index=0,
        ),
        5,
    )
    assert done == E.AgentAudioDone(5, "r", "pre")


def test_a_refused_model_is_its_own_event_from_a_failed_response_or_an_error() -> None:
    failed = {
        "id": "r",
        "status": "failed",
        "output": [],
        "status_details": {
            "type": "failed",
            "error": {"type": "invalid_request_error", "code": "model_not_found", "message": "no"},
        },
    }
    done = rt.parse_server_event(ev(type="response.done", event_id="e", response=failed), 3)
    assert done == E.ModelRefused(3, "model_not_found", "no")
    error = rt.parse_server_event(
        ev(
            type="error",
            event_id="e",
            error={"type": "x", "code": "model_not_found", "message": "m"},
        ),
        4,
    )
    assert error == E.ModelRefused(4, "model_not_found", "m")
