"""Each model priced from its own page; cached audio and text apart; unknown models at the top."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.call.events import Usage
from app.realtime.models import MODELS, dearest, prices_of
from app.realtime.pricing import cost_per_minute, estimate_cost, estimate_ladder_cost

MILLION = 1_000_000


@pytest.mark.parametrize(
    ("model", "text_out"),
    [
        ("gpt-realtime-2.1", "24"),
        ("gpt-realtime-2", "24"),
        ("gpt-realtime-2.1-mini", "2.40"),
        ("gpt-realtime-1.5", "16"),
        ("gpt-realtime", "16"),
    ],
)
def test_text_output_is_priced_per_model(model: str, text_out: str) -> None:
    """The 2.x models bill text output at $24 per 1M, not the $16 of the older full models."""
    usage = Usage(output_tokens=MILLION)
    assert estimate_cost(model, usage) == Decimal(text_out)


def test_a_million_of_each_kind_adds_up_to_the_page_prices() -> None:
    one_each = Usage(
        input_tokens=4 * MILLION,
        output_tokens=2 * MILLION,
        input_audio_tokens=2 * MILLION,
        output_audio_tokens=MILLION,
        cached_tokens=2 * MILLION,
        cached_audio_tokens=MILLION,
        cached_text_tokens=MILLION,
    )
    # audio in 32 + cached audio 0.40 + text in 4 + cached text 0.40 + audio out 64 + text out 24
    assert estimate_cost("gpt-realtime-2.1", one_each) == Decimal("124.80")
    # audio in 10 + cached audio 0.30 + text in 0.60 + cached text 0.06 + out 20 + 2.40
    assert estimate_cost("gpt-realtime-2.1-mini", one_each) == Decimal("33.36")


def test_cached_audio_is_not_also_billed_as_fresh_audio() -> None:
    fresh = Usage(input_tokens=MILLION, input_audio_tokens=MILLION)
    cached = Usage(
        input_tokens=MILLION,
        input_audio_tokens=MILLION,
        cached_tokens=MILLION,
        cached_audio_tokens=MILLION,
    )
    assert estimate_cost("gpt-realtime-2.1-mini", fresh) == Decimal(10)
    assert estimate_cost("gpt-realtime-2.1-mini", cached) == Decimal("0.30")


def test_unsplit_cached_tokens_are_priced_at_the_dearer_cached_rate() -> None:
    """Without cached_tokens_details the estimate errs high: text first, audio's cached rate."""
    usage = Usage(input_tokens=2 * MILLION, input_audio_tokens=MILLION, cached_tokens=MILLION)
    # mini: fresh audio 10 + unsplit cached (taken from text) at max(0.30, 0.06)
    assert estimate_cost("gpt-realtime-2.1-mini", usage) == Decimal("10.30")


def test_an_unknown_model_is_priced_as_the_dearest() -> None:
    usage = Usage(
        input_tokens=MILLION,
        output_tokens=MILLION,
        input_audio_tokens=MILLION,
        output_audio_tokens=MILLION // 2,
    )
    dearest_known = max(estimate_cost(name, usage) for name in MODELS)
    assert estimate_cost("gpt-realtime-9", usage) == dearest_known
    assert prices_of("gpt-realtime-9") == dearest()
    assert dearest().text_out == Decimal(24) and dearest().audio_out == Decimal(64)


def test_every_model_cites_where_its_prices_come_from() -> None:
    for model in MODELS.values():
        assert model.source.startswith("https://developers.openai.com/"), model.name


def test_cost_per_minute() -> None:
    usage = Usage(output_tokens=MILLION, output_audio_tokens=MILLION)  # $64 on 2.1
    assert cost_per_minute("gpt-realtime-2.1", usage, 120_000) == Decimal(32)
    assert cost_per_minute("gpt-realtime-2.1", usage, 0) == Decimal(0)


def test_a_call_that_moved_up_the_ladder_pays_each_model_for_its_own_part() -> None:
    small_part = Usage(output_tokens=MILLION, output_audio_tokens=MILLION)  # $20 on the mini
    total = Usage(output_tokens=2 * MILLION, output_audio_tokens=2 * MILLION)  # + $64 on 2.1
    cost = estimate_ladder_cost("gpt-realtime-2.1-mini", "gpt-realtime-2.1", total, small_part)
    assert cost == Decimal(84)
    assert estimate_ladder_cost("gpt-realtime-2.1-mini", None, total, None) == Decimal(40)
