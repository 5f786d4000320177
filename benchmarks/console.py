"""The staff console's page times on a full-size database (10,000 calls, ~200,000 turns).

    python -m benchmarks.console [--calls 10000] [--requests 50] [--json]

Fills a fresh embedded PostgreSQL with `receptionist demo-data`, starts the service on a real
uvicorn on 127.0.0.1, signs in, requests each page N times (after two warm-up requests) and
prints p50 / p99 of the server time (the app's Server-Timing header: from the request reaching
the app to its response head, rendering included) and of the client's wall time. Also prints
the search query's plan, to show it uses the full-text index. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.profile import load_profile
from app.config import LogFormat, load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, project_root, upgrade
from app.logging import configure_logging
from app.main import create_app
from app.staff.accounts import add_account
from app.staff.demo import fill_demo_data
from tests.doubles.server import serve_app

EMAIL, PASSWORD = "bench@example.com", "benchmark password"


@dataclass(frozen=True)
class PageTime:
    page: str
    path: str
    requests: int
    server_p50_ms: float
    server_p99_ms: float
    client_p50_ms: float
    client_p99_ms: float
    bytes: int


@dataclass(frozen=True)
class Report:
    data: str
    fill_seconds: float
    pages: list[PageTime]
    search_plan: str

    @property
    def search_uses_index(self) -> bool:
        return "transcript_turns_fts_idx" in self.search_plan

    def table(self) -> str:
        lines = [
            f"data: {self.data} (made in {self.fill_seconds:.1f} s)",
            "",
            f"{'page':<28} {'server p50':>10} {'p99':>8} {'client p50':>11} {'p99':>8} {'KB':>6}",
        ]
        for p in self.pages:
            lines.append(
                f"{p.page:<28} {p.server_p50_ms:>8.1f}ms {p.server_p99_ms:>6.1f}ms "
                f"{p.client_p50_ms:>9.1f}ms {p.client_p99_ms:>6.1f}ms {p.bytes / 1024:>6.1f}"
            )
        lines += [
            "",
            f"search uses the full-text index: {'yes' if self.search_uses_index else 'NO'}",
            "search plan (EXPLAIN ANALYZE):",
            self.search_plan,
        ]
        return "\n".join(lines)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@asynccontextmanager
async def _database(database_url: str | None) -> AsyncIterator[str]:
    if database_url is not None:
        yield database_url
        return
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        url = await embedded.start()
        try:
            yield url
        finally:
            await embedded.stop()


async def _pages(engine: AsyncEngine) -> list[tuple[str, str]]:
    """The pages to time, with real ids and a deep keyset cursor from the data."""
    async with engine.connect() as conn:
        busiest = (
            await conn.execute(
                text(
                    "SELECT call_sid FROM transcript_turns GROUP BY call_sid "
                    "ORDER BY count(*) DESC LIMIT 1"
                )
            )
        ).scalar_one()
        deep = (
            await conn.execute(
                text(
                    "SELECT started_at, id FROM calls ORDER BY started_at DESC, id DESC "
                    "OFFSET (SELECT count(*) / 2 FROM calls) LIMIT 1"
                )
            )
        ).one()
        number = (
            await conn.execute(text("SELECT from_number FROM calls ORDER BY id LIMIT 1"))
        ).scalar_one()
        day = (
            await conn.execute(
                text(
                    "SELECT started_at FROM calls ORDER BY started_at DESC "
                    "OFFSET (SELECT count(*) / 3 FROM calls) LIMIT 1"
                )
            )
        ).scalar_one()
    cursor = f"{deep.started_at.isoformat()}~{deep.id}"
    return [
        ("front door", "/"),
        ("today", "/staff/"),
        ("calls, first page", "/staff/calls"),
        ("calls, middle page", "/staff/calls?" + httpx.QueryParams(before=cursor).__str__()),
        ("calls, outcome filter", "/staff/calls?outcome=transfer_failed"),
        ("calls, one day", f"/staff/calls?date={day.date().isoformat()}"),
        ("calls, number", f"/staff/calls?number={number[-4:]}"),
        ("search, common word", "/staff/calls?q=appointment"),
        ("search, rare word", "/staff/calls?q=glasses"),
        ("search, no match", "/staff/calls?q=zanzibar"),
        ("one call", f"/staff/calls/{busiest}"),
        ("live transcript poll", f"/staff/calls/{busiest}/live?after=5"),
        ("messages waiting", "/staff/messages"),
        ("messages handled", "/staff/messages?show=handled"),
        ("appointments", "/staff/appointments"),
    ]


async def _search_plan(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "EXPLAIN ANALYZE SELECT c.call_sid FROM calls c WHERE EXISTS (SELECT 1 FROM "
                "transcript_turns t WHERE t.call_sid = c.call_sid AND to_tsvector('english', "
                "t.text) @@ websearch_to_tsquery('english', 'glasses')) "
                "ORDER BY c.started_at DESC, c.id DESC LIMIT 26"
            )
        )
        return "\n".join(r[0] for r in rows)


async def run(
    calls: int = 10_000,
    turns: int = 21,
    requests: int = 50,
    database_url: str | None = None,
    data_dir: Path | None = None,
) -> Report:
    """Fill, serve, sign in, time every page. Small numbers make it a quick correctness run."""
    profile = load_profile(project_root() / "prompts" / "business.toml")
    async with _database(database_url) as url:
        await upgrade(url)
        engine = make_engine(url, pool_size=2)
        try:
            started = time.perf_counter()
            summary = await fill_demo_data(engine, profile, calls=calls, turns=turns, seed=7)
            fill_seconds = time.perf_counter() - started
            await add_account(engine, EMAIL, PASSWORD)
            pages = await _pages(engine)
            plan = await _search_plan(engine)
        finally:
            await engine.dispose()
        with tempfile.TemporaryDirectory(prefix="console-bench-data-") as tmp:
            settings = load_settings(
                database_url=url,
                data_dir=data_dir or Path(tmp),
                secret_key="benchmark-only-secret-key-0123456789",
                log_level="WARNING",
                _env_file=None,
            )
            app = create_app(settings)
            async with (
                serve_app(app) as server,
                httpx.AsyncClient(base_url=server.http_url, timeout=30) as http,
            ):
                await _sign_in(http)
                timed = [await _time(http, name, path, requests) for name, path in pages]
    return Report(str(summary), fill_seconds, timed, plan)


async def _sign_in(http: httpx.AsyncClient) -> None:
    form = await http.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = await http.post(
        "/staff/login", data={"csrf_token": token[1], "email": EMAIL, "password": PASSWORD}
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed: {response.status_code}")


async def _time(http: httpx.AsyncClient, name: str, path: str, requests: int) -> PageTime:
    server: list[float] = []
    client: list[float] = []
    size = 0
    for attempt in range(requests + 2):
        started = time.perf_counter()
        response = await http.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        if attempt < 2:
            continue  # warm-up: template compilation, connection pool, plan caches
        timing = re.search(r"dur=([\d.]+)", response.headers.get("server-timing", ""))
        server.append(float(timing[1]) if timing else float("nan"))
        client.append(elapsed)
        size = len(response.content)
    return PageTime(
        name,
        path,
        requests,
        round(statistics.median(server), 1),
        round(_percentile(server, 99), 1),
        round(statistics.median(client), 1),
        round(_percentile(client, 99), 1),
        size,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console", description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000, help="calls of demo data (10000)")
    parser.add_argument("--turns", type=int, default=21, help="turns of a typical call (21)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests a page (50)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.requests < 1:
        parser.error("--calls and --requests must be at least 1")
    configure_logging("WARNING", LogFormat.CONSOLE)
    report = asyncio.run(run(args.calls, args.turns, args.requests))
    if args.json:
        figures = {**asdict(report), "search_uses_index": report.search_uses_index}
        sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(report.table() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
