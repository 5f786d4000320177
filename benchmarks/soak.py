"""The soak scenario: waves of mixed calls, and what the server still holds after each."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from app.config import Settings
from benchmarks.calls import Bench
from benchmarks.config import AUTH_TOKEN, GREETING_TEXT, MB, BenchConfig
from benchmarks.cpu import load_average
from benchmarks.ledger import FrameLedger
from benchmarks.server import ServerUnderTest
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig

__all__ = ["FORGED_SIGNATURE", "SOAK_KINDS", "run_soak"]

SOAK_KINDS = ("talk", "drop", "bad_signature", "bad_token", "no_stream")
FORGED_SIGNATURE = "bm90LWEtc2lnbmF0dXJl"


async def _soak_call(bench: Bench, kind: str, delay: float) -> str | None:
    """One call of the given kind; returns an error text if it did not go as Twilio's would."""
    await asyncio.sleep(delay)
    cfg = bench.config
    async with (
        httpx.AsyncClient(timeout=30.0, trust_env=False) as http,
        FakeTwilioCaller(bench.server.base_url, AUTH_TOKEN, CallerConfig(), http=http) as caller,
    ):
        try:
            if kind == "bad_signature":
                response = await caller.post_webhook(signature=FORGED_SIGNATURE)
                return None if response.status_code == 403 else f"webhook {response.status_code}"
            twiml = await caller.dial()
            if kind == "no_stream":
                return None  # the session opened at webhook time must be closed by its TTL
            await asyncio.sleep(cfg.webhook_gap_seconds)
            if kind == "bad_token":
                forged = dict(twiml.parameters, token="9999999999.forged")
                await caller.connect_stream(twiml, parameters=forged)
                code = await caller.wait_closed(10)
                return None if code == 1008 else f"bad token stream closed with {code}"
            await caller.connect_stream(twiml)
            if kind == "drop":
                await caller.wait_for_audio(300, timeout=30)
                await caller.drop()
                return None
            await caller.wait_until_heard(cfg.greeting_ms, timeout=30)
            caller.say(cfg.utterance_ms)
            await caller.wait_for_audio(cfg.greeting_ms + bench.reply_ms, timeout=30)
            await caller.wait_until_heard(cfg.greeting_ms + bench.reply_ms, timeout=30)
            await caller.hangup()
            return None
        except Exception as exc:
            return f"{kind}: {type(exc).__name__}: {exc}"[:300]


async def run_soak(config: BenchConfig) -> dict[str, Any]:
    """Waves of mixed calls; after each, what the server still holds."""
    model_config = FakeRealtimeConfig(
        connect_delay_ms=config.connect_delay_ms,
        first_audio_delay_ms=config.first_audio_delay_ms,
        greeting=AudioReply(GREETING_TEXT, config.greeting_ms),
        rate_limits_events=False,
    )
    model = FakeRealtimeServer(model_config, validate=False)
    load_before = load_average()
    await model.start()
    server = ServerUnderTest(
        model.url, max_calls=config.calls, preconnect_ttl_seconds=config.preconnect_ttl_seconds
    )
    ttl = config.preconnect_ttl_seconds or Settings.model_fields["preconnect_ttl_seconds"].default
    waves: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        await server.start()
        bench = Bench(config, model, server, FrameLedger())
        await bench.warm_up()
        await asyncio.sleep(1.0)
        baseline = {
            "rss_mb": round(server.rss() / MB, 2),
            "fds": server.fds(),
            "tcp": sum(server.tcp().values()),
        }
        began = time.monotonic()
        for wave in range(1, config.waves + 1):
            wave_began = time.monotonic()
            step = 1.0 / max(config.calls - 1, 1)  # a wave arrives within a second
            kinds = [SOAK_KINDS[i % len(SOAK_KINDS)] for i in range(config.calls)]
            results = await asyncio.gather(
                *(_soak_call(bench, kind, i * step) for i, kind in enumerate(kinds))
            )
            errors += [e for e in results if e]
            # Every model session must close: on hang-up, on drop, and by TTL when unused.
            open_left = await bench.wait_sessions_closed(model.sessions, float(ttl) + 20)
            await asyncio.sleep(1.0)  # let the server let go of its sockets
            tcp = server.tcp()
            waves.append(
                {
                    "wave": wave,
                    "calls": config.calls,
                    "seconds": round(time.monotonic() - wave_began, 1),
                    "rss_mb": round(server.rss() / MB, 2),
                    "fds": server.fds(),
                    "tcp": sum(tcp.values()),
                    "tcp_established": tcp.get("ESTABLISHED", 0),
                    "open_model_sessions": open_left,
                    "model_sessions_total": len(model.sessions),
                }
            )
        duration = time.monotonic() - began
        levels = server.log_counts()
    finally:
        await server.stop()
        await model.stop()
    first = waves[1] if len(waves) > 1 else waves[0]
    last = waves[-1]
    return {
        "scenario": "soak",
        "waves": config.waves,
        "calls_per_wave": config.calls,
        "kinds": list(SOAK_KINDS),
        "preconnect_ttl_seconds": ttl,
        "seconds": round(duration, 1),
        "baseline": baseline,
        "per_wave": waves,
        "drift_from_wave_2": {
            "rss_mb": round(last["rss_mb"] - first["rss_mb"], 2),
            "fds": last["fds"] - first["fds"],
            "tcp": last["tcp"] - first["tcp"],
        },
        "leaked_model_sessions": last["open_model_sessions"],
        "errors": errors[:10],
        "calls_failed": len(errors),
        "server_log_lines": levels,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }
