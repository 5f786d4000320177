"""The relay and load scenarios: N concurrent conversations through one server process."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from benchmarks.calls import Bench, CallRecord
from benchmarks.config import GREETING_TEXT, MB, BenchConfig
from benchmarks.cpu import load_average
from benchmarks.ledger import FrameLedger
from benchmarks.measure import GcPauses, LoopLag, Snapshot
from benchmarks.server import ServerUnderTest
from benchmarks.stats import rounded, summary
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer

__all__ = ["run_conversations"]


async def _rows_check(
    server: ServerUnderTest, expected: dict[str, int], timeout: float = 60.0
) -> dict[str, int]:
    """Every call has a `calls` row with ended_at and the transcript turns the fake produced."""
    sids = list(expected)
    result = {"calls_missing": len(sids), "turns_missing": sum(expected.values()), "turns_extra": 0}
    if not sids:
        return result
    conn = await server.db()
    try:
        deadline = time.monotonic() + timeout
        while True:
            ended = {
                r["call_sid"]
                for r in await conn.fetch(
                    "SELECT call_sid FROM calls WHERE call_sid = ANY($1) AND ended_at IS NOT NULL",
                    sids,
                )
            }
            counts = {
                r["call_sid"]: int(r["n"])
                for r in await conn.fetch(
                    "SELECT call_sid, count(*) AS n FROM transcript_turns "
                    "WHERE call_sid = ANY($1) GROUP BY call_sid",
                    sids,
                )
            }
            result = {
                "calls_missing": sum(1 for sid in sids if sid not in ended),
                "turns_missing": sum(max(0, n - counts.get(sid, 0)) for sid, n in expected.items()),
                "turns_extra": sum(max(0, counts.get(sid, 0) - n) for sid, n in expected.items()),
            }
            # The server writes through a queue: give it until the deadline to flush.
            if not any(result.values()) or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def run_conversations(config: BenchConfig) -> dict[str, Any]:
    """The relay and load scenarios: N concurrent conversations through one server process."""
    ledger = FrameLedger()
    model_config = FakeRealtimeConfig(
        connect_delay_ms=config.connect_delay_ms,
        first_audio_delay_ms=config.first_audio_delay_ms,
        greeting=AudioReply(GREETING_TEXT, config.greeting_ms),
        stamp_deltas=True,
        rate_limits_events=False,
    )
    model = FakeRealtimeServer(
        model_config,
        validate=False,
        on_append=ledger.on_append,
        on_delta_sent=ledger.on_delta_sent,
    )
    load_before = load_average()
    await model.start()
    server = ServerUnderTest(model.url, max_calls=config.calls, metrics=config.metrics)
    try:
        await server.start()
        limits = httpx.Limits(max_connections=config.calls + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30.0, limits=limits, trust_env=False) as http:
            bench = Bench(config, model, server, ledger, http)
            await bench.warm_up()
            await asyncio.sleep(0.5)
            idle_cpu0, idle_wall0 = server.cpu_seconds(), time.monotonic()
            await asyncio.sleep(1.5)
            idle_cores = (server.cpu_seconds() - idle_cpu0) / (time.monotonic() - idle_wall0)
            idle_rss = server.rss()
            server.reset_peak()
            lag = LoopLag()
            records = [CallRecord(tag, bench.caller(tag)) for tag in range(1, config.calls + 1)]
            step = config.ramp / max(config.calls - 1, 1)
            with GcPauses() as gc_pauses:
                lag.start()
                before = Snapshot.take(server)
                await asyncio.gather(
                    *(
                        bench.conversation(r, i * step, config.seconds)
                        for i, r in enumerate(records)
                    )
                )
                sessions = [
                    ledger.session_of_tag[r.tag] for r in records if r.tag in ledger.session_of_tag
                ]
                still_open = await bench.wait_sessions_closed(sessions, 20)
                cpu = before.until(Snapshot.take(server))
                await lag.stop()
            peak_rss = server.peak_rss
            peak_server_cores, peak_bench_cores = server.peak_cores()
        callers = {r.tag: r.caller for r in records}
        m2c, m2c_lost, m2c_sent = ledger.model_to_caller(callers)
        c2m_lost = sum(
            max(0, len(ledger.sent_at.get(r.tag, ())) - ledger.appends[r.tag]) for r in records
        )
        c2m_sent = sum(len(ledger.sent_at.get(r.tag, ())) for r in records)
        expected_turns = {
            r.caller.call_sid: s.responses_started + len(s.caller_transcripts)
            for r in records
            if (s := ledger.session_of_tag.get(r.tag)) is not None
        }
        rows = await _rows_check(server, expected_turns)
        levels = server.log_counts()
    finally:
        await server.stop()
        await model.stop()
    call_minutes = sum(
        (r.ended - r.started) / 60 for r in records if r.started is not None and r.ended is not None
    )
    errors = [r.error for r in records if r.error]
    return {
        "scenario": config.scenario,
        "calls": config.calls,
        "seconds_per_call": config.seconds,
        "ramp_seconds": round(config.ramp, 2),
        "model": {
            "connect_delay_ms": config.connect_delay_ms,
            "first_audio_delay_ms": config.first_audio_delay_ms,
            "webhook_gap_ms": round(config.webhook_gap_seconds * 1000),
        },
        "calls_ok": len(records) - len(errors),
        "calls_failed": len(errors),
        "errors": errors[:5],
        "caller_utterances": sum(r.utterances for r in records),
        "call_minutes": round(call_minutes, 2),
        "greeting_latency_ms": rounded(
            summary([r.caller.greeting_latency_ms for r in records if r.caller.greeting_latency_ms])
        ),
        "relay_latency_ms": {
            "caller_to_model": rounded(summary(ledger.caller_to_model)),
            "model_to_caller": rounded(summary(m2c)),
        },
        "frames": {
            "caller_to_model_sent": c2m_sent,
            "caller_to_model_lost": c2m_lost,
            "model_to_caller_sent": m2c_sent,
            "model_to_caller_lost": m2c_lost,
            "misrouted": ledger.misrouted,
        },
        "rows": {**rows, "lost": rows["calls_missing"] + rows["turns_missing"]},
        "server": {
            "cpu_seconds": cpu["server_cpu_seconds"],
            "cores_used": cpu["server_cores"],
            "busiest_second_cores": peak_server_cores,
            "idle_cores": round(idle_cores, 4),
            "cpu_seconds_per_call_minute": (
                round(float(cpu["server_cpu_seconds"] or 0) / call_minutes, 3)
                if call_minutes
                else None
            ),
            "idle_rss_mb": round(idle_rss / MB, 1),
            "peak_rss_mb": round(peak_rss / MB, 1),
            "rss_per_call_mb": round((peak_rss - idle_rss) / MB / config.calls, 3),
            "started_in_seconds": round(server.started_in_s, 1),
            "log_lines": levels,
        },
        "model_sessions_left_open": still_open,
        "protocol_errors": sum(len(r.caller.protocol_errors) for r in records),
        "cpu": cpu,
        "bench_process": {
            "cores_used": cpu["bench_cores"],
            "busiest_second_cores": peak_bench_cores,
            "gc_pause_max_ms": round(max(gc_pauses.pauses, default=0.0), 1),
            "worst_sender_lag_ms": round(
                max((r.caller.max_send_lag_ms for r in records), default=0), 1
            ),
            "loop_lag_ms": rounded(summary(lag.lags)),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }
