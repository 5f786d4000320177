"""`--scenario two-machines`: calls through Fly's proxy (the double) to two real Machines.

Three runs on one embedded Postgres, each with fresh `receptionist serve` processes:
- `one machine`: the proxy sends everything to Machine A (the baseline: no replay needed);
- `two, no routing`: two Machines without FLY_MACHINE_ID (the service before calls were pinned),
  webhook to A, every other request alternating: the stream often lands on B;
- `two, fly-replay`: the same adversarial balancing, with FLY_MACHINE_ID set: every request of a
  call is replayed to the Machine that holds it.
Per run: greeting after `start` (p50/p99), model sessions per call, replays per call.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from app.db.embedded import EmbeddedPostgres
from app.db.engine import upgrade
from benchmarks.config import BenchConfig
from benchmarks.stats import rounded, summary
from tests.doubles.fleet import FleetOfMachines
from tests.doubles.fly_proxy import Balance, adversarial
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.twilio_caller.config import CallerConfig

__all__ = ["format_fleet_report", "run_two_machines"]

CONCURRENT = 5  # calls at once: the point here is routing, not load


def _all_to_first() -> Balance:
    return lambda path, running: running[0]


async def _one_call(
    fleet: FleetOfMachines, config: BenchConfig, state: str
) -> tuple[float, int] | None:
    """The greeting latency in ms, and the number of protocol errors; None if it failed."""
    async with fleet.caller(CallerConfig(from_state=state)) as caller:
        twiml = await caller.dial()
        await asyncio.sleep(config.webhook_gap_seconds)  # Twilio sets up the media stream
        await caller.connect_stream(twiml)
        try:
            latency = await caller.wait_for_audio(1, timeout=10)
        except TimeoutError:
            return None
        await caller.wait_until_heard(400, timeout=10)
        await caller.hangup()
        await caller.post_webhook(twiml.connect_action or "/twilio/stream-ended")
        return latency * 1000, len(caller.protocol_errors)


async def _run_mode(
    name: str,
    db_url: str,
    data_dir: Path,
    config: BenchConfig,
    *,
    balance: Balance,
    pinned: bool,
) -> dict[str, Any]:
    model_config = FakeRealtimeConfig(
        connect_delay_ms=config.connect_delay_ms,
        first_audio_delay_ms=config.first_audio_delay_ms,
        greeting=AudioReply("Thanks for calling, how can I help?", 600),
    )
    env = {} if pinned else {"FLY_MACHINE_ID": ""}
    async with (
        FakeRealtimeServer(model_config, validate=False) as model,
        FleetOfMachines(
            db_url, data_dir / name.replace(" ", "-"), realtime_url=model.url, env=env
        ) as fleet,
    ):
        fleet.proxy.balance = balance
        results: list[tuple[float, int] | None] = []
        for start in range(0, config.calls, CONCURRENT):
            wave = range(start, min(config.calls, start + CONCURRENT))
            states = ["CA" if i % 2 else "TX" for i in wave]
            results += await asyncio.gather(*(_one_call(fleet, config, s) for s in states))
        await asyncio.sleep(1.0)  # let unadopted sessions show up as such
        done = [r for r in results if r is not None]
        return {
            "mode": name,
            "calls": config.calls,
            "failed": config.calls - len(done),
            "protocol_errors": sum(r[1] for r in done),
            "greeting_ms": rounded(summary([r[0] for r in done])),
            "model_sessions_per_call": round(len(model.sessions) / config.calls, 2),
            "replays_per_call": round(len(fleet.proxy.replays) / config.calls, 2),
            "cold_starts": sum(fleet.events(m, "model_session_cold_start") for m in fleet.ids),
            "replay_loops": fleet.proxy.stats.loops,
        }


async def run_two_machines(config: BenchConfig) -> dict[str, Any]:
    """Run the three modes; the figures as a JSON-ready dict."""
    root = Path(tempfile.mkdtemp(prefix="receptionist-fleet-bench-"))
    postgres = EmbeddedPostgres(root / "pg")
    url = await postgres.start()
    try:
        await upgrade(url)
        modes = [
            ("one machine", _all_to_first(), True),
            ("two, no routing", adversarial(), False),
            ("two, fly-replay", adversarial(), True),
        ]
        runs = [
            await _run_mode(name, url, root, config, balance=balance, pinned=pinned)
            for name, balance, pinned in modes
        ]
    finally:
        await postgres.stop()
    return {"scenario": "two-machines", "connect_delay_ms": config.connect_delay_ms, "runs": runs}


def format_fleet_report(result: dict[str, Any]) -> str:
    lines = [
        "two Machines behind Fly's proxy (double): webhook to A, other requests alternating; "
        f"model connect {result['connect_delay_ms']} ms",
        f"{'mode':<18} {'calls':>5} {'greeting p50/p99 ms':>20} {'sessions/call':>14} "
        f"{'replays/call':>13} {'cold starts':>11} {'failed':>6}",
    ]
    for run in result["runs"]:
        greeting = run["greeting_ms"]
        p50_p99 = f"{greeting['p50']} / {greeting['p99']}"
        lines.append(
            f"{run['mode']:<18} {run['calls']:>5} {p50_p99:>20} "
            f"{run['model_sessions_per_call']:>14} {run['replays_per_call']:>13} "
            f"{run['cold_starts']:>11} {run['failed']:>6}"
        )
    return "\n".join(lines) + "\n"
