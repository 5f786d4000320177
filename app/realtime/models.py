"""The Realtime models the receptionist knows: what each can do and what it costs (list prices).

A model is a deliberate choice (README "Choosing a model"): `OPENAI_REALTIME_MODEL` must name
one of these, so a typo is refused at start-up rather than failing the first call. Prices are
USD per 1M tokens, copied from each model's page on developers.openai.com (cited per row); the
`reasoning` flag says whether the model takes `reasoning.effort` (the 2.x models' pages say
"Reasoning token support"; 1.5 and the original models have no such setting).

This module imports nothing of the app, so app/config.py can check names against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens."""

    audio_in: Decimal
    audio_cached: Decimal
    audio_out: Decimal
    text_in: Decimal
    text_cached: Decimal
    text_out: Decimal


@dataclass(frozen=True)
class RealtimeModel:
    name: str
    reasoning: bool  # takes `reasoning.effort`, may speak a preamble before its answer
    prices: Prices
    good_for: str
    source: str  # where the prices come from
    retiring: str | None = None  # announced shutdown date


def _p(*values: str) -> Prices:
    return Prices(*(Decimal(v) for v in values))


MODELS: dict[str, RealtimeModel] = {
    m.name: m
    for m in (
        RealtimeModel(
            "gpt-realtime-2.1",
            reasoning=True,
            # Text $4 / $0.40 cached / $24 out; audio $32 / $0.40 cached / $64 out.
            prices=_p("32", "0.40", "64", "4", "0.40", "24"),
            good_for="the default: best with spelled names, numbers, noise and interruptions",
            source="https://developers.openai.com/api/docs/models/gpt-realtime-2.1",
        ),
        RealtimeModel(
            "gpt-realtime-2.1-mini",
            reasoning=True,
            # Text $0.60 / $0.06 cached / $2.40 out; audio $10 / $0.30 cached / $20 out.
            prices=_p("10", "0.30", "20", "0.60", "0.06", "2.40"),
            good_for="routine calls at about a quarter of the cost; the small rung of the ladder",
            source="https://developers.openai.com/api/docs/models/gpt-realtime-2.1-mini",
        ),
        RealtimeModel(
            "gpt-realtime-2",
            reasoning=True,
            prices=_p("32", "0.40", "64", "4", "0.40", "24"),
            good_for="the previous reasoning model; 2.1 is better on the phone at the same price",
            source="https://developers.openai.com/api/docs/models/gpt-realtime-2",
        ),
        RealtimeModel(
            "gpt-realtime-1.5",
            reasoning=False,
            # Text output is $16 here, not the 2.x models' $24.
            prices=_p("32", "0.40", "64", "4", "0.40", "16"),
            good_for="fast answers without reasoning (32k context: long calls truncate sooner)",
            source="https://developers.openai.com/api/docs/models/gpt-realtime-1.5",
        ),
        RealtimeModel(
            "gpt-realtime",
            reasoning=False,
            # The stored compare page confirms the text prices ($4 / $0.40 / $16); the audio
            # prices ($32 / $0.40 / $64) could not be confirmed from the stored sources and are
            # those of gpt-realtime-1.5, its successor at the same text prices.
            prices=_p("32", "0.40", "64", "4", "0.40", "16"),
            good_for="nothing new: shuts down 2027-01-20",
            source="https://developers.openai.com/api/docs/models/compare?model=gpt-realtime",
            retiring="2027-01-20",
        ),
        RealtimeModel(
            "gpt-realtime-mini",
            reasoning=False,
            # gpt-realtime-2.1-mini's page compares it at the same $0.60 text input. The rest
            # could not be confirmed from the stored sources: these are 2.1-mini's audio prices
            # and text output, with the older $0.30 cached rate for text (the dearer guess).
            prices=_p("10", "0.30", "20", "0.60", "0.30", "2.40"),
            good_for="nothing new: shuts down 2027-01-20",
            source="https://developers.openai.com/api/docs/models/gpt-realtime-2.1-mini",
            retiring="2027-01-20",
        ),
    )
}

REASONING_EFFORTS = ("minimal", "low", "medium", "high")


def dearest() -> Prices:
    """Each price at its highest over every known model: how an unknown model is priced, so an
    estimate never comes out lower than the bill."""
    every = [m.prices for m in MODELS.values()]
    return Prices(
        *(
            max(getattr(p, f) for p in every)
            for f in ("audio_in", "audio_cached", "audio_out", "text_in", "text_cached", "text_out")
        )
    )


def prices_of(model: str) -> Prices:
    known = MODELS.get(model)
    return known.prices if known is not None else dearest()


def check_model(name: str) -> str:
    """The name if it is a known Realtime model; a ValueError naming the choices if not."""
    if name not in MODELS:
        raise ValueError(f"unknown Realtime model {name!r}; use one of {', '.join(MODELS)}")
    return name


def takes_reasoning(model: str) -> bool:
    known = MODELS.get(model)
    return known is not None and known.reasoning
