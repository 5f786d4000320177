"""Bodies of the server events the fake sends, in the GA shapes of the real API (pure functions)."""

from __future__ import annotations

import copy

from tests.doubles.realtime.config import JsonDict

__all__ = ["deep_merge", "default_session", "rate_limits_event", "response_object", "usage"]


def deep_merge(target: JsonDict, update: JsonDict) -> None:
    """session.update semantics: only given fields change; a `type` change replaces the object."""
    for key, value in update.items():
        current = target.get(key)
        if (
            isinstance(value, dict)
            and isinstance(current, dict)
            and value.get("type", current.get("type")) == current.get("type")
        ):
            deep_merge(current, value)
        else:
            target[key] = copy.deepcopy(value)


def default_session(model: str | None) -> JsonDict:
    """What the real server reports in session.created (GA shape, server defaults)."""
    return {
        "type": "realtime",
        "model": model or "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "You are a helpful, witty, and friendly AI.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "include": None,
        "truncation": "auto",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "marin",
                "speed": 1.0,
            },
        },
    }


def response_object(
    response_id: str, status: str, output: list[JsonDict], session: JsonDict
) -> JsonDict:
    """A `realtime.response` of `session` (the effective one) in the given status."""
    audio_output = session["audio"].get("output") or {}
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": None,
        "output": output,
        "conversation_id": "conv_1",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {
            "output": {"format": audio_output.get("format"), "voice": audio_output.get("voice")}
        },
        "usage": None,
        "metadata": None,
    }


def usage(
    *,
    instructions: str,
    function_outputs: int,
    appended_ms: int,
    responses_started: int,
    audio_ms: int,
    text_chars: int,
) -> JsonDict:
    """response.done's token usage, roughly as the real API counts it."""
    input_text = 100 + len(instructions) // 4 + 20 * function_outputs
    input_audio = appended_ms // 100
    cached = min(input_text, 64 * (responses_started - 1))
    output_audio = audio_ms // 50
    output_text = (text_chars + 3) // 4
    total_in, total_out = input_text + input_audio, output_audio + output_text
    return {
        "total_tokens": total_in + total_out,
        "input_tokens": total_in,
        "output_tokens": total_out,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "image_tokens": 0,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": cached,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


def rate_limits_event(responses_started: int) -> JsonDict:
    """rate_limits.updated at the start of a response."""
    # Tokens reserved for the response show as used until it is done (SDK docstring).
    used = 4096 * (responses_started + 1)
    return {
        "type": "rate_limits.updated",
        "rate_limits": [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {
                "name": "tokens",
                "limit": 40_000_000,
                "remaining": 40_000_000 - used,
                "reset_seconds": round(used * 60 / 40_000_000, 3),
            },
        ],
    }
