"""What one benchmark run is: the scenario, its size, the fake model's timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "GREETING_TEXT",
    "MB",
    "SCENARIOS",
    "BenchConfig",
    "default_config",
]

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
SCENARIOS = ("relay", "load", "soak", "two-machines", "metrics")
GREETING_TEXT = "Thanks for calling Maple Street Dental, how can I help you today?"
MB = 1024 * 1024


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run. The model and timing knobs follow the issue's "live call" benchmark."""

    scenario: str = "relay"
    calls: int = 50  # relay/load: concurrent calls; soak: calls per wave
    seconds: float = 20.0  # relay/load: length of each call
    waves: int = 10  # soak only
    # Call starts spread evenly over this; default N x 100 ms, at most 10 s and half a call.
    ramp_seconds: float | None = None
    preconnect_ttl_seconds: float | None = None  # the server's PRECONNECT_TTL_SECONDS (soak)
    connect_delay_ms: int = 150  # fake model: WebSocket handshake latency
    first_audio_delay_ms: int = 300  # fake model: response.create -> first audio
    webhook_gap_seconds: float = 0.4  # Twilio: webhook answered -> Media Stream connects
    speak_every_seconds: float = 4.0
    utterance_ms: int = 800
    greeting_ms: int = 2000
    metrics: bool = True  # the server's METRICS_PORT: a free port, or 0 (off)

    @property
    def ramp(self) -> float:
        if self.ramp_seconds is not None:
            return max(0.0, self.ramp_seconds)
        return min(10.0, self.seconds / 2, 0.1 * max(self.calls - 1, 0))


def default_config(
    scenario: str,
    calls: int | None = None,
    seconds: float | None = None,
    waves: int | None = None,
    **overrides: Any,
) -> BenchConfig:
    """The scenario's defaults (relay 50 x 20 s, load 200 x 120 s, soak 10 waves x 20 calls)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    base_calls, base_seconds = {
        "relay": (50, 20.0),
        "load": (200, 120.0),
        "soak": (20, 0.0),
        "two-machines": (40, 0.0),
        "metrics": (50, 20.0),  # the relay scenario, with and without metrics
    }[scenario]
    return BenchConfig(
        scenario=scenario,
        calls=calls if calls is not None else base_calls,
        seconds=seconds if seconds is not None else base_seconds,
        waves=waves if waves is not None else 10,
        **overrides,
    )
