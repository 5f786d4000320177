"""Migrations 0004 and 0007 up and down, and the console's queries use the indexes they add."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import downgrade_sync, make_engine, upgrade, upgrade_sync
from tests.conftest import public_tables

STAFF_TABLES = {"staff_users", "staff_sessions", "staff_login_failures"}


async def _indexes(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        )
        return {r[0] for r in rows}


async def _columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
            {"t": table},
        )
        return {r[0] for r in rows}


async def test_0004_upgrades_downgrades_and_upgrades_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(empty_db_url, "0003")
        before = await _indexes(engine)
        assert not STAFF_TABLES & await public_tables(engine)
        await upgrade(empty_db_url, "0004")
        assert await public_tables(engine) >= STAFF_TABLES
        assert "handled_by" in await _columns(engine, "messages")
        added = await _indexes(engine) - before
        assert {"transcript_turns_fts_idx", "calls_started_at_id_idx"} <= added
        await asyncio.to_thread(downgrade_sync, empty_db_url, "0003")
        assert not STAFF_TABLES & await public_tables(engine)
        assert "handled_by" not in await _columns(engine, "messages")
        assert await _indexes(engine) == before
        await asyncio.to_thread(upgrade_sync, empty_db_url, "head")
        assert await public_tables(engine) >= STAFF_TABLES
    finally:
        await engine.dispose()


async def _plan(engine: AsyncEngine, sql: str, **params: object) -> str:
    async with engine.begin() as conn:
        # A near-empty table is cheapest to scan: forbid that, so the plan shows whether the
        # index *can* serve the query (with 200,000 turns the planner picks it by itself; the
        # benchmark prints those plans).
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await conn.execute(text("EXPLAIN " + sql), params)
        return "\n".join(r[0] for r in rows)


async def test_transcript_search_can_use_the_full_text_index(engine: AsyncEngine) -> None:
    plan = await _plan(
        engine,
        "SELECT call_sid FROM transcript_turns "
        "WHERE to_tsvector('english', text) @@ websearch_to_tsquery('english', :q)",
        q="crown",
    )
    assert "transcript_turns_fts_idx" in plan


async def test_a_number_suffix_can_use_the_reversed_number_index(engine: AsyncEngine) -> None:
    plan = await _plan(engine, "SELECT id FROM calls WHERE reverse(from_number) LIKE :p", p="9910%")
    assert "calls_from_number_reverse_idx" in plan


async def test_0007_adds_the_failed_notifications_index_and_removes_it(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(empty_db_url, "0006")
        assert "notifications_failed_idx" not in await _indexes(engine)
        await upgrade(empty_db_url, "0007")
        assert "notifications_failed_idx" in await _indexes(engine)
        await asyncio.to_thread(downgrade_sync, empty_db_url, "0006")
        assert "notifications_failed_idx" not in await _indexes(engine)
    finally:
        await engine.dispose()


async def test_todays_failed_notifications_can_use_the_partial_index(engine: AsyncEngine) -> None:
    plan = await _plan(
        engine,
        "SELECT id FROM notifications WHERE status = 'failed' AND created_at >= now() "
        "ORDER BY created_at DESC, id DESC LIMIT 5",
    )
    assert "notifications_failed_idx" in plan
