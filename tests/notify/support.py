"""Shared by the notification tests: a plan, outbox rows for a call, a Twilio-backed SMS channel."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from app.notify import outbox
from app.notify.plan import NotifyPlan

OWNER_SMS = "+15557770001"
OWNER_EMAIL = "owner@example.org"
BUSINESS = "+15559870000"


def plan(**overrides: Any) -> NotifyPlan:
    values: dict[str, Any] = {
        "sms_to": (OWNER_SMS,),
        "email_to": (OWNER_EMAIL,),
        "events": frozenset({"message", "transfer_unanswered", "callback", "booking"}),
        "booking_sms": True,
        "public_base_url": "https://rx.example.com",
        "business": "Bright Smile Dental",
        "address": "12 Main St",
        "business_phone": BUSINESS,
    }
    values.update(overrides)
    return NotifyPlan(**values)


async def add_call(engine: AsyncEngine, call_sid: str, *, ended: bool = True) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, ended_at) "
                "VALUES (:sid, '+15551234567', CASE WHEN :ended THEN now() END)"
            ),
            {"sid": call_sid, "ended": ended},
        )


async def add_message_rows(
    engine: AsyncEngine, call_sid: str, the_plan: NotifyPlan | None = None, event: str = "m1"
) -> None:
    context = {
        "caller_name": "Jane Doe",
        "caller_number": "+15551234567",
        "words": "Please call me about my crown.",
        "urgency": "normal",
    }
    rows = (the_plan or plan()).owner_rows("message_taken", event, call_sid, context)
    async with engine.begin() as conn:
        await outbox.add(conn, rows)


async def notification_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM notifications ORDER BY id"))
        return [dict(r) for r in rows.mappings()]


class StopOnce:
    """The first time it is awaited, stops the database: `stopped` is set as it begins to, `down`
    once it has."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg
        self.stopped = asyncio.Event()
        self.down = asyncio.Event()

    async def __call__(self, *_: object) -> None:
        if not self.stopped.is_set():
            self.stopped.set()
            await self.pg.stop()
            self.down.set()
