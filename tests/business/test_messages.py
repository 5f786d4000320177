"""insert_message: one row per tool call, however often the write is replayed."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.messages import insert_message
from app.functions.base import MessageRecord, message_id


async def test_a_replayed_message_write_is_a_no_op(engine: AsyncEngine) -> None:
    record = MessageRecord(
        id=message_id("CA1", "call_1"),
        call_sid="CA1",
        caller_name="Bo",
        callback_number="+16175550100",
        message="Call me about Tuesday",
        urgency="low",
    )
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO calls (call_sid) VALUES ('CA1')"))
        assert await insert_message(conn, record) == "msg_CA1_call_1"
    async with engine.begin() as conn:
        assert await insert_message(conn, record) == "msg_CA1_call_1"
        rows = (await conn.execute(text("SELECT * FROM messages"))).mappings().all()
    assert [(r["id"], r["urgency"], r["handled_at"]) for r in rows] == [
        ("msg_CA1_call_1", "low", None)
    ]


async def test_a_message_without_a_call_can_be_stored(engine: AsyncEngine) -> None:
    record = MessageRecord("msg_x", None, "Al", None, "Walk-in note")
    async with engine.begin() as conn:
        await insert_message(conn, record)
        row = (await conn.execute(text("SELECT call_sid, urgency FROM messages"))).one()
    assert tuple(row) == (None, "normal")
