"""The metrics scenario: the relay scenario with metrics on, then off, and what they cost.

"On" is the service as deployed: METRICS_PORT set, one frame in 16 timed on each direction of
the relay, every call, turn and tool counted. "Off" is METRICS_PORT=0, which also stops the
frame timing: the frame path then does no metrics work at all. The figure that matters is the
server's CPU seconds per call-minute; the runs alternate (off, on, off, on, ...) so a machine
that gets busier or quieter during the benchmark does not favour one side.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from app.call import events as E
from app.call.meter import CallMeter
from app.metrics import Metrics
from benchmarks.config import BenchConfig
from benchmarks.relay import run_conversations

__all__ = ["format_metrics_report", "run_metrics_cost"]

ROUNDS = 2
# A call-minute relays 20 ms frames both ways: 3,000 a direction.
FRAMES_PER_CALL_MINUTE = 3000


def frame_path_cost(frames: int = 300_000) -> dict[str, float]:
    """What the meter adds per frame, in process: metrics on vs off (METRICS_PORT=0), the same
    calls the driver makes per caller frame and per agent audio frame."""
    event = E.AgentAudio(0, "r", "i", "AAAA", 160)

    def per_frame(meter: CallMeter) -> float:
        start = time.process_time()
        for _ in range(frames):
            timed = meter.caller_frame()
            if timed:
                meter.caller_frame_sent(timed)
            meter.agent_frame(event)
            meter.handled(event)
        return (time.process_time() - start) / frames  # seconds per frame, both directions

    on = per_frame(CallMeter(Metrics(), "phone"))
    off = per_frame(CallMeter(Metrics(frame_sampling=False), "phone"))
    return {
        "ns_per_frame_pair_on": round(on * 1e9),
        "ns_per_frame_pair_off": round(off * 1e9),
        "cpu_ms_per_call_minute": round((on - off) * FRAMES_PER_CALL_MINUTE * 1000, 3),
    }


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    server = result["server"]
    return {
        "cpu_seconds_per_call_minute": server["cpu_seconds_per_call_minute"],
        "cores_used": server["cores_used"],
        "relay_latency_ms": result["relay_latency_ms"],
        "frames_lost": result["frames"]["caller_to_model_lost"]
        + result["frames"]["model_to_caller_lost"],
        "calls_failed": result["calls_failed"],
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


async def run_metrics_cost(config: BenchConfig) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        for side in ("off", "on"):
            relay = replace(config, scenario="relay", metrics=side == "on")
            runs[side].append(_figures(await run_conversations(relay)))
    per_minute = {
        side: _mean(
            [r["cpu_seconds_per_call_minute"] for r in rs if r["cpu_seconds_per_call_minute"]]
        )
        for side, rs in runs.items()
    }
    off, on = per_minute["off"], per_minute["on"]
    return {
        "scenario": "metrics",
        "calls": config.calls,
        "seconds_per_call": config.seconds,
        "rounds": ROUNDS,
        "cpu_seconds_per_call_minute": per_minute,
        "metrics_cost_cpu_seconds_per_call_minute": (
            round(on - off, 4) if on is not None and off is not None else None
        ),
        "metrics_cost_percent": (round((on - off) / off * 100, 1) if on and off else None),
        "frame_path": frame_path_cost(),
        "runs": runs,
    }


def format_metrics_report(result: dict[str, Any]) -> str:
    per_minute = result["cpu_seconds_per_call_minute"]
    lines = [
        f"benchmark: metrics, {result['calls']} calls x {result['seconds_per_call']:.0f} s, "
        f"{result['rounds']} rounds each side (alternating)",
        f"server CPU per call-minute without metrics: {per_minute['off']} s",
        f"server CPU per call-minute with metrics:    {per_minute['on']} s",
        f"cost of metrics: {result['metrics_cost_cpu_seconds_per_call_minute']} s per "
        f"call-minute ({result['metrics_cost_percent']}%)",
    ]
    frame = result["frame_path"]
    lines.append(
        f"frame path alone (in process): {frame['ns_per_frame_pair_on']} ns per frame pair "
        f"with metrics, {frame['ns_per_frame_pair_off']} ns without: "
        f"{frame['cpu_ms_per_call_minute']} ms CPU per call-minute"
    )
    for side in ("off", "on"):
        for i, run in enumerate(result["runs"][side], 1):
            m2c = run["relay_latency_ms"]["model_to_caller"]
            lines.append(
                f"  {side:>3} run {i}: {run['cpu_seconds_per_call_minute']} s/call-minute, "
                f"model->caller p50 {m2c['p50']} ms p99 {m2c['p99']} ms, "
                f"frames lost {run['frames_lost']}, calls failed {run['calls_failed']}"
            )
    return "\n".join(lines) + "\n"
