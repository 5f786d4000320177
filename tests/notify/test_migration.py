"""Migration 0005: up adds the outbox and the summary, down removes them, up again works."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.db.engine import downgrade_sync, make_engine, upgrade, upgrade_sync
from tests.conftest import public_tables


async def _summary_in_review(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            columns = await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'call_review'"
                )
            )
            return "summary" in {c[0] for c in columns}
    finally:
        await engine.dispose()


async def test_0005_up_down_up_and_the_review_view_shows_the_summary(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(empty_db_url)
        assert "notifications" in await public_tables(engine)
        assert await _summary_in_review(empty_db_url)
        await asyncio.to_thread(downgrade_sync, empty_db_url, "0004")
        tables = await public_tables(engine)
        assert "notifications" not in tables and "call_review" in tables
        assert not await _summary_in_review(empty_db_url)
        await asyncio.to_thread(upgrade_sync, empty_db_url, "head")
        assert await _summary_in_review(empty_db_url)
    finally:
        await engine.dispose()


async def test_calls_from_before_0005_are_not_summarised_after_the_upgrade(
    empty_db_url: str,
) -> None:
    await asyncio.to_thread(upgrade_sync, empty_db_url, "0004")
    engine = make_engine(empty_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO calls (call_sid, ended_at) VALUES ('CA_old', now())")
            )
        await upgrade(empty_db_url)
        async with engine.connect() as conn:
            status = await conn.scalar(
                text("SELECT summary_status FROM calls WHERE call_sid = 'CA_old'")
            )
    finally:
        await engine.dispose()
    assert status == "skipped"
