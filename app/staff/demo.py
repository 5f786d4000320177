"""`receptionist demo-data`: thousands of realistic calls, bulk-copied into Postgres in seconds.

It is longer than 400 lines on purpose: one generator whose rows (calls, turns, tool calls,
messages, appointments, notifications) must agree with each other, built in one pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.hours import local_day_bounds
from app.business.profile import BusinessProfile
from app.db.writes import TOOL_KEYS, TURN_KEYS
from app.staff.demo_script import AREA_CODES, NAMES, PLACES, Script, make_script

HANDLER = "frontdesk@example.com"
# Where the owner's notifications go in the demo (NOTIFY_SMS_TO, NOTIFY_EMAIL_TO).
OWNER_SMS, OWNER_EMAIL = "+16175550100", "owner@example.com"
# The latest message email and booking confirmation failed for good, so the console shows both.
FAILED_EMAIL = "550 5.1.1 <owner@example.com>: Recipient address rejected: mailbox full"
FAILED_SMS = "Twilio error 21610: the recipient has replied STOP and cannot be messaged"


@dataclass(frozen=True)
class DemoSummary:
    calls: int
    turns: int
    tool_calls: int
    messages: int
    appointments: int
    upcoming: int
    notifications: int = 0

    def __str__(self) -> str:
        return (
            f"{self.calls:,} calls, {self.turns:,} transcript turns, {self.tool_calls:,} tool "
            f"calls, {self.messages:,} messages, {self.appointments:,} appointments "
            f"({self.upcoming:,} upcoming), {self.notifications:,} notifications"
        )


class DemoRefused(Exception):
    """The database already has calls (demo data is only added with --append)."""


def summarise(script: Script) -> tuple[str, str, bool, str | None]:
    """What the summariser would have written: (summary, reason, callback needed, why)."""
    name = script.caller_name
    if script.outcome == "booked" and script.service:
        return (
            f"{name} called to book an appointment ({script.service.lower()}) and was booked in.",
            script.service,
            False,
            None,
        )
    if script.outcome == "message_taken" and script.message:
        said = script.message[0]
        return f"{name} left a message: {said}", "Left a message", True, said
    if script.outcome == "transferred":
        return (
            "The caller asked for a person and was put through.",
            "Asked for a person",
            False,
            None,
        )
    if script.outcome == "transfer_failed":
        return (
            "The caller asked for a person, but nobody answered; they will try again later.",
            "Asked for a person",
            True,
            "The transfer was not answered",
        )
    if script.outcome == "abandoned":
        return "The caller hung up before saying what they wanted.", "Unknown", False, None
    question = script.turns[1][1] if len(script.turns) > 1 else "a question"
    if script.outcome == "no_resolution":
        return (
            f"The caller asked “{question}” and was not satisfied with the answer.",
            "A question",
            False,
            None,
        )
    return f"The caller asked “{question}” and got an answer.", "A question", False, None


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


class _Builder:
    def __init__(self, rng: random.Random, profile: BusinessProfile, now: datetime) -> None:
        self.rng = rng
        self.profile = profile
        self.tz = profile.tz
        self.now = now
        self.callers = [
            (
                rng.choice(NAMES),
                f"+1{rng.choice(AREA_CODES)}5550{rng.randrange(100, 200)}",
                rng.choice(PLACES),
            )
            for _ in range(1500)
        ]
        self.calls: list[tuple[Any, ...]] = []
        self.turns: list[tuple[Any, ...]] = []
        self.tools: list[tuple[Any, ...]] = []
        self.outcomes: list[tuple[Any, ...]] = []
        self.messages: list[tuple[Any, ...]] = []
        self.appointments: list[tuple[Any, ...]] = []
        self.notifications: list[dict[str, Any]] = []
        self.taken: set[tuple[str, datetime, int]] = set()

    def start_time(self, days: int) -> datetime:
        """A moment in opening-ish hours (7:30 to 19:30 local) over the last `days` days, or
        (one call in 8) any time: the receptionist answers at night too."""
        if self.rng.random() < 0.125:
            return self.now - timedelta(minutes=2 + self.rng.randrange(days * 24 * 60))
        while True:
            day = self.now.astimezone(self.tz).date() - timedelta(days=self.rng.randrange(days))
            start, _ = local_day_bounds(self.tz, day)
            at = start + timedelta(minutes=450 + self.rng.randrange(12 * 60))
            if at < self.now - timedelta(minutes=2):
                return at

    def add_call(self, script: Script, started: datetime, caller: tuple[Any, ...]) -> None:
        rng = self.rng
        name, number, (city, state) = caller
        sid = "CA" + _hex(rng, 32)
        offset = 0
        turn_offsets = []
        for seq, (speaker, said) in enumerate(script.turns):
            interrupted = speaker == "agent" and seq > 0 and rng.random() < 0.06
            if interrupted:
                said = " ".join(said.split()[: max(3, len(said.split()) // 2)])
            turn_offsets.append(offset)
            self.turns.append(
                (
                    sid,
                    seq,
                    speaker,
                    said,
                    interrupted,
                    offset,
                    started + timedelta(milliseconds=offset),
                )
            )
            offset += 1500 + len(said) * 55 + rng.randrange(1500)
        for index, (after, tool, arguments, result, ok) in enumerate(script.tools):
            at = turn_offsets[min(after, len(turn_offsets)) - 1] + 800
            self.tools.append(
                (
                    sid,
                    f"call_{index}",
                    tool,
                    orjson.dumps(arguments).decode(),
                    orjson.dumps(result).decode(),
                    ok,
                    120 + rng.randrange(700),
                    at,
                    started + timedelta(milliseconds=at),
                )
            )
        ended = started + timedelta(milliseconds=offset + 1000)
        minutes = (ended - started).total_seconds() / 60
        transfer_status, dial = script.transfer or (None, None)
        summary, reason, callback_needed, callback_reason = summarise(script)
        self.calls.append(
            (
                sid,
                number,
                "+16175550142",
                city.upper(),
                state,
                "US",
                "inbound",
                "completed",
                started,
                started + timedelta(milliseconds=300),
                ended,
                script.end_reason,
                "gpt-realtime-2",
                round(minutes * 0.24 + rng.random() * 0.02, 4),
                600 + rng.randrange(800),
                transfer_status,
                "caller asked for a person" if transfer_status else None,
                dial,
                summary,
                reason,
                callback_needed,
                callback_reason,
                "done",
                ended + timedelta(seconds=4),
            )
        )
        self.outcomes.append((sid, script.outcome, "{}", ended))
        if script.message is not None:
            said, urgency = script.message
            handled = ended < self.now - timedelta(days=2) or rng.random() < 0.5
            handled_at = ended + timedelta(minutes=20 + rng.randrange(600)) if handled else None
            if handled_at is not None and handled_at > self.now:
                handled_at = None
            self.messages.append(
                (
                    "msg_" + _hex(rng, 16),
                    sid,
                    name,
                    number,
                    said,
                    urgency,
                    ended,
                    handled_at,
                    HANDLER if handled_at else None,
                )
            )
            for channel, to in (("sms", OWNER_SMS), ("email", OWNER_EMAIL)):
                self.notify(
                    "message_taken", channel, to, sid, f"Message from {name}: {said}", ended
                )
        if script.service is not None:
            self.book(script.service, name, number, sid, ended)
            self.notify(
                "booking_confirmation",
                "sms",
                number,
                sid,
                f"You're booked: {script.service}",
                ended,
            )

    def notify(
        self, kind: str, channel: str, to: str, sid: str, body: str, ended: datetime
    ) -> None:
        """A notification about the call, sent a few seconds after it ended."""
        self.notifications.append(
            {
                "idempotency_key": f"{kind}:{sid}:{channel}:{to}",
                "kind": kind,
                "channel": channel,
                "recipient": to,
                "call_sid": sid,
                "subject": body.split(":", 1)[0] if channel == "email" else None,
                "body": body,
                "status": "sent",
                "attempts": 1,
                "last_error": None,
                "next_attempt_at": ended,
                "created_at": ended,
                "sent_at": ended + timedelta(seconds=6),
            }
        )

    def fail_latest(self, kind: str, channel: str, error: str) -> None:
        """The newest notification of `kind` by `channel` failed for good after five tries."""
        for row in reversed(self.notifications):
            if row["kind"] == kind and row["channel"] == channel:
                row.update(status="failed", attempts=5, last_error=error, sent_at=None)
                return

    def book(
        self, service_name: str, name: str, number: str, sid: str, booked_at: datetime
    ) -> None:
        service = self.profile.service(service_name)
        assert service is not None
        length = timedelta(minutes=service.duration_minutes)
        for _ in range(20):
            day = booked_at.astimezone(self.tz).date() + timedelta(days=1 + self.rng.randrange(21))
            if day.weekday() == 6:
                continue
            # Starts on a grid of the service's own length: two bookings of one unit never overlap.
            open_at = datetime.combine(day, time(8), self.tz)
            start = (
                open_at + length * self.rng.randrange(int(8 * 60 / service.duration_minutes))
            ).astimezone(UTC)
            for unit in range(service.capacity):
                if (service.name, start, unit) not in self.taken:
                    self.taken.add((service.name, start, unit))
                    status = "cancelled" if self.rng.random() < 0.04 else "booked"
                    self.appointments.append(
                        (
                            "apt_" + _hex(self.rng, 16),
                            service.name,
                            start,
                            start + length,
                            unit,
                            name,
                            number,
                            status,
                            sid,
                            booked_at,
                        )
                    )
                    return


async def _copy(
    engine: AsyncEngine, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table, records=rows, columns=columns)


async def fill_demo_data(
    engine: AsyncEngine,
    profile: BusinessProfile,
    *,
    calls: int = 10_000,
    turns: int = 21,
    days: int = 90,
    seed: int = 7,
    append: bool = False,
    now: datetime | None = None,
) -> DemoSummary:
    """Generate and bulk-copy the data (COPY, not INSERT: 200,000 turns in seconds)."""
    now = now or datetime.now(UTC)
    async with engine.connect() as conn:
        existing = (await conn.execute(text("SELECT count(*) FROM calls"))).scalar_one()
    if existing and not append:
        raise DemoRefused(f"the database already has {existing:,} calls; add --append to add more")
    rng = random.Random(seed)
    builder = _Builder(rng, profile, now)
    services = [s.name for s in profile.services]
    # A few calls in the last hours, so "today" has something to show whenever it is looked at.
    recent = min(calls, max(3, calls // (days * 4)))
    starts = sorted(
        [builder.start_time(days) for _ in range(calls - recent)]
        + [now - timedelta(minutes=3 + rng.randrange(360)) for _ in range(recent)]
    )
    for started in starts:
        caller = rng.choice(builder.callers)
        length = max(4, turns + rng.randrange(-8, 9))
        builder.add_call(
            make_script(rng, profile.name, services, caller[0], length), started, caller
        )
    await _copy(
        engine,
        "calls",
        [
            "call_sid",
            "from_number",
            "to_number",
            "from_city",
            "from_state",
            "from_country",
            "direction",
            "twilio_status",
            "started_at",
            "answered_at",
            "ended_at",
            "end_reason",
            "model",
            "estimated_cost_usd",
            "greeting_ms",
            "transfer_status",
            "transfer_reason",
            "dial_call_status",
            "summary",
            "call_reason",
            "callback_needed",
            "callback_reason",
            "summary_status",
            "summarized_at",
        ],
        builder.calls,
    )
    await _copy(
        engine,
        "transcript_turns",
        [*TURN_KEYS, "created_at"],
        builder.turns,
    )
    await _copy(
        engine,
        "tool_calls",
        [*TOOL_KEYS, "created_at"],
        builder.tools,
    )
    await _copy(
        engine, "call_outcomes", ["call_sid", "outcome", "detail", "decided_at"], builder.outcomes
    )
    await _copy(
        engine,
        "messages",
        [
            "id",
            "call_sid",
            "caller_name",
            "callback_number",
            "message",
            "urgency",
            "created_at",
            "handled_at",
            "handled_by",
        ],
        builder.messages,
    )
    await _copy(
        engine,
        "appointments",
        [
            "id",
            "service",
            "starts_at",
            "ends_at",
            "slot",
            "customer_name",
            "customer_phone",
            "status",
            "call_sid",
            "created_at",
        ],
        builder.appointments,
    )
    builder.fail_latest("message_taken", "email", FAILED_EMAIL)
    builder.fail_latest("booking_confirmation", "sms", FAILED_SMS)
    columns = list(builder.notifications[0]) if builder.notifications else []
    await _copy(
        engine,
        "notifications",
        columns,
        [tuple(row[c] for c in columns) for row in builder.notifications],
    )
    async with engine.begin() as conn:
        # Fresh statistics, so the planner picks the console's indexes right away.
        await conn.execute(text("ANALYZE"))
    upcoming = sum(1 for a in builder.appointments if a[2] >= now and a[7] == "booked")
    return DemoSummary(
        calls=len(builder.calls),
        turns=len(builder.turns),
        tool_calls=len(builder.tools),
        messages=len(builder.messages),
        appointments=len(builder.appointments),
        upcoming=upcoming,
        notifications=len(builder.notifications),
    )
