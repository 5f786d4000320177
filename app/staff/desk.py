"""The front desk's work: messages to call back, upcoming appointments, and today at a glance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from app.business.hours import local_day_bounds
from app.callers.console import rejected_since

MESSAGES_PAGE = 50
APPOINTMENTS_LIMIT = 300
# Today lists notifications that failed for good this recently (notifications_failed_idx).
FAILED_NOTIFICATIONS_DAYS = 7

_MESSAGE_COLUMNS = (
    "id, call_sid, caller_name, callback_number, message, urgency, created_at, handled_at, "
    "handled_by"
)


async def open_messages(conn: AsyncConnection, limit: int = MESSAGES_PAGE) -> list[RowMapping]:
    """Messages nobody has handled: urgent first, then the longest waiting."""
    rows = await conn.execute(
        text(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE handled_at IS NULL "
            "ORDER BY urgency = 'urgent' DESC, created_at LIMIT :limit"
        ),
        {"limit": limit},
    )
    return list(rows.mappings())


async def count_open_messages(conn: AsyncConnection) -> int:
    return int(
        (
            await conn.execute(text("SELECT count(*) FROM messages WHERE handled_at IS NULL"))
        ).scalar_one()
    )


async def handled_messages(conn: AsyncConnection, page: int) -> tuple[list[RowMapping], bool]:
    """A page of handled messages, most recently handled first, and whether more follow."""
    rows = list(
        (
            await conn.execute(
                text(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE handled_at IS NOT NULL "
                    "ORDER BY handled_at DESC LIMIT :limit OFFSET :offset"
                ),
                {"limit": MESSAGES_PAGE + 1, "offset": page * MESSAGES_PAGE},
            )
        ).mappings()
    )
    return rows[:MESSAGES_PAGE], len(rows) > MESSAGES_PAGE


async def mark_handled(conn: AsyncConnection, message_id: str, by: str) -> bool:
    """Record who handled the message and when; False if it was handled already or is unknown."""
    result = await conn.execute(
        text(
            "UPDATE messages SET handled_at = now(), handled_by = :by "
            "WHERE id = :id AND handled_at IS NULL RETURNING id"
        ),
        {"id": message_id, "by": by},
    )
    return result.first() is not None


@dataclass(frozen=True)
class Day:
    day: date
    appointments: list[RowMapping]


async def upcoming_appointments(
    conn: AsyncConnection,
    now: datetime,
    until: datetime | None = None,
    limit: int = APPOINTMENTS_LIMIT,
) -> list[RowMapping]:
    """Booked appointments from `now` (until `until`), soonest first."""
    rows = await conn.execute(
        text(
            "SELECT id, service, starts_at, ends_at, customer_name, customer_phone, notes, "
            "call_sid FROM appointments WHERE status = 'booked' AND starts_at >= :now "
            "AND (CAST(:until AS timestamptz) IS NULL OR starts_at < :until) "
            "ORDER BY starts_at, id LIMIT :limit"
        ),
        {"now": now, "until": until, "limit": limit},
    )
    return list(rows.mappings())


def by_day(rows: Iterable[RowMapping], tz: ZoneInfo) -> list[Day]:
    return [
        Day(day, list(group))
        for day, group in groupby(rows, key=lambda r: r["starts_at"].astimezone(tz).date())
    ]


async def get_appointment(conn: AsyncConnection, appointment_id: str) -> RowMapping | None:
    rows = await conn.execute(
        text(
            "SELECT id, service, starts_at, ends_at, customer_name, customer_phone, status "
            "FROM appointments WHERE id = :id"
        ),
        {"id": appointment_id},
    )
    return rows.mappings().first()


@dataclass(frozen=True)
class Today:
    total: int
    by_outcome: list[tuple[str, int]]
    waiting: int
    messages: list[RowMapping]
    appointments: list[RowMapping]
    live: list[RowMapping]
    failed_count: int
    failed: list[RowMapping]
    failed_days: int = FAILED_NOTIFICATIONS_DAYS
    # Today's turn latency (ms): p50, p90 and how many agent turns they cover; None: no turns.
    turn_latency: tuple[int, int, int] | None = None
    # Calls turned away at the webhook today, by why (blocked, anonymous, spam; app/callers/).
    rejected: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(n for _, n in self.rejected)


async def turn_latency(conn: AsyncConnection, since: datetime) -> tuple[int, int, int] | None:
    """p50 and p90 of the agent's turn latency over the turns written since `since`."""
    row = (
        await conn.execute(
            text(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), "
                "percentile_cont(0.9) WITHIN GROUP (ORDER BY latency_ms), count(latency_ms) "
                "FROM transcript_turns WHERE created_at >= :since AND latency_ms IS NOT NULL"
            ),
            {"since": since},
        )
    ).one()
    if not row[2]:
        return None
    return round(row[0]), round(row[1]), int(row[2])


async def failed_notifications(
    conn: AsyncConnection, since: datetime, limit: int = 5
) -> tuple[int, list[RowMapping]]:
    """How many notifications created since `since` failed for good, and the latest of them."""
    count = (
        await conn.execute(
            text(
                "SELECT count(*) FROM notifications "
                "WHERE status = 'failed' AND created_at >= :since"
            ),
            {"since": since},
        )
    ).scalar_one()
    rows = await conn.execute(
        text(
            "SELECT id, kind, channel, recipient, call_sid, last_error, created_at "
            "FROM notifications WHERE status = 'failed' AND created_at >= :since "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        ),
        {"since": since, "limit": limit},
    )
    return int(count), list(rows.mappings())


async def today(
    conn: AsyncConnection,
    now: datetime,
    tz: ZoneInfo,
    live_sids: list[str],
    max_call_seconds: float,
) -> Today:
    """Calls since local midnight by outcome, messages waiting, what is next, who is on now,
    and the notifications that failed this week."""
    start, _ = local_day_bounds(tz, now.astimezone(tz).date())
    # Calls turned away (blocked, anonymous, spam) are counted apart: nobody answered them.
    counts = [
        (r.outcome, r.n)
        for r in await conn.execute(
            text(
                "SELECT coalesce(o.outcome, CASE WHEN c.ended_at IS NULL THEN 'in_progress' "
                "ELSE 'no_outcome' END) AS outcome, count(*) AS n "
                "FROM calls c LEFT JOIN call_outcomes o ON o.call_sid = c.call_sid "
                "WHERE c.started_at >= :start AND o.outcome IS DISTINCT FROM 'rejected' "
                "GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            {"start": start},
        )
    ]
    # Live: the calls this Machine is carrying, and any call another Machine is carrying
    # (not ended, younger than the call cap).
    live = list(
        (
            await conn.execute(
                text(
                    "SELECT call_sid, channel, from_number, from_city, from_state, started_at FROM calls "
                    "WHERE call_sid = ANY(:sids) OR (ended_at IS NULL AND started_at > :since) "
                    "ORDER BY started_at DESC LIMIT 50"
                ),
                {
                    "sids": live_sids,
                    "since": now - timedelta(seconds=max_call_seconds + 120),
                },
            )
        ).mappings()
    )
    failed_count, failed = await failed_notifications(
        conn, now - timedelta(days=FAILED_NOTIFICATIONS_DAYS)
    )
    return Today(
        total=sum(n for _, n in counts),
        by_outcome=counts,
        waiting=await count_open_messages(conn),
        messages=await open_messages(conn, limit=5),
        appointments=await upcoming_appointments(conn, now, limit=6),
        live=live,
        failed_count=failed_count,
        failed=failed,
        turn_latency=await turn_latency(conn, start),
        rejected=await rejected_since(conn, start),
    )
