"""The hold cue played while a slow tool runs: two soft, short tones, so the line is never dead."""

from __future__ import annotations

import base64

from app.lib.audio import silence_ulaw, tone_ulaw

_CUE = (
    tone_ulaw(120, freq_hz=660.0, amplitude=0.08)
    + silence_ulaw(80)
    + tone_ulaw(120, freq_hz=880.0, amplitude=0.06)
)
HOLD_TONE_BYTES = len(_CUE)
HOLD_TONE_PAYLOAD = base64.b64encode(_CUE).decode()
