"""Availability with a linked calendar that takes 100 ms to answer (docs/performance.md).

    python -m benchmarks.calendar [--requests 400] [--latency 0.1] [--concurrency 8] [--json]

Starts the service on a real uvicorn and an embedded PostgreSQL, linked to the Google Calendar
double (every freeBusy answer delayed by --latency) or the Cal.com double, and asks the
built-in backend's availability route the way the check_availability tool does, for days
spread over the next two weeks in random order, several callers at once. Prints p50 / p95 /
p99 of each answer's wall time and how many reads reached the calendar, for free/busy cached
(CALENDAR_CACHE_SECONDS=30, the default) and not cached (0), and for Cal.com, which holds the
bookings and is asked every time. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from app.calendar.links import LinkStore
from app.config import LogFormat, load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import project_root, upgrade
from app.logging import configure_logging
from app.main import create_app
from app.runtime import Runtime
from benchmarks.stats import percentile
from tests.doubles.calcom import EventType, FakeCalcom
from tests.doubles.google_calendar import FakeGoogle
from tests.doubles.server import free_port, serve_app

SECRET = "benchmark-calendar-secret-" + "0" * 32
NY = ZoneInfo("America/New_York")
PROFILES = project_root() / "tests" / "fixtures"


@dataclass(frozen=True)
class Row:
    calendar: str
    cache_seconds: float
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    calendar_reads: int


@asynccontextmanager
async def _service(data: Path, url: str, port: int, **settings: Any) -> AsyncIterator[Runtime]:
    config = load_settings(
        database_url=url,
        data_dir=data,
        port=port,
        secret_key=SECRET,
        log_level="WARNING",
        log_format=LogFormat.JSON,
        _env_file=None,
        **settings,
    )
    configure_logging("WARNING", LogFormat.CONSOLE)
    app = create_app(config)
    async with serve_app(app, port):
        yield app.state.runtime


async def _ask(runtime: Runtime, days: list[date], service: str, concurrency: int) -> list[float]:
    """Each request's wall time in ms, `concurrency` callers asking at once."""
    queue: asyncio.Queue[date] = asyncio.Queue()
    for day in days:
        queue.put_nowait(day)
    times: list[float] = []

    async def caller() -> None:
        while not queue.empty():
            day = queue.get_nowait()
            began = time.perf_counter()
            await runtime.business.client.get_availability(day, service)
            times.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return sorted(times)


def _row(name: str, cache: float, times: list[float], reads: int) -> Row:
    def pct(p: float) -> float:
        return round(percentile(times, p) or 0.0, 1)

    return Row(name, cache, len(times), pct(50), pct(95), pct(99), round(times[-1], 1), reads)


def _days(requests: int, seed: int) -> list[date]:
    """Callers ask about the next two weeks, the nearer days more often."""
    rng = random.Random(seed)
    today = datetime.now(NY).date()
    return [today + timedelta(days=min(int(rng.expovariate(1 / 3)), 13)) for _ in range(requests)]


async def measure(requests: int, latency: float, concurrency: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-calendar-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        url = await pg.start()
        try:
            await upgrade(url)
            for cache in (30.0, 0.0):
                async with FakeGoogle() as google:
                    google.latency = latency
                    port = free_port()
                    async with _service(
                        Path(tmp) / f"g{cache}",
                        url,
                        port,
                        business_profile=PROFILES / "always_open.toml",
                        calendar="google",
                        calendar_cache_seconds=cache,
                        google_client_id=google.client_id,
                        google_client_secret=google.client_secret,
                        google_token_url=google.token_url,
                        google_calendar_api_base=google.api_base,
                    ) as runtime:
                        assert runtime.calendar is not None and runtime.calendar.links
                        links: LinkStore = runtime.calendar.links
                        await links.link(
                            "google", {"calendar_id": "primary"}, {"refresh_token": google.grant()}
                        )
                        await runtime.calendar.forget()
                        await _ask(runtime, _days(20, 1), "Cleaning", concurrency)  # warm-up
                        before = google.count("/freeBusy")
                        times = await _ask(runtime, _days(requests, 2), "Cleaning", concurrency)
                        rows.append(
                            _row("google", cache, times, google.count("/freeBusy") - before)
                        )
            async with FakeCalcom() as cal:
                cal.latency = latency
                cal.add_event_type(
                    EventType(123, length_minutes=30, opens=clock(9), closes=clock(17))
                )
                port = free_port()
                async with _service(
                    Path(tmp) / "c",
                    url,
                    port,
                    business_profile=PROFILES / "calcom_salon.toml",
                    calendar="calcom",
                    calcom_api_base=cal.base_url,
                ) as runtime:
                    assert runtime.calendar is not None
                    await runtime.calendar.links.link("calcom", {}, {"api_key": cal.api_key})
                    await runtime.calendar.forget()
                    await _ask(runtime, _days(20, 1), "Haircut", concurrency)
                    before = cal.count("/v2/slots")
                    times = await _ask(runtime, _days(requests, 2), "Haircut", concurrency)
                    rows.append(_row("calcom", 0.0, times, cal.count("/v2/slots") - before))
        finally:
            await pg.stop()
    return rows


def format_rows(rows: list[Row], latency: float, concurrency: int) -> str:
    lines = [
        f"Availability with a calendar answering in {latency * 1000:.0f} ms, "
        f"{concurrency} callers at once (wall time per answer, ms):",
        f"{'calendar':<8} {'cache s':>7} {'requests':>8} {'p50':>7} {'p95':>7} {'p99':>7} "
        f"{'max':>7} {'calendar reads':>14}",
    ]
    for r in rows:
        lines.append(
            f"{r.calendar:<8} {r.cache_seconds:>7.0f} {r.requests:>8} {r.p50_ms:>7.1f} "
            f"{r.p95_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.calendar_reads:>14}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calendar")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.1, help="the calendar's answer time, s")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.requests, args.latency, args.concurrency))
    if args.json:
        sys.stdout.write(orjson.dumps([asdict(r) for r in rows]).decode() + "\n")
    else:
        sys.stdout.write(format_rows(rows, args.latency, args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
