"""GET /metrics on METRICS_PORT: its own listener, so Fly's proxy never exposes it.

The port is not in fly.toml's [http_service]; only the private network (Fly's managed
Prometheus, through [metrics]) reaches it. It answers GET /metrics and 404 to anything else.
Readings that are cheaper to take at scrape time than to keep up to date (live calls, the
writer's queue and spool, notifications waiting in the outbox) are read then.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.logging import get_logger
from app.metrics import CHANNELS, PREFIX, Metrics, channel_label, label

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

PENDING = text("SELECT channel, count(*) FROM notifications WHERE status = 'pending' GROUP BY 1")
READ_TIMEOUT_SECONDS = 2.0


class RuntimeReadings(Collector):
    """Gauges read from the running service when Prometheus scrapes."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self._runtime = runtime
        self.pending: dict[str, int] | None = None  # refreshed by `refresh` before a scrape

    async def refresh(self) -> None:
        runtime = self._runtime()
        if runtime is None:
            return
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS), runtime.engine.connect() as conn:
                rows = (await conn.execute(PENDING)).all()
        except Exception as exc:  # the database is away: the gauge goes missing, not stale
            log.warning("metrics_reading_failed", error=type(exc).__name__)
            self.pending = None
            return
        self.pending = {label(channel): int(count) for channel, count in rows}

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime()
        if runtime is None:
            return
        p = PREFIX
        active = GaugeMetricFamily(
            f"{p}_calls_active", "Calls on this instance now.", None, ["channel"]
        )
        counts = dict.fromkeys(sorted(CHANNELS), 0)
        for driver in list(runtime.active_calls.values()):
            channel = channel_label(driver.info.channel)
            counts[channel] = counts.get(channel, 0) + 1
        counts["phone"] += len(runtime.prepared)  # answered, stream on its way
        for channel, count in counts.items():
            active.add_metric([channel], count)
        yield active
        store = runtime.store
        yield GaugeMetricFamily(
            f"{p}_writer_queue_depth", "Rows waiting for the writer.", store.queue_depth
        )
        yield GaugeMetricFamily(
            f"{p}_spool_rows", "Rows in the spool file, waiting for the database.", store.spool_size
        )
        yield GaugeMetricFamily(
            f"{p}_dead_letter_rows",
            "Rows PostgreSQL refused (dead-letter file).",
            store.dead_letter_size,
        )
        yield CounterMetricFamily(
            f"{p}_rows_spooled", "Rows written to the spool file.", store.spooled
        )
        yield CounterMetricFamily(
            f"{p}_rows_dead_lettered", "Rows sent to the dead-letter file.", store.dead_lettered
        )
        yield CounterMetricFamily(
            f"{p}_fly_replays",
            "Requests handed to the Machine holding their call (fly-replay).",
            runtime.machines.replays,
        )
        if self.pending is not None:
            pending = GaugeMetricFamily(
                f"{p}_notifications_pending",
                "Notifications in the outbox, not sent yet.",
                None,
                ["channel"],
            )
            for channel in ("sms", "email"):
                pending.add_metric([channel], self.pending.get(channel, 0))
            yield pending


def metrics_app(metrics: Metrics, readings: RuntimeReadings) -> Starlette:
    async def scrape(request: Request) -> Response:
        await readings.refresh()
        body = generate_latest(metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def nothing(request: Request) -> Response:
        return PlainTextResponse("Not Found", 404)

    return Starlette(
        routes=[
            Route("/metrics", scrape, methods=["GET"]),
            Route("/{path:path}", nothing, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
        ]
    )


class _QuietServer(uvicorn.Server):
    """uvicorn inside the service's own loop: the service's server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(port: int) -> socket.socket | None:
    """A listening socket on every address (IPv6 and IPv4: Fly's private network is IPv6)."""
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            if family == socket.AF_INET:
                log.error("metrics_port_unavailable", port=port, error=type(exc).__name__)
    return None


@contextlib.asynccontextmanager
async def serve_metrics(
    port: int, metrics: Metrics, runtime: Callable[[], Runtime | None]
) -> AsyncIterator[None]:
    """Serve /metrics on `port` (0: not at all) for as long as the context is open.

    A port already taken is logged and skipped: calls matter more than their instruments.
    """
    sock = _listen(port) if port else None
    if sock is None:
        yield
        return
    readings = RuntimeReadings(runtime)
    metrics.add_collector(readings)
    config = uvicorn.Config(
        metrics_app(metrics, readings), log_config=None, access_log=False, lifespan="off"
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-server")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        sock.close()
