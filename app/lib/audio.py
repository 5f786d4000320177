"""G.711 mu-law helpers for 8 kHz telephone audio: decode, encode, levels, test tones.

Pure Python over precomputed tables (the stdlib `audioop` is deprecated and gone in 3.13).
Twilio Media Streams and the OpenAI Realtime `audio/pcmu` format both carry raw mu-law at
8000 Hz mono: one byte per sample, so 8 bytes are 1 ms.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "SAMPLE_RATE",
    "ULAW_BYTES_PER_MS",
    "ULAW_SILENCE",
    "pcm16_bytes_to_ulaw",
    "pcm16_to_ulaw",
    "resample_pcm16",
    "silence_ulaw",
    "tone_pcm16",
    "tone_ulaw",
    "ulaw_ms",
    "ulaw_rms",
    "ulaw_to_pcm16",
    "ulaw_to_pcm16_bytes",
]

SAMPLE_RATE = 8000
ULAW_BYTES_PER_MS = SAMPLE_RATE // 1000
# 0xFF decodes to 0 (0x7F is "negative zero"); it is what telephone systems send as silence.
ULAW_SILENCE = 0xFF

_BIAS = 0x84  # G.711: bias added before the segment search
_CLIP = 32635  # G.711: largest magnitude that still fits after the bias
_BIG_ENDIAN = array("h", [1]).tobytes() == b"\x00\x01"  # wire PCM16 is little-endian


def _decode_one(code: int) -> int:
    code = ~code & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


def _build_encode_table() -> bytes:
    """Encoder lookup for every int16 sample, indexed by `sample & 0xFFFF`.

    Built by segment (exponent, mantissa) ranges rather than sample by sample: each mu-law code
    covers a run of biased magnitudes [(16 + m) << (e + 3), (17 + m) << (e + 3)).
    """
    segment = bytearray(32769)  # magnitude 0..32768 -> (exponent << 4) | mantissa
    for exponent in range(8):
        for mantissa in range(16):
            low = max(((16 + mantissa) << (exponent + 3)) - _BIAS, 0)
            high = min(((17 + mantissa) << (exponent + 3)) - _BIAS, len(segment))
            if low < high:
                segment[low:high] = bytes([(exponent << 4) | mantissa]) * (high - low)
    top = _CLIP + 1  # G.711 clips larger magnitudes to the top code
    segment[top:] = b"\x7f" * (len(segment) - top)
    positive = bytes(0xFF - code if code < 0x80 else 0 for code in range(256))  # ~code
    negative = bytes(0x7F - code if code < 0x80 else 0 for code in range(256))  # ~(0x80 | code)
    table = bytearray(0x10000)
    table[0:0x8000] = segment[0:0x8000].translate(positive)
    # index 0x8000 + k holds sample k - 32768, whose magnitude runs from 32768 down to 1
    table[0x8000:] = segment[0x8000:0:-1].translate(negative)
    return bytes(table)


_DECODE: tuple[int, ...] = tuple(_decode_one(code) for code in range(256))
_SQUARED: tuple[int, ...] = tuple(value * value for value in _DECODE)
_ENCODE: bytes = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> list[int]:
    """Decode mu-law bytes to signed 16-bit linear samples (range -32124..32124)."""
    return list(map(_DECODE.__getitem__, data))


def ulaw_to_pcm16_bytes(data: bytes) -> bytes:
    """Decode mu-law bytes to little-endian PCM16 bytes (2 bytes per sample)."""
    samples = array("h", map(_DECODE.__getitem__, data))
    if samples.itemsize != 2:  # pragma: no cover - every platform we run on has 16-bit shorts
        raise RuntimeError("array('h') is not 16-bit on this platform")
    if _BIG_ENDIAN:  # pragma: no cover
        samples.byteswap()
    return samples.tobytes()


def pcm16_to_ulaw(samples: Iterable[int]) -> bytes:
    """Encode signed 16-bit linear samples to mu-law. Values outside int16 are clipped."""
    table = _ENCODE
    return bytes(table[max(-32768, min(32767, int(s))) & 0xFFFF] for s in samples)


def pcm16_bytes_to_ulaw(pcm: bytes) -> bytes:
    """Encode little-endian PCM16 bytes to mu-law (a trailing odd byte is ignored)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - (len(pcm) % 2)])
    if _BIG_ENDIAN:  # pragma: no cover
        samples.byteswap()
    table = _ENCODE
    return bytes(table[s & 0xFFFF] for s in samples)


def ulaw_rms(data: bytes) -> float:
    """Root-mean-square level of mu-law audio in linear PCM16 units (silence is 0.0)."""
    if not data:
        return 0.0
    return math.sqrt(sum(map(_SQUARED.__getitem__, data)) / len(data))


def ulaw_ms(data: bytes) -> int:
    """Duration of mu-law audio at 8 kHz in whole milliseconds."""
    return len(data) // ULAW_BYTES_PER_MS


def silence_ulaw(ms: int) -> bytes:
    """`ms` milliseconds of mu-law silence (0xFF bytes)."""
    return bytes([ULAW_SILENCE]) * (max(ms, 0) * ULAW_BYTES_PER_MS)


def tone_pcm16(
    ms: int,
    freq_hz: float = 440.0,
    amplitude: float = 0.3,
    *,
    sample_rate: int = SAMPLE_RATE,
    start_sample: int = 0,
) -> list[int]:
    """A sine tone as PCM16 samples; `amplitude` is a fraction of full scale (0..1).

    `start_sample` continues the phase of an earlier call, so chunks concatenate seamlessly.
    """
    count = max(ms, 0) * sample_rate // 1000
    peak = max(0.0, min(amplitude, 1.0)) * 32767.0
    step = 2.0 * math.pi * freq_hz / sample_rate
    return [round(peak * math.sin(step * (start_sample + n))) for n in range(count)]


@lru_cache(maxsize=64)
def tone_ulaw(ms: int, freq_hz: float = 440.0, amplitude: float = 0.3) -> bytes:
    """`ms` milliseconds of an 8 kHz mu-law sine tone (8 bytes per ms). Cached: bytes are immutable."""
    return pcm16_to_ulaw(tone_pcm16(ms, freq_hz, amplitude))


def resample_pcm16(samples: Sequence[int], from_rate: int, to_rate: int) -> list[int]:
    """Resample PCM16 by linear interpolation (good enough for dev tools and diagnostics)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError("sample rates must be positive")
    if from_rate == to_rate or not samples:
        return list(samples)
    count = len(samples) * to_rate // from_rate
    last = len(samples) - 1
    ratio = from_rate / to_rate
    out: list[int] = []
    for n in range(count):
        position = n * ratio
        index = int(position)
        if index >= last:
            out.append(samples[last])
            continue
        frac = position - index
        out.append(round(samples[index] + (samples[index + 1] - samples[index]) * frac))
    return out
