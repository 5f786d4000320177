"""Writes an outcome that already happened (a message the provider accepted, a summary paid for)
until the database takes it.

Such an outcome cannot be had again for free: sending again would reach the recipient twice,
summarising again would be paid twice. So when the database is away at the moment of the
record, the outcome is kept in memory and the record is tried again every `interval` seconds
until the database answers. Only the record is retried, never the work behind it. A failure
that is not the database being away (a bug, a broken constraint) is raised: retrying it would
only block the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.faults import is_unavailable, root_cause
from app.logging import get_logger

log = get_logger(__name__)

RETRY_SECONDS = 0.5


async def until_written(
    engine: AsyncEngine,
    write: Callable[[AsyncConnection], Awaitable[None]],
    what: str,
    *,
    interval: float = RETRY_SECONDS,
    **fields: object,
) -> int:
    """Run `write` in its own transaction until it commits; how many tries failed first."""
    failures = 0
    while True:
        try:
            async with engine.begin() as conn:
                await write(conn)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            failures += 1
            if failures == 1:
                error = type(root_cause(exc)).__name__
                log.warning("record_waits_for_database", what=what, error=error, **fields)
            await asyncio.sleep(interval)
            continue
        if failures:
            log.info("record_written_after_wait", what=what, failed_tries=failures, **fields)
        return failures
