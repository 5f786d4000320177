"""G.711 mu-law written from the reference, independently of app/lib/audio.py, and the shared
test vectors (tests/phone/g711_vectors.json) that the browser's codec is checked against.

Encode: the public-domain reference encoder of Craig Reese and Joe Campbell (the one Sun's
and most telephony code derive from): its exponent lookup table, BIAS 0x84, CLIP 32635.
Decode: ITU-T G.711 table 2, decoded on its 14-bit scale ((2m + 33) * 2^e - 33) and widened to
16 bits (x4). `python -m tests.phone.g711_reference` rewrites the JSON.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from app.lib.audio import pcm16_to_ulaw, resample_pcm16, tone_pcm16, ulaw_to_pcm16

VECTORS = Path(__file__).with_name("g711_vectors.json")
# exp_lut[i] for the top byte of a biased magnitude: its segment (as in the C source).
EXP_LUT = [0] * 2 + [1] * 2 + [2] * 4 + [3] * 8 + [4] * 16 + [5] * 32 + [6] * 64 + [7] * 128
BIAS, CLIP = 0x84, 32635


def reference_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, CLIP) + BIAS
    exponent = EXP_LUT[(magnitude >> 7) & 0xFF]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def reference_decode(code: int) -> int:
    inverted = ~code & 0xFF
    exponent, mantissa = (inverted >> 4) & 0x07, inverted & 0x0F
    magnitude = ((2 * mantissa + 33) * 2**exponent - 33) * 4
    return -magnitude if inverted & 0x80 else magnitude


def tone(rate: int, freq: float, ms: int, amplitude: float = 0.5) -> list[int]:
    return tone_pcm16(ms, freq, amplitude, sample_rate=rate)


def snr_db(signal: list[float], decoded: list[float]) -> float:
    noise = sum((a - b) ** 2 for a, b in zip(signal, decoded, strict=True))
    power = sum(a * a for a in signal)
    return 10 * math.log10(power / noise) if noise else math.inf


def vectors() -> dict[str, Any]:
    """Every int16 sample's code and every code's sample (from app/lib/audio.py), and a 1 kHz
    tone at 48 kHz with what app/lib/audio.py resamples it to at 8 kHz."""
    samples = range(-32768, 32768)
    source = tone(48000, 1000.0, 100)
    return {
        "about": "tests/phone/g711_reference.py: app/lib/audio.py's G.711 mu-law and resampler",
        "encode_from": -32768,
        "encode_b64": base64.b64encode(pcm16_to_ulaw(samples)).decode(),
        "decode": ulaw_to_pcm16(bytes(range(256))),
        "tone_48k": source,
        "tone_8k_linear": resample_pcm16(source, 48000, 8000),
    }


def load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTORS.read_text())
    return loaded


if __name__ == "__main__":
    VECTORS.write_text(json.dumps(vectors(), separators=(",", ":")) + "\n")
