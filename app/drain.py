"""Graceful shutdown (Fly sends SIGTERM on deploy): stop taking calls, let live ones finish."""

from __future__ import annotations

import asyncio
import time

from app.logging import get_logger
from app.runtime import Runtime

log = get_logger(__name__)

GOODBYE_GRACE_SECONDS = 20.0


async def drain(runtime: Runtime, deadline_seconds: float) -> None:
    """Turn /readyz to 503 and new calls away at once; wait for live calls until the deadline,
    then have the agent wrap up the ones left, politely, and wait for them to end."""
    runtime.draining = True
    log.info("drain_started", calls=runtime.calls_in_progress, deadline_s=deadline_seconds)
    start = time.monotonic()
    # Polling (not an Event): calls end in several places, and 0.2 s is plenty for a drain.
    while runtime.calls_in_progress and time.monotonic() - start < deadline_seconds:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    drivers = list(runtime.active_calls.values())
    if drivers:
        log.warning("drain_deadline_reached", calls=len(drivers))
        for driver in drivers:
            driver.shut_down()
        wrap_up = time.monotonic()
        while runtime.active_calls and time.monotonic() - wrap_up < GOODBYE_GRACE_SECONDS:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    await runtime.prepared.close_all()
    # False: rows not in the database yet; stopping the store puts them in the spool.
    written = await runtime.store.flush(10.0)
    log.info("drain_finished", calls_left=len(runtime.active_calls), rows_written=written)
