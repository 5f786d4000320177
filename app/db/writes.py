"""The SQL behind each writer row (`op`); every write is idempotent, so a replay is safe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.spool import Op
from app.db.tables import call_outcomes, calls, tool_calls, transcript_turns

Handler = Callable[[AsyncConnection, Op], Awaitable[None]]

TURN_KEYS = ("call_sid", "seq", "speaker", "text", "interrupted", "offset_ms")
TOOL_KEYS = (
    "call_sid",
    "tool_call_id",
    "name",
    "arguments",
    "result",
    "ok",
    "duration_ms",
    "offset_ms",
)


async def _ensure_call(conn: AsyncConnection, call_sid: str) -> None:
    await conn.execute(insert(calls).values(call_sid=call_sid).on_conflict_do_nothing())


async def upsert_call(conn: AsyncConnection, op: Op) -> None:
    fields: dict[str, Any] = dict(op["fields"])
    stmt = insert(calls).values(call_sid=op["call_sid"], **fields)
    if op.get("only_insert") or not fields:
        await conn.execute(stmt.on_conflict_do_nothing())
    else:
        await conn.execute(stmt.on_conflict_do_update(index_elements=["call_sid"], set_=fields))


async def turn(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    values = {k: op[k] for k in TURN_KEYS}
    # Agent turns carry their latency (migration 0011); rows spooled before it do not.
    values["latency_ms"] = op.get("latency_ms")
    await conn.execute(insert(transcript_turns).values(**values).on_conflict_do_nothing())


async def tool_call(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    await conn.execute(
        insert(tool_calls).values(**{k: op[k] for k in TOOL_KEYS}).on_conflict_do_nothing()
    )


async def outcome(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    stmt = insert(call_outcomes).values(
        call_sid=op["call_sid"], outcome=op["outcome"], detail=op["detail"]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["call_sid"],
            set_={"outcome": op["outcome"], "detail": op["detail"], "decided_at": text("now()")},
        )
    )


async def finalize(conn: AsyncConnection, op: Op) -> None:
    """Twilio says the call is over: fill in what the stream could not (it may never have run)."""
    ended_at = op["ended_at"]
    if isinstance(ended_at, str):  # producers before the typed spool sent ISO text
        ended_at = datetime.fromisoformat(ended_at)
    await _ensure_call(conn, op["call_sid"])
    await conn.execute(
        calls.update()
        .where(calls.c.call_sid == op["call_sid"])
        .values(
            twilio_status=op["twilio_status"],
            ended_at=func.coalesce(calls.c.ended_at, ended_at),
            end_reason=func.coalesce(calls.c.end_reason, op["end_reason"]),
        )
    )
    await conn.execute(
        insert(call_outcomes)
        .values(
            call_sid=op["call_sid"], outcome="abandoned", detail={"twilio": op["twilio_status"]}
        )
        .on_conflict_do_nothing()
    )


HANDLERS: dict[str, Handler] = {
    "call": upsert_call,
    "turn": turn,
    "tool_call": tool_call,
    "outcome": outcome,
    "finalize": finalize,
}
