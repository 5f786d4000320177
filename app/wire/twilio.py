"""Twilio Media Streams frames <-> call events and actions (PROTOCOLS.md section 2)."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import orjson

from app.call import events as E

# WebSocket close codes (RFC 6455 section 7.4.1) for streams that break the protocol.
POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003
MESSAGE_TOO_BIG = 1009


class FrameError(ValueError):
    """A frame Twilio would never send: the connection that sent it is closed (1003/1008)."""


@dataclass(frozen=True, slots=True)
class Connected:
    pass


TwilioFrame = Connected | E.TwilioEvent


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise FrameError(f"{what} must be a string")
    return value


def parse_frame(text: str | bytes, at_ms: int) -> TwilioFrame | None:
    """Parse one text frame. Unknown events give None (ignored); malformed ones raise."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError("not JSON") from exc
    if not isinstance(frame, dict):
        raise FrameError("not a JSON object")
    event = frame.get("event")
    if event == "media":  # the hot path: 50 frames a second per call
        media = frame.get("media")
        if not isinstance(media, dict):
            raise FrameError("media without a media object")
        payload = _str(media.get("payload"), "media.payload")
        try:
            binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters
            raise FrameError("media.payload is not base64") from exc
        return E.CallerAudio(at_ms, payload)
    if event == "mark":
        mark = frame.get("mark")
        if not isinstance(mark, dict):
            raise FrameError("mark without a mark object")
        return E.MarkPlayed(at_ms, _str(mark.get("name"), "mark.name"))
    if event == "start":
        start = frame.get("start")
        if not isinstance(start, dict):
            raise FrameError("start without a start object")
        params = start.get("customParameters")
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise FrameError("start.customParameters must be an object")
        return E.StreamStarted(
            at_ms,
            stream_sid=_str(start.get("streamSid") or frame.get("streamSid"), "start.streamSid"),
            call_sid=_str(start.get("callSid"), "start.callSid"),
            parameters={str(k): str(v) for k, v in params.items()},
        )
    if event == "dtmf":
        dtmf = frame.get("dtmf")
        if not isinstance(dtmf, dict):
            raise FrameError("dtmf without a dtmf object")
        return E.DtmfPressed(at_ms, _str(dtmf.get("digit"), "dtmf.digit")[:1])
    if event == "stop":
        return E.StreamStopped(at_ms)
    if event == "connected":
        return Connected()
    if not isinstance(event, str):
        raise FrameError("frame without an event name")
    return None


def media_frame(stream_sid: str, payload: str) -> str:
    # Built by hand: both values are plain ASCII (a Twilio SID and base64), no escaping needed.
    return (
        '{"event":"media","streamSid":"' + stream_sid + '","media":{"payload":"' + payload + '"}}'
    )


def mark_frame(stream_sid: str, name: str) -> str:
    return orjson.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).decode()


def clear_frame(stream_sid: str) -> str:
    return orjson.dumps({"event": "clear", "streamSid": stream_sid}).decode()
