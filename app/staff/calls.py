"""Reading calls for the console: the filtered, searchable list and one call in full."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from app.business.hours import local_day_bounds

PAGE_SIZE = 25
# ts_headline marks the matched words with these; the template escapes the text, then turns
# them into <mark> (so a transcript can never inject markup through a search).
MARK_START, MARK_END = "\x02", "\x03"
_HEADLINE = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=10, MaxFragments=1"
# A call that has not ended after this long is not "in progress" any more but abandoned data
# (e.g. a Machine that died mid-call): the cap plus a margin.
_LIVE_MARGIN = timedelta(seconds=120)
# The summariser takes calls that ended within this window (app/notify/summarizer.py's CLAIM):
# an older call with no summary will not get one, so it is not "pending".
SUMMARY_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class CallFilter:
    outcome: str | None = None
    day: date | None = None
    number: str | None = None  # digits only, at least 3
    query: str | None = None

    @property
    def active(self) -> bool:
        return any((self.outcome, self.day, self.number, self.query))


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: keyset pagination on (started_at, id), newest first."""

    started_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.started_at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value or "~" not in value:
            return None
        stamp, _, ident = value.rpartition("~")
        try:
            started_at = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if not ident.isdigit() or started_at.tzinfo is None:
            return None
        return cls(started_at, int(ident))


def number_digits(value: str) -> str | None:
    """The digits a person typed for a number ("(617) 555-0142"), or None when too few."""
    digits = re.sub(r"\D", "", value)
    return digits[:20] if len(digits) >= 3 else None


async def list_calls(
    conn: AsyncConnection, where: CallFilter, tz: ZoneInfo, cursor: Cursor | None
) -> tuple[list[RowMapping], Cursor | None]:
    """A page of calls, newest first, and the cursor of the next page (None on the last)."""
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": PAGE_SIZE + 1}
    if where.outcome:
        conditions.append("o.outcome = :outcome")
        params["outcome"] = where.outcome
    if where.day:
        params["day_start"], params["day_end"] = local_day_bounds(tz, where.day)
        conditions.append("c.started_at >= :day_start AND c.started_at < :day_end")
    if where.number:
        # calls_from_number_reverse_idx: the end of a number is the start of it reversed.
        conditions.append("reverse(c.from_number) LIKE :number_pattern")
        params["number_pattern"] = where.number[::-1] + "%"
    if where.query:
        conditions.append(
            "EXISTS (SELECT 1 FROM transcript_turns t WHERE t.call_sid = c.call_sid "
            "AND to_tsvector('english', t.text) @@ websearch_to_tsquery('english', :q))"
        )
        params["q"] = where.query
        snippet = (
            "(SELECT ts_headline('english', t.text, websearch_to_tsquery('english', :q), "
            ":headline) FROM transcript_turns t WHERE t.call_sid = c.call_sid "
            "AND to_tsvector('english', t.text) @@ websearch_to_tsquery('english', :q) "
            "ORDER BY t.seq LIMIT 1)"
        )
        params["headline"] = _HEADLINE
    else:
        # The caller's first words stand in for a summary not written (yet).
        snippet = (
            "CASE WHEN c.summary IS NULL THEN (SELECT left(t.text, 160) FROM transcript_turns t "
            "WHERE t.call_sid = c.call_sid AND t.speaker = 'caller' ORDER BY t.seq LIMIT 1) END"
        )
    if cursor is not None:
        conditions.append("(c.started_at, c.id) < (:cursor_at, :cursor_id)")
        params["cursor_at"], params["cursor_id"] = cursor.started_at, cursor.id
    sql = (
        "SELECT c.id, c.call_sid, c.started_at, c.ended_at, c.channel, c.from_number, c.from_city, "
        "c.from_state, c.end_reason, o.outcome, c.summary, "
        f"{snippet} AS snippet "
        "FROM calls c LEFT JOIN call_outcomes o ON o.call_sid = c.call_sid "
        f"{'WHERE ' + ' AND '.join(conditions) if conditions else ''} "
        "ORDER BY c.started_at DESC, c.id DESC LIMIT :limit"
    )
    rows = list((await conn.execute(text(sql), params)).mappings())
    if len(rows) <= PAGE_SIZE:
        return rows, None
    last = rows[PAGE_SIZE - 1]
    return rows[:PAGE_SIZE], Cursor(last["started_at"], last["id"])


