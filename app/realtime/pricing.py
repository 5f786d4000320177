"""An estimate of what a call cost in Realtime tokens (USD per million tokens, list prices)."""

from __future__ import annotations

from decimal import Decimal

from app.call.events import Usage

# (audio in, cached in, audio out, text in, text out) per 1M tokens. Mini models are cheaper;
# unknown models are priced like the full model so estimates err on the high side.
_FULL = (Decimal(32), Decimal("0.40"), Decimal(64), Decimal(4), Decimal(16))
_MINI = (Decimal(10), Decimal("0.30"), Decimal(20), Decimal("0.60"), Decimal("2.40"))
_MILLION = Decimal(1_000_000)


def estimate_cost(model: str, usage: Usage) -> Decimal:
    audio_in, cached, audio_out, text_in, text_out = _MINI if "mini" in model else _FULL
    text_in_tokens = max(0, usage.input_tokens - usage.input_audio_tokens - usage.cached_tokens)
    text_out_tokens = max(0, usage.output_tokens - usage.output_audio_tokens)
    total = (
        usage.input_audio_tokens * audio_in
        + usage.cached_tokens * cached
        + usage.output_audio_tokens * audio_out
        + text_in_tokens * text_in
        + text_out_tokens * text_out
    ) / _MILLION
    return total.quantize(Decimal("0.0001"))
