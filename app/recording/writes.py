"""The writer's `recording` row: a recording started, refused, or reported on by Twilio.

Idempotent and order-proof: Twilio retries callbacks and may deliver them out of order, so a
finished status (completed, absent) is never taken back, and a field once known stays known.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.spool import Op
from app.db.tables import calls
from app.recording.tables import recordings

FINAL = ("completed", "absent", "failed")
FIELDS = (
    "sid",
    "source",
    "status",
    "channels",
    "duration_seconds",
    "start_offset_ms",
    "error_code",
    "error_message",
    "cost_usd",
    "completed_at",
)


def recording_op(call_sid: str, **fields: Any) -> Op:
    """A row for the writer; values must survive the spool (numbers, text, ISO datetimes)."""
    for key, value in list(fields.items()):
        if isinstance(value, Decimal):
            fields[key] = str(value)
        elif isinstance(value, datetime):
            fields[key] = value.isoformat()
    return {"op": "recording", "call_sid": call_sid, "fields": fields}


async def write_recording_op(conn: AsyncConnection, op: Op) -> None:
    fields: dict[str, Any] = {k: v for k, v in dict(op["fields"]).items() if k in FIELDS}
    if isinstance(fields.get("completed_at"), str):
        fields["completed_at"] = datetime.fromisoformat(fields["completed_at"])
    if isinstance(fields.get("cost_usd"), str):
        fields["cost_usd"] = Decimal(fields["cost_usd"])
    await conn.execute(insert(calls).values(call_sid=op["call_sid"]).on_conflict_do_nothing())
    stmt = insert(recordings).values(call_sid=op["call_sid"], **fields)
    if fields.get("sid") is None:  # a recording that never started: nothing to merge with
        await conn.execute(stmt)
        return
    new, old = stmt.excluded, recordings.c
    update: dict[str, Any] = {
        name: func.coalesce(getattr(new, name), getattr(old, name))
        for name in fields
        if name not in ("sid", "status", "start_offset_ms")
    }
    # The offset is ours (taken when it started); a callback never knows it.
    update["start_offset_ms"] = func.coalesce(old.start_offset_ms, new.start_offset_ms)
    if "status" in fields:
        update["status"] = case((old.status.in_(FINAL), old.status), else_=new.status)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["sid"], set_=update))
