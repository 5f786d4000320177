"""The fake model's voice: a tone in the session's output format, cut into delta-sized pieces."""

from __future__ import annotations

import base64
import sys
from array import array
from functools import lru_cache

from app.lib.audio import tone_pcm16, tone_ulaw

__all__ = ["audio_b64", "audio_bytes", "split_evenly"]


@lru_cache(maxsize=32)
def audio_bytes(fmt: str, ms: int) -> bytes:
    """`ms` of a non-silent tone in the session's output format (cached per size)."""
    if fmt == "audio/pcm":  # 24 kHz PCM16 little-endian
        samples = array("h", tone_pcm16(ms, sample_rate=24000))
        if sys.byteorder == "big":  # pragma: no cover
            samples.byteswap()
        return samples.tobytes()
    # audio/pcmu (and audio/pcma, which the fake voices as mu-law: same size, 8 bytes per ms)
    return tone_ulaw(ms)


@lru_cache(maxsize=32)
def audio_b64(fmt: str, ms: int) -> str:
    """Base64 of `audio_bytes(fmt, ms)` (cached per size)."""
    return base64.b64encode(audio_bytes(fmt, ms)).decode()


def split_evenly(text: str, parts: int) -> list[str]:
    if parts <= 0:
        return []
    length = len(text)
    return [text[round(i * length / parts) : round((i + 1) * length / parts)] for i in range(parts)]
