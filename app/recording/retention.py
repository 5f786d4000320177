"""Recording retention: recordings older than RECORDING_RETENTION_DAYS are deleted, daily.

Deleted at Twilio first (a 404 there counts as deleted: someone removed it by hand), then the
row. A recording Twilio could not delete keeps its row and is tried again the next day. Only one
Machine of a fleet runs a pass at a time: each pass holds a PostgreSQL advisory lock, and a
Machine that cannot take it leaves the pass to the one that has it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.logging import get_logger
from app.recording.twilio_api import TwilioRecordings

log = get_logger(__name__)

DAY = 24 * 3600.0
LOCK_KEY = 0x52454344  # "RECD": the advisory lock of a retention pass
_BATCH = 200


@dataclass(frozen=True)
class Purged:
    deleted: int = 0
    kept: int = 0  # Twilio could not delete them: tried again next time
    skipped: bool = False  # another Machine holds the lock


async def purge_recordings(
    engine: AsyncEngine, api: TwilioRecordings, days: int, now: datetime
) -> Purged:
    cutoff = now - timedelta(days=days)
    deleted = kept = 0
    async with engine.connect() as conn:
        locked = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
        await conn.commit()
        if not locked:
            return Purged(skipped=True)
        try:
            last_id = 0
            while True:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT id, sid, source, gone_at FROM recordings "
                            "WHERE created_at < :cutoff AND id > :after ORDER BY id LIMIT :n"
                        ),
                        {"cutoff": cutoff, "after": last_id, "n": _BATCH},
                    )
                ).all()
                await conn.commit()
                for row in rows:
                    last_id = row.id
                    at_twilio = row.source == "twilio" and row.sid and row.gone_at is None
                    if at_twilio and not await api.delete(row.sid):
                        kept += 1
                        continue
                    await conn.execute(
                        text("DELETE FROM recordings WHERE id = :id"), {"id": row.id}
                    )
                    await conn.commit()
                    deleted += 1
                if len(rows) < _BATCH:
                    break
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await conn.commit()
    return Purged(deleted, kept)


async def retention_loop(
    engine: AsyncEngine,
    api: TwilioRecordings,
    days: int,
    *,
    interval: float = DAY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """A pass now, then every `interval` seconds, until cancelled; a failed pass (the database
    or Twilio away) is tried again next time."""
    while True:
        try:
            purged = await purge_recordings(engine, api, days, clock())
            log.info(
                "recordings_purged",
                deleted=purged.deleted,
                kept=purged.kept,
                elsewhere=purged.skipped,
                retention_days=days,
            )
        except Exception as exc:
            log.warning("recording_purge_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def recording_retention(
    engine: AsyncEngine, api: TwilioRecordings, days: int
) -> AsyncIterator[None]:
    """The daily pass, for the life of the process."""
    task = asyncio.create_task(retention_loop(engine, api, days), name="recording-retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
