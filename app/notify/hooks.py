"""Writer handlers that add outbox rows in the same transaction as the event that causes them.

They wrap the writer's own handlers for `message`, `outcome` and `tool_call` rows, so a message
taken during a database outage is spooled with its notifications and both land together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.spool import Op
from app.db.tables import calls
from app.db.writes import Handler
from app.notify import outbox
from app.notify.plan import NotifyPlan


async def _call(conn: AsyncConnection, call_sid: str | None) -> dict[str, Any]:
    if not call_sid:
        return {}
    query = select(calls.c.from_number, calls.c.transfer_reason).where(calls.c.call_sid == call_sid)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row is not None else {}


def spoken_time(value: str) -> str:
    """'2026-03-03T10:30:00-05:00' -> 'Tue Mar 3 at 10:30 AM' (in the slot's own offset)."""
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        return value
    clock = start.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")
    return f"{start.strftime('%a %b')} {start.day} at {clock}"


class NotifyHooks:
    """Builds the wrapped handlers; what each event sends is decided by the `NotifyPlan`."""

    def __init__(self, plan: NotifyPlan) -> None:
        self.plan = plan

    def wrap(self, base: dict[str, Handler]) -> dict[str, Handler]:
        """`base` (the writer's handlers by op) with the three that cause notifications wrapped."""
        return {
            "message": self._after(base["message"], self.on_message),
            "outcome": self._after(base["outcome"], self.on_outcome),
            "tool_call": self._after(base["tool_call"], self.on_tool_call),
        }

    @staticmethod
    def _after(inner: Handler, hook: Handler) -> Handler:
        async def handler(conn: AsyncConnection, op: Op) -> None:
            await inner(conn, op)
            await hook(conn, op)

        return handler

    async def on_message(self, conn: AsyncConnection, op: Op) -> None:
        """A message was taken: tell the owner, in the caller's words until the summary comes."""
        record = op["record"]
        call = await _call(conn, record.get("call_sid"))
        context = {
            "caller_name": record.get("caller_name"),
            "caller_number": call.get("from_number") or record.get("callback_number"),
            "callback_number": record.get("callback_number"),
            "words": record.get("message"),
            "urgency": record.get("urgency"),
        }
        rows = self.plan.owner_rows("message_taken", record["id"], record.get("call_sid"), context)
        await outbox.add(conn, rows)

    async def on_outcome(self, conn: AsyncConnection, op: Op) -> None:
        """A transfer nobody answered (Twilio's <Dial action> said so)."""
        detail = op.get("detail") or {}
        if op.get("outcome") != "transfer_failed" or "dial_status" not in detail:
            return
        call = await _call(conn, op["call_sid"])
        context = {
            "caller_number": call.get("from_number"),
            "words": call.get("transfer_reason") or "asked for a person; nobody answered",
        }
        rows = self.plan.owner_rows("transfer_unanswered", op["call_sid"], op["call_sid"], context)
        await outbox.add(conn, rows)

    async def on_tool_call(self, conn: AsyncConnection, op: Op) -> None:
        """A booking was made: tell the owner (NOTIFY_ON=booking), confirm to the caller."""
        result, arguments = op.get("result"), op.get("arguments")
        if op.get("name") != "book_appointment" or not op.get("ok"):
            return
        if not isinstance(result, dict) or not result.get("ok") or not isinstance(arguments, dict):
            return
        call = await _call(conn, op["call_sid"])
        phone = arguments.get("customer_phone") or call.get("from_number") or ""
        context = {
            "caller_name": arguments.get("customer_name"),
            "caller_number": phone,
            "service": result.get("service") or arguments.get("service"),
            "when": spoken_time(str(result.get("start") or arguments.get("start") or "")),
            "appointment_id": result.get("appointment_id"),
        }
        event_id = f"{op['call_sid']}:{op['tool_call_id']}"
        rows = self.plan.owner_rows("booking", event_id, op["call_sid"], context)
        rows += self.plan.confirmation_row(event_id, op["call_sid"], phone, context)
        await outbox.add(conn, rows)
