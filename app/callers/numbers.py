"""What a caller's `From` and `StirVerstat` say: a withheld number, a caller ID that failed.

Twilio puts the caller's number in `From` (E.164). When the caller withheld it, carriers send a
word ("anonymous", "restricted", "unknown", ...) or a keypad spelling of one: +266696687 is
ANONYMOUS, +7378742833 RESTRICTED, +2562533 BLOCKED, +8656696 UNKNOWN, +86282452253
UNAVAILABLE. Such a "number" is shared by every hidden caller, so it must never key a memory
or a block.
"""

from __future__ import annotations

import re

_WITHHELD_WORDS = frozenset(
    {
        "anonymous",
        "restricted",
        "unknown",
        "unavailable",
        "private",
        "blocked",
        "withheld",
        "none",
        "null",
    }
)
# Keypad spellings: ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE.
_WITHHELD_DIGITS = frozenset({"266696687", "7378742833", "2562533", "8656696", "86282452253"})
_PLAUSIBLE = re.compile(r"\+?[0-9]{7,15}")


def is_withheld(number: str | None) -> bool:
    """True when `From` names nobody: empty, a withheld-number word or sentinel, or not a number
    (fewer than 7 digits, letters); only a plausible number can be remembered or blocked."""
    raw = (number or "").strip()
    if not raw or raw.lower() in _WITHHELD_WORDS:
        return True
    if not _PLAUSIBLE.fullmatch(raw):
        return True
    return raw.lstrip("+") in _WITHHELD_DIGITS


# SHAKEN/STIR (Twilio's StirVerstat, US only, absent when no PASSporT came with the call):
# TN-Validation-Passed-A|B|C (sometimes with a suffix such as -Diverted), TN-Validation-Failed-
# A|B|C, TN-Validation-Failed (the signature did not verify), No-TN-Validation (no check was
# possible). Only the "Failed" family says the caller ID is probably forged.
_FAILED = "tn-validation-failed"


def stir_failed(verstat: str | None) -> bool:
    """True when Twilio says the caller ID failed SHAKEN/STIR verification (any attestation)."""
    return (verstat or "").strip().lower().startswith(_FAILED)
