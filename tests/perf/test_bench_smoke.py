"""The benchmarks of benchmarks/, run tiny through the same code path: correctness only.

Each scenario starts its own `receptionist serve` subprocess on the embedded database. Nothing
here asserts a time: the figures belong to `make bench` and docs/performance.md.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from benchmarks.__main__ import main
from benchmarks.config import default_config
from benchmarks.report import format_report
from benchmarks.run import run


def test_bench_refuses_zero_calls_without_starting_anything() -> None:
    assert main(["--calls", "0"]) == 2


def _assert_conversations_clean(result: dict[str, Any], calls: int) -> None:
    assert result["calls_ok"] == calls, result["errors"]
    frames = result["frames"]
    assert frames["caller_to_model_sent"] > 0 and frames["model_to_caller_sent"] > 0
    assert frames["caller_to_model_lost"] == 0
    assert frames["model_to_caller_lost"] == 0
    assert frames["misrouted"] == 0
    assert result["rows"]["lost"] == 0 and result["rows"]["turns_extra"] == 0
    assert result["model_sessions_left_open"] == 0
    assert result["protocol_errors"] == 0
    assert result["relay_latency_ms"]["caller_to_model"]["count"] > 0
    assert result["relay_latency_ms"]["model_to_caller"]["count"] > 0
    assert result["greeting_latency_ms"]["count"] == calls
    assert "frames lost caller->model: 0 of" in format_report(result)


@pytest.mark.timeout(90)
async def test_relay_scenario_loses_no_frame() -> None:
    result = await run(default_config("relay", calls=2, seconds=4))
    _assert_conversations_clean(result, 2)


@pytest.mark.timeout(90)
async def test_load_scenario_loses_no_frame_and_no_row() -> None:
    # 6 s leaves room for one caller utterance and its reply after the greeting.
    result = await run(default_config("load", calls=3, seconds=6))
    _assert_conversations_clean(result, 3)
    assert result["caller_utterances"] == 3


@pytest.mark.timeout(90)
async def test_soak_scenario_leaks_no_model_session() -> None:
    config = default_config("soak", calls=5, waves=2, preconnect_ttl_seconds=2)
    result = await run(config)
    assert result["leaked_model_sessions"] == 0
    assert result["calls_failed"] == 0, result["errors"]
    assert [w["open_model_sessions"] for w in result["per_wave"]] == [0, 0]
    assert "leaked model sessions: 0" in format_report(result)


def test_model_cost_benchmark_prices_a_scripted_call_per_minute() -> None:
    from benchmarks.models import main as models_main

    assert models_main(["--models", "gpt-realtime-9"]) == 2
    out: list[str] = []
    assert (
        models_main(["--models", "gpt-realtime-2.1-mini", "--no-ladder", "--json"], out.append) == 0
    )
    [result] = orjson.loads(out[0])
    assert result["model"] == "gpt-realtime-2.1-mini" and not result["moved"]
    assert result["input_audio_tokens"] > 0 and result["output_audio_tokens"] > 0
    assert 0 < float(result["cost_per_minute_usd"]) < 1
