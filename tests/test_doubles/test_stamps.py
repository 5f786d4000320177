"""Frame stamps (tests/doubles/stamps.py): they read back, stay quiet, and plain audio has none."""

from __future__ import annotations

from app.lib.audio import ULAW_SILENCE, tone_ulaw, ulaw_rms
from tests.doubles.stamps import STAMP_BYTES, read_stamp, read_stamp_b64, stamp_ulaw


def test_a_stamp_reads_back_and_stays_quiet() -> None:
    silence = bytes([ULAW_SILENCE]) * 160
    stamped = stamp_ulaw(silence, 12345, 678)
    assert read_stamp(stamped) == (12345, 678)
    assert len(stamped) == 160 and stamped[STAMP_BYTES:] == silence[STAMP_BYTES:]
    assert ulaw_rms(stamped) < 50  # the fake's VAD threshold is 500: a stamp is not speech
    tone = stamp_ulaw(tone_ulaw(20), 1, 2**24 - 1)
    assert read_stamp(tone) == (1, 2**24 - 1)


def test_plain_audio_never_reads_as_stamped() -> None:
    assert read_stamp(bytes([ULAW_SILENCE]) * 160) is None
    assert read_stamp(tone_ulaw(20)) is None
    assert read_stamp(b"\xff" * 5) is None
    assert read_stamp_b64("not base64!") is None
