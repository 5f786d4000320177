"""Run one scenario of a BenchConfig; the figures as a JSON-ready dict."""

from __future__ import annotations

import contextlib
import resource
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.relay import run_conversations
from benchmarks.soak import run_soak

__all__ = ["run"]


async def run(config: BenchConfig) -> dict[str, Any]:
    """Run one scenario; the figures as a JSON-ready dict."""
    _raise_fd_limit()
    if config.scenario == "soak":
        return await run_soak(config)
    if config.scenario == "metrics":
        from benchmarks.metrics_cost import run_metrics_cost

        return await run_metrics_cost(config)
    if config.scenario == "two-machines":
        from benchmarks.fleet import run_two_machines

        return await run_two_machines(config)
    return await run_conversations(config)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
