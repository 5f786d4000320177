"""Tests for app/lib/audio.py: G.711 mu-law tables, levels and tones."""

from __future__ import annotations

import math
import struct

import pytest

from app.lib.audio import (
    ULAW_BYTES_PER_MS,
    ULAW_SILENCE,
    pcm16_bytes_to_ulaw,
    pcm16_to_ulaw,
    resample_pcm16,
    silence_ulaw,
    tone_pcm16,
    tone_ulaw,
    ulaw_ms,
    ulaw_rms,
    ulaw_to_pcm16,
    ulaw_to_pcm16_bytes,
)


def _reference_encode(sample: int) -> int:
    """The textbook G.711 mu-law encoder (Sun's g711.c), sample by sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, clip) + bias
    exponent, mask = 7, 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def test_constants_describe_8khz_mulaw() -> None:
    assert ULAW_BYTES_PER_MS == 8
    assert ULAW_SILENCE == 0xFF


def test_encoder_matches_the_reference_g711_encoder_for_every_int16_sample() -> None:
    samples = range(-32768, 32768)
    expected = bytes(_reference_encode(s) for s in samples)
    assert pcm16_to_ulaw(samples) == expected


def test_known_code_points_decode_to_standard_values() -> None:
    assert ulaw_to_pcm16(b"\xff\x7f\x80\x00") == [0, 0, 32124, -32124]


def test_decode_then_encode_is_identity_except_negative_zero() -> None:
    codes = bytes(range(256))
    roundtrip = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    expected = bytearray(codes)
    expected[0x7F] = 0xFF  # "negative zero" decodes to 0, which encodes as positive zero
    assert roundtrip == bytes(expected)


@pytest.mark.parametrize("sample", [-32768, -20000, -1000, -100, -5, 0, 7, 100, 999, 12345, 32767])
def test_encode_then_decode_is_within_quantisation_error(sample: int) -> None:
    decoded = ulaw_to_pcm16(pcm16_to_ulaw([sample]))[0]
    # mu-law keeps 4 mantissa bits: the step is at most (|x| + 132) / 16 and decoding returns
    # the middle of the step, so the error is at most half of that.
    tolerance = (abs(sample) + 132) / 32
    assert abs(decoded - sample) <= tolerance


def test_out_of_range_samples_are_clipped_not_wrapped() -> None:
    assert pcm16_to_ulaw([40000, -40000]) == pcm16_to_ulaw([32767, -32768])


def test_pcm16_bytes_roundtrip_is_little_endian() -> None:
    pcm = ulaw_to_pcm16_bytes(b"\x80\x00\xff")
    assert pcm == struct.pack("<3h", 32124, -32124, 0)
    assert pcm16_bytes_to_ulaw(pcm) == b"\x80\x00\xff"
    assert pcm16_bytes_to_ulaw(pcm + b"\x01") == b"\x80\x00\xff"  # odd trailing byte ignored


def test_silence_has_the_requested_length_and_zero_rms() -> None:
    assert silence_ulaw(20) == b"\xff" * 160
    assert silence_ulaw(0) == b""
    assert ulaw_rms(silence_ulaw(100)) == 0.0
    assert ulaw_rms(b"") == 0.0


def test_tone_has_the_requested_length_and_large_rms() -> None:
    tone = tone_ulaw(100)
    assert len(tone) == 100 * ULAW_BYTES_PER_MS
    assert ulaw_ms(tone) == 100
    expected_rms = 0.3 * 32767 / math.sqrt(2)
    assert ulaw_rms(tone) == pytest.approx(expected_rms, rel=0.03)
    assert ulaw_rms(tone_ulaw(100, amplitude=0.01)) < 500 < ulaw_rms(tone)


def test_rms_matches_the_rms_of_decoded_samples() -> None:
    data = tone_ulaw(20, freq_hz=1000.0, amplitude=0.5) + silence_ulaw(20)
    samples = ulaw_to_pcm16(data)
    direct = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert ulaw_rms(data) == pytest.approx(direct)


def test_tone_chunks_with_start_sample_continue_the_phase() -> None:
    whole = tone_pcm16(40)
    assert tone_pcm16(20) + tone_pcm16(20, start_sample=160) == whole


def test_resample_changes_length_by_the_rate_ratio_and_keeps_the_signal() -> None:
    tone = tone_pcm16(100, 440.0, 0.5)  # 800 samples at 8 kHz
    up = resample_pcm16(tone, 8000, 24000)
    assert len(up) == 2400
    assert up[::3][:100] == pytest.approx(tone[:100], abs=1)
    down = resample_pcm16(up, 24000, 8000)
    assert len(down) == 800
    assert resample_pcm16([], 8000, 24000) == []
    with pytest.raises(ValueError, match="positive"):
        resample_pcm16(tone, 0, 8000)
