"""Media Streams frames as Twilio sends them, and what it accepts back (PROTOCOLS.md section 2)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLEAR_KEYS",
    "CONNECTED_FRAME",
    "DTMF_DIGITS",
    "MARK_KEYS",
    "MEDIA_KEYS",
    "dtmf_frame",
    "frame_problems",
    "mark_frame",
    "media_frame",
    "start_frame",
    "stop_frame",
]

DTMF_DIGITS = frozenset("0123456789*#")
# The exact keys of the frames the service may send (Twilio error 31951 otherwise).
MEDIA_KEYS = frozenset({"event", "streamSid", "media"})
MARK_KEYS = frozenset({"event", "streamSid", "mark"})
CLEAR_KEYS = frozenset({"event", "streamSid"})

CONNECTED_FRAME: dict[str, Any] = {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start_frame(
    call_sid: str,
    stream_sid: str,
    account_sid: str,
    parameters: dict[str, str],
    sequence_number: str = "1",
) -> dict[str, Any]:
    """Twilio's `start` event, exactly as a Media Stream sends it."""
    return {
        "event": "start",
        "sequenceNumber": sequence_number,
        "streamSid": stream_sid,
        "start": {
            "accountSid": account_sid,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }


def media_frame(
    sequence_number: str, stream_sid: str, chunk: int, timestamp_ms: int, payload: str
) -> dict[str, Any]:
    """One inbound `media` event: `payload` is the frame's base64 mu-law."""
    return {
        "event": "media",
        "sequenceNumber": sequence_number,
        "streamSid": stream_sid,
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str(timestamp_ms),
            "payload": payload,
        },
    }


def mark_frame(sequence_number: str, stream_sid: str, name: str) -> dict[str, Any]:
    """A `mark` returned to the service: the audio sent before it has played."""
    return {
        "event": "mark",
        "sequenceNumber": sequence_number,
        "streamSid": stream_sid,
        "mark": {"name": name},
    }


def dtmf_frame(sequence_number: str, stream_sid: str, digit: str) -> dict[str, Any]:
    """A key the caller pressed."""
    return {
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": sequence_number,
        "dtmf": {"track": "inbound_track", "digit": digit},
    }


def stop_frame(
    sequence_number: str, stream_sid: str, account_sid: str, call_sid: str
) -> dict[str, Any]:
    """The caller hung up."""
    return {
        "event": "stop",
        "sequenceNumber": sequence_number,
        "streamSid": stream_sid,
        "stop": {"accountSid": account_sid, "callSid": call_sid},
    }


def frame_problems(msg: dict[str, Any], keys: frozenset[str], stream_sid: str) -> list[str]:
    """Twilio 31951: unknown or missing fields, or another stream's streamSid."""
    problems = []
    if msg.keys() != keys:
        extra, missing = sorted(msg.keys() - keys), sorted(keys - msg.keys())
        problems.append(f"31951 {msg.get('event')}: unknown fields {extra}, missing {missing}")
    if "streamSid" in msg and msg["streamSid"] != stream_sid:
        problems.append(
            f"31951 {msg.get('event')}: streamSid {msg['streamSid']!r} is not {stream_sid!r}"
        )
    return problems
