"""Migration 0002: appointments and messages; the database itself refuses double booking."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import downgrade_sync, make_engine, upgrade
from tests.conftest import public_tables

V1 = {"calls", "transcript_turns", "tool_calls", "call_outcomes", "call_review"}


async def test_business_tables_come_and_go_with_the_migration(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(empty_db_url)
        assert V1 | {"appointments", "messages"} <= await public_tables(engine)
        async with engine.connect() as conn:
            ext = await conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname='btree_gist'"))
        assert ext == 1
        await asyncio.to_thread(downgrade_sync, empty_db_url, "0001")
        assert await public_tables(engine) == V1  # later revisions add no tables of their own
        await asyncio.to_thread(downgrade_sync, empty_db_url, "base")
        assert await public_tables(engine) == set()
        await upgrade(empty_db_url)
        assert V1 | {"appointments", "messages"} <= await public_tables(engine)
    finally:
        await engine.dispose()


async def _book(engine: AsyncEngine, **values: Any) -> None:
    row = {
        "id": "apt_" + values.pop("id"),
        "service": "Cleaning",
        "slot": 0,
        "status": "booked",
        "customer_name": "Ann",
        "key": None,
        **values,
    }
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO appointments (id, service, starts_at, ends_at, slot, status, "
                "customer_name, idempotency_key) VALUES (:id, :service, "
                "CAST(CAST(:start AS text) AS timestamptz), CAST(CAST(:end AS text) AS timestamptz), "
                ":slot, :status, "
                ":customer_name, :key)"
            ),
            row,
        )


async def test_overlapping_bookings_on_one_unit_are_refused_by_the_database(
    engine: AsyncEngine,
) -> None:
    nine, ten, half = "2026-03-09 09:00-05", "2026-03-09 10:00-05", "2026-03-09 09:30-05"
    eleven = "2026-03-09 11:00-05"
    await _book(engine, id="a", start=nine, end=ten)
    with pytest.raises(IntegrityError, match="appointments_no_overlap"):
        await _book(engine, id="b", start=half, end=eleven)
    await _book(engine, id="c", start=half, end=eleven, slot=1)  # another unit
    await _book(engine, id="d", start=ten, end=eleven)  # touching is not overlapping
    await _book(engine, id="e", start=half, end=eleven, service="Whitening")  # other service
    await _book(engine, id="f", start=nine, end=ten, status="cancelled")  # cancelled: no claim
    await _book(engine, id="g", start=nine, end=ten, slot=3, key="k")
    with pytest.raises(IntegrityError, match="appointments_idempotency_key_key"):
        await _book(engine, id="h", start=nine, end=ten, slot=4, key="k")


async def test_bad_appointment_and_message_values_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError, match="appointments_time_order_check"):
        await _book(engine, id="x", start="2026-03-09 10:00Z", end="2026-03-09 09:00Z")
    with pytest.raises(IntegrityError, match="appointments_status_check"):
        await _book(engine, id="y", start="2026-03-09 10:00Z", end="2026-03-09 11:00Z", status="?")
    with pytest.raises(IntegrityError, match="messages_urgency_check"):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO messages (id, caller_name, message, urgency) "
                    "VALUES ('m', 'Ann', 'hi', 'panic')"
                )
            )


async def test_deleting_a_call_keeps_its_messages(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO calls (call_sid) VALUES ('CA1')"))
        await conn.execute(
            text(
                "INSERT INTO messages (id, call_sid, caller_name, message) "
                "VALUES ('m1', 'CA1', 'Ann', 'call me')"
            )
        )
        await conn.execute(text("DELETE FROM calls WHERE call_sid = 'CA1'"))
        row = (await conn.execute(text("SELECT call_sid, urgency FROM messages"))).one()
    assert tuple(row) == (None, "normal")
