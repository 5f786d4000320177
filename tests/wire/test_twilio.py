"""Twilio Media Streams codec: every frame of PROTOCOLS.md section 2, and malformed ones."""

from __future__ import annotations

import orjson
import pytest

from app.call import events as E
from app.wire import twilio as tw

START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": "MZ1",
    "start": {
        "accountSid": "AC1",
        "streamSid": "MZ1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "customParameters": {"token": "t", "from": "+15550001234"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}


def test_connected() -> None:
    frame = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
    assert isinstance(tw.parse_frame(frame, 0), tw.Connected)


def test_start_carries_sids_and_custom_parameters() -> None:
    frame = tw.parse_frame(orjson.dumps(START), 5)
    assert frame == E.StreamStarted(5, "MZ1", "CA1", {"token": "t", "from": "+15550001234"})


def test_media_payload_is_kept_as_the_same_base64_string() -> None:
    frame = {
        "event": "media",
        "sequenceNumber": "4",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": "//79/A=="},
    }
    assert tw.parse_frame(orjson.dumps(frame), 7) == E.CallerAudio(7, "//79/A==")


def test_mark_dtmf_stop() -> None:
    mark = {"event": "mark", "sequenceNumber": "5", "streamSid": "MZ1", "mark": {"name": "m-12"}}
    dtmf = {
        "event": "dtmf",
        "sequenceNumber": "6",
        "streamSid": "MZ1",
        "dtmf": {"track": "inbound_track", "digit": "0"},
    }
    stop = {"event": "stop", "sequenceNumber": "7", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}
    assert tw.parse_frame(orjson.dumps(mark), 1) == E.MarkPlayed(1, "m-12")
    assert tw.parse_frame(orjson.dumps(dtmf), 2) == E.DtmfPressed(2, "0")
    assert tw.parse_frame(orjson.dumps(stop), 3) == E.StreamStopped(3)


def test_unknown_events_are_ignored() -> None:
    assert tw.parse_frame('{"event":"something-new","x":1}', 0) is None


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1,2]",
        '{"no":"event"}',
        '{"event":"media"}',
        '{"event":"media","media":{"payload":"!!!not base64"}}',
        '{"event":"media","media":{"payload":12}}',
        '{"event":"media","media":{"payload":"\u0080"}}',
        '{"event":"mark","mark":"m1"}',
        '{"event":"start","start":{"streamSid":"MZ"}}',
        '{"event":"start","start":{"streamSid":"MZ","callSid":"CA","customParameters":[]}}',
        '{"event":"dtmf","dtmf":{}}',
        '{"event":7}',
    ],
)
def test_malformed_frames_raise_frame_error(frame: str) -> None:
    with pytest.raises(tw.FrameError):
        tw.parse_frame(frame, 0)


def test_outbound_frames_match_the_protocol_exactly() -> None:
    assert orjson.loads(tw.media_frame("MZ1", "AAAA")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": "AAAA"},
    }
    assert orjson.loads(tw.mark_frame("MZ1", "m1")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "m1"},
    }
    assert orjson.loads(tw.clear_frame("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
