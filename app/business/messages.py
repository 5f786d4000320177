"""Messages for staff: written once per tool call (a replayed write changes nothing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.business.tables import messages
from app.functions.base import MessageRecord


async def insert_message(conn: AsyncConnection, record: MessageRecord) -> str:
    """Insert the message unless its id (derived from call and tool call) exists; return the id.

    The caller owns the transaction. `call_sid` must name a row in `calls` (or be None).
    """
    statement = (
        pg_insert(messages)
        .values(
            id=record.id,
            call_sid=record.call_sid,
            caller_name=record.caller_name,
            callback_number=record.callback_number,
            message=record.message,
            urgency=record.urgency,
        )
        .on_conflict_do_nothing(index_elements=[messages.c.id])
    )
    await conn.execute(statement)
    return record.id


async def write_message_op(conn: AsyncConnection, op: dict[str, Any]) -> None:
    """The writer's handler for `{"op": "message", "record": {...}}` rows (and their replays)."""
    await insert_message(conn, MessageRecord(**op["record"]))
