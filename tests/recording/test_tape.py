"""The service's own two-channel tape (the dev phone): as heard, from consent on."""

from __future__ import annotations

import wave
from io import BytesIO

from app.recording.tape import StereoTape

VOICE = b"\x10" * 800  # 100 ms of loud mu-law


def test_nothing_is_kept_before_the_tape_starts() -> None:
    tape = StereoTape()
    tape.from_caller(VOICE)
    tape.to_caller(VOICE, 0)
    assert tape.duration_ms == 0
    tape.start(1000, offset_ms=1500)
    tape.from_caller(VOICE)
    assert tape.duration_ms == 100 and tape.offset_ms == 1500


def test_agent_audio_plays_in_order_and_a_clear_drops_what_was_not_heard() -> None:
    tape = StereoTape()
    tape.start(0, 0)
    tape.to_caller(VOICE, 0)  # plays 0-100 ms
    tape.to_caller(VOICE, 10)  # queued: plays 100-200 ms
    tape.to_caller(VOICE, 500)  # after a pause: plays from 500 ms
    assert len(tape.agent) == 600 * 8
    assert tape.agent[200 * 8 : 500 * 8] == b"\xff" * 300 * 8  # silence between
    tape.cleared(550)  # the caller barged in at 550 ms: the rest was never heard
    assert len(tape.agent) == 550 * 8
    tape.to_caller(VOICE, 560)
    assert len(tape.agent) == 660 * 8


def test_the_wav_is_stereo_caller_left_agent_right() -> None:
    tape = StereoTape()
    tape.start(0, 0)
    tape.from_caller(VOICE)
    tape.to_caller(b"\xff" * 800 + VOICE, 0)
    with wave.open(BytesIO(tape.wav())) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() == 1600
        samples = memoryview(wav.readframes(1600)).cast("h")
    left, right = samples[0::2], samples[1::2]
    assert max(map(abs, left[:800])) > 1000 and max(map(abs, left[800:])) == 0
    assert max(map(abs, right[:800])) == 0 and max(map(abs, right[800:])) > 1000


def test_the_tape_is_bounded() -> None:
    tape = StereoTape(max_ms=150)
    tape.start(0, 0)
    for _ in range(5):
        tape.from_caller(VOICE)
    assert tape.duration_ms == 150
