"""Tests for tests/doubles/realtime/validation.py: strict GA checks over the openai SDK types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.doubles.realtime.validation import validate_client_event, validate_server_event
from tests.test_doubles.realtime_peers import SESSION

# The GA session.update of docs PROTOCOLS.md section 1 (the session the peers' tests send).
GA_SESSION_UPDATE: dict[str, Any] = {"type": "session.update", "session": SESSION}

VALID_CLIENT_EVENTS: list[dict[str, Any]] = [
    GA_SESSION_UPDATE,
    {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}},
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}},
        },
    },
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None, "noise_reduction": None}},
        },
    },
    {"type": "input_audio_buffer.append", "audio": "//////8="},
    {"type": "input_audio_buffer.append", "audio": "//8=", "event_id": "evt_1"},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'},
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi"}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "Caller is VIP."}],
        },
    },
    {"type": "response.create"},
    {"type": "response.create", "response": {"instructions": "Say goodbye politely."}},
    {"type": "response.cancel"},
    {"type": "response.cancel", "response_id": "resp_1", "event_id": "evt_2"},
    {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 0,
        "audio_end_ms": 1234,
    },
]


@pytest.mark.parametrize("event", VALID_CLIENT_EVENTS, ids=lambda e: str(e["type"]))
def test_every_ga_client_event_we_send_validates_clean(event: dict[str, Any]) -> None:
    assert validate_client_event(orjson.dumps(event)) == []
    assert validate_client_event(orjson.dumps(event).decode()) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {
                "type": "session.update",
                "session": {"modalities": ["audio", "text"], "input_audio_format": "g711_ulaw"},
            },
            "type: Field required",
            id="beta-session-without-type",
        ),
        pytest.param(
            {
                "type": "session.update",
                "session": {"type": "realtime", "input_audio_format": "g711_ulaw"},
            },
            "session.update.session.input_audio_format: unknown key",
            id="beta-input_audio_format",
        ),
        pytest.param(
            {"type": "session.update", "session": {"type": "realtime", "modalities": ["audio"]}},
            "session.update.session.modalities: unknown key",
            id="beta-modalities",
        ),
        pytest.param(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "g711_ulaw"}}},
                },
            },
            "format",
            id="beta-format-name",
        ),
        pytest.param(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "silence_ms": 500}}
                    },
                },
            },
            "session.update.session.audio.input.turn_detection.silence_ms: unknown key",
            id="extra-key-deep-in-turn-detection",
        ),
        pytest.param(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcmu", "rate": 8000}}},
                },
            },
            "session.update.session.audio.input.format.rate: unknown key",
            id="pcmu-takes-no-rate",
        ),
        pytest.param(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi", "lang": "en"}],
                },
            },
            "conversation.item.create.item.content[0].lang: unknown key",
            id="extra-key-in-content-list",
        ),
        pytest.param(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "c", "output": {"ok": 1}},
            },
            "output",
            id="function-output-must-be-a-string",
        ),
        pytest.param(
            {"type": "response.create", "response": {"modalities": ["audio"]}},
            "response.create.response.modalities: unknown key",
            id="beta-response-modalities",
        ),
        pytest.param(
            {
                "type": "conversation.item.truncate",
                "item_id": "i",
                "content_index": 0,
                "audio_end_ms": "1234",
            },
            "audio_end_ms",
            id="truncate-ms-as-string",
        ),
        pytest.param(
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0},
            "audio_end_ms: Field required",
            id="truncate-without-audio_end_ms",
        ),
        pytest.param(
            {"type": "input_audio_buffer.append", "audio": "//8=", "sequence": 1},
            "input_audio_buffer.append.sequence: unknown key",
            id="append-with-extra-key",
        ),
        pytest.param(
            {"type": "response.audio.delta", "delta": ""},
            "unknown event type 'response.audio.delta'",
            id="server-event-name",
        ),
        pytest.param({"type": "response.cancel_all"}, "unknown event type", id="made-up-type"),
        pytest.param({"audio": "//8="}, "event has no 'type'", id="no-type"),
    ],
)
def test_beta_shapes_and_unknown_keys_are_violations(event: dict[str, Any], expected: str) -> None:
    violations = validate_client_event(orjson.dumps(event))
    assert violations, "expected a violation"
    assert any(expected in violation for violation in violations), violations


@pytest.mark.parametrize("raw", ["{not json", "", b"\xff\xfe", "[1, 2]", "42", "null"])
def test_bad_json_and_non_objects_are_violations(raw: str | bytes) -> None:
    violations = validate_client_event(raw)
    assert len(violations) == 1
    assert "JSON" in violations[0]


def test_schema_errors_are_capped_and_readable() -> None:
    violations = validate_client_event('{"type": "session.update", "session": 5}')
    assert 1 <= len(violations) <= 9
    assert all(v.startswith("session.update: ") for v in violations)


def test_server_events_validate_against_the_server_union() -> None:
    delta = {
        "type": "response.output_audio.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "//8=",
    }
    assert validate_server_event(orjson.dumps(delta)) == []
    # A client event is not a server event, and vice versa.
    assert validate_server_event('{"type": "response.create"}')
    assert validate_client_event(orjson.dumps(delta))


def test_server_event_missing_event_id_or_with_beta_name_is_a_violation() -> None:
    no_id = {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "i"}
    assert any("event_id" in v for v in validate_server_event(orjson.dumps(no_id)))
    beta = {
        "type": "response.audio.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "",
    }
    assert validate_server_event(orjson.dumps(beta)) == [
        "unknown event type 'response.audio.delta'"
    ]


def test_server_session_object_fields_the_sdk_does_not_type_are_reported() -> None:
    # The live API's session.created carries "object" and "id", but the SDK types the session
    # as RealtimeSessionCreateRequest, which has neither: the strict check reports them.
    created = {
        "type": "session.created",
        "event_id": "e",
        "session": {"type": "realtime", "object": "realtime.session", "id": "sess_1"},
    }
    assert sorted(validate_server_event(orjson.dumps(created))) == [
        "session.created.session.id: unknown key",
        "session.created.session.object: unknown key",
    ]