@dataclass(frozen=True)
class Turn:
    seq: int
    speaker: str
    text: str
    interrupted: bool
    offset_ms: int
    # Agent turns: the caller's end of speech to the turn's first audio (migration 0011).
    latency_ms: int | None = None
    kind: str = "turn"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any
    result: Any
    ok: bool
    duration_ms: int
    offset_ms: int
    kind: str = "tool"


@dataclass(frozen=True)
class CallDetail:
    call: RowMapping
    timeline: list[Turn | ToolCall]
    last_seq: int
    messages: list[RowMapping]
    appointments: list[RowMapping]
    notifications: list[RowMapping]

    @property
    def duration(self) -> timedelta | None:
        ended, started = self.call["ended_at"], self.call["started_at"]
        return ended - started if ended is not None else None


async def get_call(
    conn: AsyncConnection, call_sid: str, max_call_seconds: float
) -> CallDetail | None:
    """The call, its timeline, messages, appointments and notifications; None when there is no
    such call.

    `maybe_live`: not ended and younger than the call cap, i.e. in progress on some Machine.
    `summary_pending`: ended, not summarised yet, and recent enough for the summariser to take.
    """
    call = (
        (
            await conn.execute(
                text(
                    "SELECT c.*, o.outcome, o.detail AS outcome_detail, "
                    "c.ended_at IS NULL AND c.started_at > now() - CAST(:live_for AS interval) AS maybe_live, "
                    "c.summary IS NULL AND c.ended_at > now() - CAST(:summary_window AS interval) "
                    "AND coalesce(c.summary_status, 'running') = 'running' AS summary_pending "
                    "FROM calls c LEFT JOIN call_outcomes o ON o.call_sid = c.call_sid "
                    "WHERE c.call_sid = :sid"
                ),
                {
                    "sid": call_sid,
                    "live_for": timedelta(seconds=max_call_seconds) + _LIVE_MARGIN,
                    "summary_window": SUMMARY_WINDOW,
                },
            )
        )
        .mappings()
        .first()
    )
    if call is None:
        return None
    turns = await turns_after(conn, call_sid, -1)
    tools = [
        ToolCall(r.name, r.arguments, r.result, r.ok, r.duration_ms, r.offset_ms)
        for r in await conn.execute(
            text(
                "SELECT name, arguments, result, ok, duration_ms, offset_ms FROM tool_calls "
                "WHERE call_sid = :sid ORDER BY offset_ms, id"
            ),
            {"sid": call_sid},
        )
    ]
    # Tool calls slot in among the turns by when they happened; a turn stays before a tool
    # call of the same instant (the model asked for the tool after saying so).
    timeline: list[Turn | ToolCall] = sorted(
        [*turns, *tools], key=lambda item: (item.offset_ms, item.kind == "tool")
    )
    messages = list(
        (
            await conn.execute(
                text(
                    "SELECT id, caller_name, callback_number, message, urgency, handled_at, "
                    "handled_by FROM messages WHERE call_sid = :sid ORDER BY created_at"
                ),
                {"sid": call_sid},
            )
        ).mappings()
    )
    appointments = list(
        (
            await conn.execute(
                text(
                    "SELECT id, service, starts_at, status, customer_name FROM appointments "
                    "WHERE call_sid = :sid ORDER BY starts_at"
                ),
                {"sid": call_sid},
            )
        ).mappings()
    )
    notifications = list(
        (
            await conn.execute(
                text(
                    "SELECT kind, channel, recipient, status, attempts, last_error, created_at, "
                    "sent_at FROM notifications WHERE call_sid = :sid ORDER BY created_at, id"
                ),
                {"sid": call_sid},
            )
        ).mappings()
    )
    last_seq = turns[-1].seq if turns else -1
    return CallDetail(call, timeline, last_seq, messages, appointments, notifications)


async def turns_after(conn: AsyncConnection, call_sid: str, after_seq: int) -> list[Turn]:
    rows = await conn.execute(
        text(
            "SELECT seq, speaker, text, interrupted, offset_ms, latency_ms FROM transcript_turns "
            "WHERE call_sid = :sid AND seq > :after ORDER BY seq LIMIT 500"
        ),
        {"sid": call_sid, "after": after_seq},
    )
    return [Turn(r.seq, r.speaker, r.text, r.interrupted, r.offset_ms, r.latency_ms) for r in rows]
