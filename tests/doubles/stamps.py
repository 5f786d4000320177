"""Frame stamps (benchmarks): which audio frame is which, at the far end of the relay.

A stamp is written over the first STAMP_BYTES samples of a mu-law frame, 5 bits a sample, in
codes that decode to |x| <= 120 of 32124 (0x70-0x7F and 0xF0-0xFF: exponent 0), so a stamped
silence frame stays far below any VAD threshold (RMS about 30). Ten digits carry 50 bits
(a 26-bit tag and a 24-bit frame number); the last one is a check digit, so plain silence
(0xFF...) and tone audio never read as stamped. The Twilio caller double stamps what it says,
the OpenAI double what its model says.
"""

from __future__ import annotations

import binascii
import functools
import operator

__all__ = ["STAMP_BYTES", "read_stamp", "read_stamp_b64", "stamp_ulaw"]

STAMP_BYTES = 11
_STAMP_DIGITS = STAMP_BYTES - 1
_STAMP_CHECK = 0x15
_QUIET_CODES = bytes((0xF0 if d & 0x10 else 0x70) | (d & 0x0F) for d in range(32))
_QUIET_DIGIT = tuple(_QUIET_CODES.find(bytes([code])) for code in range(256))  # -1: not quiet
_STAMP_B64_CHARS = (STAMP_BYTES + 2) // 3 * 4  # base64 characters that cover the stamp


def stamp_ulaw(audio: bytes, tag: int, number: int) -> bytes:
    """`audio` with (tag, number) written over its first STAMP_BYTES samples (quietly)."""
    if len(audio) < STAMP_BYTES:
        raise ValueError(f"a stamped frame needs at least {STAMP_BYTES} bytes")
    value = ((tag & 0x3FFFFFF) << 24) | (number & 0xFFFFFF)
    digits = [(value >> (5 * i)) & 31 for i in range(_STAMP_DIGITS)]
    digits.append(functools.reduce(operator.xor, digits, _STAMP_CHECK))
    return bytes(_QUIET_CODES[d] for d in digits) + audio[STAMP_BYTES:]


def read_stamp(audio: bytes) -> tuple[int, int] | None:
    """The (tag, number) of a frame made by `stamp_ulaw`, or None if it carries no stamp."""
    if len(audio) < STAMP_BYTES:
        return None
    value = 0
    check = _STAMP_CHECK
    for i in range(_STAMP_DIGITS):
        digit = _QUIET_DIGIT[audio[i]]
        if digit < 0:
            return None
        value |= digit << (5 * i)
        check ^= digit
    if _QUIET_DIGIT[audio[_STAMP_DIGITS]] != check:
        return None
    return value >> 24, value & 0xFFFFFF


def read_stamp_b64(payload: str) -> tuple[int, int] | None:
    """read_stamp() of a base64 payload, decoding only its first few characters."""
    try:
        head = binascii.a2b_base64(payload[:_STAMP_B64_CHARS])
    except (binascii.Error, ValueError):
        return None
    return read_stamp(head)
