"""Outbox rows are written by the writer with the event: messages, unanswered transfers, bookings."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.messages import write_message_op
from app.db.store import CallStore
from app.db.writes import HANDLERS
from app.functions.base import MessageRecord
from app.notify.hooks import NotifyHooks, spoken_time
from tests.notify.support import OWNER_SMS, notification_rows, plan


def store(engine: AsyncEngine, tmp_path: Path, **overrides: object) -> CallStore:
    handlers = NotifyHooks(plan(**overrides)).wrap({**HANDLERS, "message": write_message_op})
    return CallStore(engine, tmp_path / "spool", handlers=handlers)


async def test_a_message_and_its_notifications_are_written_together_and_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    s = store(engine, tmp_path)
    await s.start()
    s.call("CA_h1", from_number="+15551234567")
    record = MessageRecord("msg_CA_h1_c1", "CA_h1", "Jane", "+15551234567", "Call me", "urgent")
    s.put({"op": "message", "record": asdict(record)})
    s.put({"op": "message", "record": asdict(record)})  # a replay changes nothing
    assert await s.flush(5)
    await s.stop()
    rows = await notification_rows(engine)
    assert [(r["kind"], r["channel"], r["recipient"]) for r in rows] == [
        ("message_taken", "sms", OWNER_SMS),
        ("message_taken", "email", "owner@example.org"),
    ]
    assert rows[0]["body"].startswith("URGENT message from Jane +15551234567: Call me")
    assert all(r["wait_for_summary"] for r in rows)


async def test_an_unanswered_transfer_notifies_but_a_resumed_call_does_not_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    s = store(engine, tmp_path, email_to=())
    await s.start()
    s.call("CA_h2", from_number="+15551234567", transfer_reason="billing question")
    s.outcome("CA_h2", "transfer_failed", {"dial_status": "no-answer"})
    s.outcome("CA_h2", "transfer_failed", {"resumed": True})  # the agent's own record of it
    assert await s.flush(5)
    await s.stop()
    [row] = await notification_rows(engine)
    assert row["kind"] == "transfer_unanswered"
    assert row["body"].startswith("Missed transfer from +15551234567: billing question")


async def test_a_booking_confirms_to_the_caller_and_tells_the_owner_when_asked(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    s = store(engine, tmp_path, email_to=())
    await s.start()
    s.call("CA_h3", from_number="+15551234567")
    s.tool_call(
        "CA_h3",
        "call_9",
        "book_appointment",
        {"service": "Cleaning", "start": "2026-03-03T10:30:00-05:00", "customer_name": "Jane"},
        {"ok": True, "appointment_id": "a1", "service": "Cleaning",
         "start": "2026-03-03T10:30:00-05:00"},
        True,
        20,
        5000,
    )  # fmt: skip
    assert await s.flush(5)
    await s.stop()
    rows = {r["kind"]: r for r in await notification_rows(engine)}
    confirmation = rows["booking_confirmation"]
    assert confirmation["recipient"] == "+15551234567"
    assert confirmation["wait_for_summary"] is False
    assert confirmation["body"] == (
        "Bright Smile Dental: you're booked for Cleaning on Tue Mar 3 at 10:30 AM at 12 Main St. "
        "To change it, call +15559870000."
    )
    assert rows["booking"]["recipient"] == OWNER_SMS


def test_a_slot_time_is_spoken_in_its_own_offset() -> None:
    assert spoken_time("2026-03-03T09:00:00-05:00") == "Tue Mar 3 at 9 AM"
