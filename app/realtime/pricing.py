"""An estimate of what a call cost in Realtime tokens, at each model's list prices (models.py).

The usage of a `response.done` counts cached tokens as a subset of the input tokens, and says
(in `cached_tokens_details`) how many of them were audio and how many text; cached audio and
cached text are priced apart. Where a usage does not split its cached tokens, they are taken
from the text first and priced at the dearer cached rate, so the estimate errs high, never low.
"""

from __future__ import annotations

from decimal import Decimal

from app.call.events import Usage
from app.realtime.models import Prices, prices_of

_MILLION = Decimal(1_000_000)


def estimate_cost(model: str, usage: Usage) -> Decimal:
    """USD for `usage` on `model`; an unknown model is priced as the dearest known one."""
    return (_micro_usd(prices_of(model), usage) / _MILLION).quantize(Decimal("0.0001"))


def _micro_usd(p: Prices, usage: Usage) -> Decimal:
    audio_in = usage.input_audio_tokens
    text_in = max(0, usage.input_tokens - audio_in)
    cached_audio = min(usage.cached_audio_tokens, audio_in)
    cached_text = min(usage.cached_text_tokens, text_in)
    unsplit = max(0, usage.cached_tokens - cached_audio - cached_text)
    unsplit_text = min(unsplit, text_in - cached_text)
    unsplit_audio = min(unsplit - unsplit_text, audio_in - cached_audio)
    text_out = max(0, usage.output_tokens - usage.output_audio_tokens)
    return (
        (audio_in - cached_audio - unsplit_audio) * p.audio_in
        + cached_audio * p.audio_cached
        + (text_in - cached_text - unsplit_text) * p.text_in
        + cached_text * p.text_cached
        + (unsplit_text + unsplit_audio) * max(p.audio_cached, p.text_cached)
        + usage.output_audio_tokens * p.audio_out
        + text_out * p.text_out
    )


def estimate_ladder_cost(
    first: str, second: str | None, usage: Usage, first_usage: Usage | None
) -> Decimal:
    """A call's cost over both rungs of the ladder: what `first` used at its prices, the rest
    at `second`'s (a call that never moved: all of it at `first`'s)."""
    if second is None or first_usage is None:
        return estimate_cost(first, usage)
    micro = _micro_usd(prices_of(first), first_usage)
    micro += _micro_usd(prices_of(second), usage - first_usage)
    return (micro / _MILLION).quantize(Decimal("0.0001"))


def cost_per_minute(model: str, usage: Usage, call_ms: int) -> Decimal:
    """USD per minute of call for a call of `call_ms` that used `usage` (the benchmark's figure)."""
    if call_ms <= 0:
        return Decimal(0)
    per_minute = _micro_usd(prices_of(model), usage) / _MILLION * 60_000 / call_ms
    return per_minute.quantize(Decimal("0.0001"))
