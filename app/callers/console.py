"""What the console reads and changes about one number: its calls, block, unblock, forget.

"Forget" deletes what the receptionist remembers a caller by and what was said on their calls:
each call's summary, reason and spoken transfer summary, and its transcript. From then on the
memory also ignores their earlier messages and bookings (callers.forgotten_at). It keeps what
the business needs to run and account: the calls rows (time, number, outcome, cost), the
messages and appointments themselves, tool call records and recordings (delete a recording on
its call page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

CALLS_LIMIT = 200


@dataclass(frozen=True)
class CallerPage:
    number: str
    blocked_at: datetime | None
    blocked_by: str | None
    forgotten_at: datetime | None
    calls: list[RowMapping]
    messages: list[RowMapping]
    appointments: list[RowMapping]


async def caller_page(conn: AsyncConnection, number: str) -> CallerPage:
    """Every call from `number` (newest first, up to CALLS_LIMIT), their messages and bookings."""
    state = (
        (
            await conn.execute(
                text("SELECT blocked_at, blocked_by, forgotten_at FROM callers WHERE number = :n"),
                {"n": number},
            )
        )
        .mappings()
        .first()
    )
    calls = list(
        (
            await conn.execute(
                text(
                    "SELECT c.call_sid, c.started_at, c.ended_at, c.channel, c.from_number, "
                    "c.end_reason, c.summary, c.stir_verstat, o.outcome FROM calls c "
                    "LEFT JOIN call_outcomes o ON o.call_sid = c.call_sid "
                    "WHERE c.from_number = :n ORDER BY c.started_at DESC LIMIT :limit"
                ),
                {"n": number, "limit": CALLS_LIMIT},
            )
        ).mappings()
    )
    messages = list(
        (
            await conn.execute(
                text(
                    "SELECT m.id, m.call_sid, m.caller_name, m.callback_number, m.message, "
                    "m.urgency, m.created_at, m.handled_at, m.handled_by FROM messages m "
                    "JOIN calls c ON c.call_sid = m.call_sid WHERE c.from_number = :n "
                    "ORDER BY m.created_at DESC LIMIT :limit"
                ),
                {"n": number, "limit": CALLS_LIMIT},
            )
        ).mappings()
    )
    appointments = list(
        (
            await conn.execute(
                text(
                    "SELECT a.id, a.call_sid, a.service, a.starts_at, a.status, a.customer_name "
                    "FROM appointments a JOIN calls c ON c.call_sid = a.call_sid "
                    "WHERE c.from_number = :n ORDER BY a.starts_at DESC LIMIT :limit"
                ),
                {"n": number, "limit": CALLS_LIMIT},
            )
        ).mappings()
    )
    return CallerPage(
        number=number,
        blocked_at=state["blocked_at"] if state else None,
        blocked_by=state["blocked_by"] if state else None,
        forgotten_at=state["forgotten_at"] if state else None,
        calls=calls,
        messages=messages,
        appointments=appointments,
    )


async def block(conn: AsyncConnection, number: str, by: str) -> None:
    await conn.execute(
        text(
            "INSERT INTO callers (number, blocked_at, blocked_by) VALUES (:n, now(), :by) "
            "ON CONFLICT (number) DO UPDATE SET blocked_at = coalesce(callers.blocked_at, "
            "now()), blocked_by = coalesce(callers.blocked_by, :by)"
        ),
        {"n": number, "by": by},
    )


async def unblock(conn: AsyncConnection, number: str) -> None:
    await conn.execute(
        text("UPDATE callers SET blocked_at = NULL, blocked_by = NULL WHERE number = :n"),
        {"n": number},
    )


async def forget(conn: AsyncConnection, number: str, by: str) -> int:
    """Forget the caller (see the module's docstring); returns how many calls were cleared."""
    await conn.execute(
        text(
            "INSERT INTO callers (number, forgotten_at, forgotten_by) VALUES (:n, now(), :by) "
            "ON CONFLICT (number) DO UPDATE SET forgotten_at = now(), forgotten_by = :by"
        ),
        {"n": number, "by": by},
    )
    await conn.execute(
        text(
            "DELETE FROM transcript_turns WHERE call_sid IN "
            "(SELECT call_sid FROM calls WHERE from_number = :n)"
        ),
        {"n": number},
    )
    # summary_status 'skipped': the summariser never writes a summary on these again.
    cleared = await conn.execute(
        text(
            "UPDATE calls SET summary = NULL, call_reason = NULL, callback_reason = NULL, "
            "transfer_summary = NULL, summary_status = 'skipped' WHERE from_number = :n"
        ),
        {"n": number},
    )
    return cleared.rowcount or 0


async def blocked_numbers(conn: AsyncConnection, limit: int = 500) -> list[RowMapping]:
    """Blocked numbers, most recently blocked first, with their last call and calls turned away."""
    rows = await conn.execute(
        text(
            "SELECT b.number, b.blocked_at, b.blocked_by, "
            "(SELECT max(started_at) FROM calls c WHERE c.from_number = b.number) AS last_call, "
            "(SELECT count(*) FROM calls c WHERE c.from_number = b.number "
            "AND c.end_reason = 'blocked') AS turned_away "
            "FROM callers b WHERE b.blocked_at IS NOT NULL ORDER BY b.blocked_at DESC LIMIT :limit"
        ),
        {"limit": limit},
    )
    return list(rows.mappings())


async def rejected_since(conn: AsyncConnection, since: datetime) -> list[tuple[str, int]]:
    """Calls turned away at the webhook since `since`, by reason (blocked, anonymous, spam)."""
    rows = await conn.execute(
        text(
            "SELECT c.end_reason, count(*) FROM calls c JOIN call_outcomes o "
            "ON o.call_sid = c.call_sid WHERE o.outcome = 'rejected' AND c.started_at >= :since "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
        {"since": since},
    )
    return [(str(r[0]), int(r[1])) for r in rows]
