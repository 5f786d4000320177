"""OpenAI Realtime GA server events -> call events, and call actions -> client events."""

from __future__ import annotations

from typing import Any

import orjson

from app.call import events as E


def b64_decoded_len(payload: str) -> int:
    """Bytes a base64 string decodes to, without decoding it."""
    n = len(payload)
    if n == 0:
        return 0
    padding = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    return n * 3 // 4 - padding


def _usage(raw: Any) -> E.Usage:
    if not isinstance(raw, dict):
        return E.Usage()
    inp = raw.get("input_token_details") or {}
    out = raw.get("output_token_details") or {}
    cached = inp.get("cached_tokens_details") or {}
    return E.Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        input_audio_tokens=int(inp.get("audio_tokens") or 0),
        output_audio_tokens=int(out.get("audio_tokens") or 0),
        cached_tokens=int(inp.get("cached_tokens") or 0),
        cached_audio_tokens=int(cached.get("audio_tokens") or 0),
        cached_text_tokens=int(cached.get("text_tokens") or 0),
    )


# The API's codes for a model this key cannot use. A socket opens even for such a model; the
# refusal comes as the first response failing (`response.done`, status `failed`, seen with
# `model_not_found` in openai/openai-realtime-console#561) or as an `error` event.
MODEL_REFUSED_CODES = frozenset({"model_not_found", "invalid_model"})


def parse_server_event(text: str | bytes, at_ms: int) -> E.ModelEvent | None:
    """The events the call needs; everything else (and anything malformed) gives None."""
    try:
        ev = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(ev, dict):
        return None
    try:
        return _parse(ev, at_ms)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _parse(ev: dict[str, Any], at_ms: int) -> E.ModelEvent | None:
    kind = ev.get("type")
    if kind == "response.output_audio.delta":
        delta = ev["delta"]
        return E.AgentAudio(at_ms, ev["response_id"], ev["item_id"], delta, b64_decoded_len(delta))
    if kind == "response.output_audio.done":
        return E.AgentAudioDone(at_ms, ev["response_id"], ev["item_id"])
    if kind == "response.output_audio_transcript.delta":
        return E.AgentTranscriptDelta(at_ms, ev["response_id"], ev["item_id"], ev["delta"])
    if kind == "response.output_audio_transcript.done":
        return E.AgentTranscriptDone(at_ms, ev["response_id"], ev["item_id"], ev["transcript"])
    if kind == "input_audio_buffer.speech_started":
        return E.SpeechStarted(at_ms, ev["item_id"])
    if kind == "input_audio_buffer.speech_stopped":
        return E.SpeechStopped(at_ms, ev["item_id"])
    if kind == "conversation.item.input_audio_transcription.completed":
        return E.CallerTranscript(at_ms, ev["item_id"], ev["transcript"])
    if kind == "response.created":
        return E.ResponseCreated(at_ms, ev["response"]["id"])
    if kind == "response.output_item.done":
        # Run a function only when its item is complete: an interrupted one can hold cut JSON.
        item = ev["item"]
        if item.get("type") == "function_call" and item.get("status") == "completed":
            return E.FunctionCallRequested(
                at_ms, ev["response_id"], item["call_id"], item["name"], item["arguments"]
            )
        return None
    if kind == "response.done":
        response = ev["response"]
        error = ((response.get("status_details") or {}).get("error")) or {}
        if error.get("code") in MODEL_REFUSED_CODES:
            return E.ModelRefused(at_ms, error["code"], str(error.get("message", "")))
        return E.ResponseDone(
            at_ms, response["id"], str(response.get("status")), _usage(response.get("usage"))
        )
    if kind == "error":
        error = ev.get("error") or {}
        if error.get("code") in MODEL_REFUSED_CODES:
            return E.ModelRefused(at_ms, error["code"], str(error.get("message", "")))
        return E.ModelError(at_ms, error.get("code"), str(error.get("message", "")))
    return None


# --- client events ---------------------------------------------------------------------------


def append_audio(payload: str) -> str:
    # The hot path: ASCII base64 needs no escaping.
    return '{"type":"input_audio_buffer.append","audio":"' + payload + '"}'


def _dump(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


def session_update(session: dict[str, Any]) -> str:
    return _dump({"type": "session.update", "session": session})


def response_create() -> str:
    return _dump({"type": "response.create"})


def response_cancel() -> str:
    return _dump({"type": "response.cancel"})


def truncate(item_id: str, audio_end_ms: int) -> str:
    return _dump(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
    )


def function_output(call_id: str, output: str) -> str:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return _dump({"type": "conversation.item.create", "item": item})


def message(role: str, text: str) -> str:
    """A text message item: `system` notes steer the agent; `user`/`assistant` re-seed history."""
    content_type = "output_text" if role == "assistant" else "input_text"
    item = {"type": "message", "role": role, "content": [{"type": content_type, "text": text}]}
    return _dump({"type": "conversation.item.create", "item": item})
