"""Schema v1 through Alembic: up, down, up again; the call_review view reads like a transcript."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import downgrade_sync, make_engine, upgrade, upgrade_sync
from tests.conftest import public_tables

TABLES = {"calls", "transcript_turns", "tool_calls", "call_outcomes"}


async def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert await public_tables(engine) == set()
        await upgrade(empty_db_url)
        assert TABLES | {"call_review"} <= await public_tables(engine)
        import asyncio

        await asyncio.to_thread(downgrade_sync, empty_db_url, "base")
        assert await public_tables(engine) == set()
        await asyncio.to_thread(upgrade_sync, empty_db_url, "head")
        assert TABLES | {"call_review"} <= await public_tables(engine)
    finally:
        await engine.dispose()


async def test_call_review_shows_whole_transcript_newest_first(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, started_at, ended_at, end_reason) VALUES "
                "('CA_old', '+15550000001', now() - interval '1 hour', now() - interval '55 min', "
                "'caller_hangup'),"
                "('CA_new', '+15550000002', now() - interval '5 min', now(), 'agent_hangup')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO transcript_turns (call_sid, seq, speaker, text, interrupted, offset_ms)"
                " VALUES ('CA_new', 1, 'agent', 'Thanks for calling, how can I help?', false, 300),"
                "('CA_new', 0, 'agent', 'Hi!', false, 100),"
                "('CA_new', 2, 'caller', 'Can I book a haircut?', false, 4200),"
                "('CA_new', 3, 'agent', 'Sure, which day', true, 61000)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO call_outcomes (call_sid, outcome, detail) "
                "VALUES ('CA_new', 'booked', '{\"appointment_id\": \"a1\"}')"
            )
        )
        rows = (await conn.execute(text("SELECT * FROM call_review LIMIT 20"))).mappings().all()
    assert [r["call_sid"] for r in rows] == ["CA_new", "CA_old"]
    assert rows[0]["outcome"] == "booked"
    assert rows[0]["transcript"] == (
        "00:00 Agent: Hi!\n"
        "00:00 Agent: Thanks for calling, how can I help?\n"
        "00:04 Caller: Can I book a haircut?\n"
        "01:01 Agent: Sure, which day [interrupted]"
    )
    assert rows[1]["transcript"] is None
