"""Transcript retention: what was said is deleted after TRANSCRIPT_RETENTION_DAYS, daily.

The calls, their outcomes, tool calls and messages stay, so counts and the console's lists
still add up; only the words (transcript turns, and the spoken transfer summary that repeats
them) go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.logging import get_logger

log = get_logger(__name__)

DAY = 24 * 3600.0
_BATCH = 5000  # rows per statement: short transactions, no long lock on a busy table


async def purge_transcripts(engine: AsyncEngine, days: int, now: datetime) -> int:
    """Delete transcript text older than `days` before `now`; returns the turns deleted."""
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(
                text(
                    "DELETE FROM transcript_turns WHERE id IN (SELECT id FROM transcript_turns "
                    "WHERE created_at < :cutoff LIMIT :batch)"
                ),
                {"cutoff": cutoff, "batch": _BATCH},
            )
        deleted += result.rowcount or 0
        if (result.rowcount or 0) < _BATCH:
            break
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE calls SET transfer_summary = NULL "
                "WHERE started_at < :cutoff AND transfer_summary IS NOT NULL"
            ),
            {"cutoff": cutoff},
        )
    return deleted


async def retention_loop(
    engine: AsyncEngine,
    days: int,
    *,
    interval: float = DAY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Purge now, then every `interval` seconds, until cancelled; a failed run is retried next
    time (a database outage must not end the loop)."""
    while True:
        try:
            deleted = await purge_transcripts(engine, days, clock())
            log.info("transcripts_purged", turns=deleted, retention_days=days)
        except Exception as exc:
            log.warning("transcript_purge_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
