"""Transcript retention: old words go, calls and outcomes stay; the loop survives failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import ConfigError, load_settings
from app.db.engine import make_engine
from app.staff.retention import purge_transcripts, retention_loop

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def _call(engine: AsyncEngine, sid: str, age_days: int, turns: int) -> None:
    at = NOW - timedelta(days=age_days)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, started_at, ended_at, transfer_summary) "
                "VALUES (:sid, :at, :at, 'caller wants Dr. Okafor')"
            ),
            {"sid": sid, "at": at},
        )
        await conn.execute(
            text("INSERT INTO call_outcomes (call_sid, outcome) VALUES (:sid, 'info_provided')"),
            {"sid": sid},
        )
        for seq in range(turns):
            await conn.execute(
                text(
                    "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms, "
                    "created_at) VALUES (:sid, :seq, 'caller', 'hello', 0, :at)"
                ),
                {"sid": sid, "seq": seq, "at": at},
            )


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def test_purge_deletes_old_transcripts_and_keeps_calls_and_outcomes(
    engine: AsyncEngine,
) -> None:
    await _call(engine, "CAold", age_days=40, turns=3)
    await _call(engine, "CAnew", age_days=5, turns=2)
    deleted = await purge_transcripts(engine, 30, NOW)
    assert deleted == 3
    assert await _count(engine, "SELECT count(*) FROM transcript_turns") == 2
    assert await _count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid='CAnew'") == 2
    assert await _count(engine, "SELECT count(*) FROM calls") == 2
    assert await _count(engine, "SELECT count(*) FROM call_outcomes") == 2
    assert await _count(engine, "SELECT count(*) FROM calls WHERE transfer_summary IS NULL") == 1
    assert await purge_transcripts(engine, 30, NOW) == 0  # nothing left to do: idempotent


async def test_purge_goes_through_more_rows_than_one_batch(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO calls (call_sid, started_at) VALUES ('CAbig', :at)"),
            {"at": NOW - timedelta(days=90)},
        )
        await conn.execute(
            text(
                "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms, "
                "created_at) SELECT 'CAbig', g, 'agent', 'x', 0, :at "
                "FROM generate_series(1, 12000) g"
            ),
            {"at": NOW - timedelta(days=90)},
        )
    assert await purge_transcripts(engine, 30, NOW) == 12000


async def test_the_loop_purges_each_interval_and_outlives_a_database_outage(
    engine: AsyncEngine,
) -> None:
    await _call(engine, "CAold", age_days=40, turns=2)
    loop = asyncio.create_task(retention_loop(engine, 30, interval=0.05, clock=lambda: NOW))
    try:
        for _ in range(100):
            if await _count(engine, "SELECT count(*) FROM transcript_turns") == 0:
                break
            await asyncio.sleep(0.02)
        assert await _count(engine, "SELECT count(*) FROM transcript_turns") == 0
        await _call(engine, "CAold2", age_days=31, turns=1)
        for _ in range(100):
            if await _count(engine, "SELECT count(*) FROM transcript_turns") == 0:
                break
            await asyncio.sleep(0.02)
        assert await _count(engine, "SELECT count(*) FROM transcript_turns") == 0
    finally:
        loop.cancel()
    dead = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    failing = asyncio.create_task(retention_loop(dead, 30, interval=0.01, clock=lambda: NOW))
    await asyncio.sleep(0.3)
    assert not failing.done()  # failures are logged and retried, never end the loop
    failing.cancel()
    await dead.dispose()


def test_retention_days_is_a_positive_number_or_unset() -> None:
    assert load_settings(_env_file=None).transcript_retention_days is None
    assert (
        load_settings(transcript_retention_days="", _env_file=None).transcript_retention_days
        is None
    )
    assert (
        load_settings(transcript_retention_days="30", _env_file=None).transcript_retention_days
        == 30
    )
    with pytest.raises(ConfigError, match="TRANSCRIPT_RETENTION_DAYS"):
        load_settings(transcript_retention_days="0", _env_file=None)
