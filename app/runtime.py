"""What the routes share for the life of the process: settings, database, clients, live calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.store import CallStore, NotWritten
from app.db.tables import transcript_turns
from app.realtime.client import ModelSession, PreparedSessions, opening_messages
from app.realtime.session import PromptContext, render_instructions, session_config
from app.twilio.rest import TwilioCalls
from app.twilio.tokens import StreamTokens
from app.wire.realtime import message

if TYPE_CHECKING:
    from app.twilio.stream import CallDriver, CallInfo


@dataclass(frozen=True)
class ToolReport:
    """A finished tool call as the driver hands it to the machine."""

    ok: bool
    output: str
    outcome: tuple[str, dict[str, Any]] | None = None
    effect: str | None = None


ToolDispatcher = Callable[["CallInfo", str, str, str], Awaitable[ToolReport]]
TransferStarter = Callable[["CallInfo", str, str], Awaitable[tuple[bool, str]]]


async def _no_tools(info: CallInfo, call_id: str, name: str, arguments: str) -> ToolReport:
    output = {"ok": False, "error": "unknown_tool", "say": "I can't do that on this line."}
    return ToolReport(False, orjson.dumps(output).decode())


async def _no_transfer(info: CallInfo, reason: str, summary: str) -> tuple[bool, str]:
    return False, "transfer_unavailable"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    store: CallStore
    tokens: StreamTokens
    prepared: PreparedSessions
    prompt_template: str
    business_name: str = "our office"
    business_facts: str = ""
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    tools: list[dict[str, Any]] = field(default_factory=list)
    dispatch_tool: ToolDispatcher = _no_tools
    transfer: TransferStarter = _no_transfer
    transfer_available: Callable[[datetime], bool] = lambda _now: False
    twilio: TwilioCalls | None = None
    active_calls: dict[str, CallDriver] = field(default_factory=dict)
    draining: bool = False
    now: Callable[[], datetime] = field(default_factory=lambda: _utcnow)

    @property
    def calls_in_progress(self) -> int:
        """Calls on this instance: live streams and sessions opened for streams on their way."""
        return len(self.active_calls) + len(self.prepared)

    def instructions(self, disclose_recording: bool) -> str:
        now = self.now()
        return render_instructions(
            self.prompt_template,
            PromptContext(
                business_name=self.business_name,
                business_facts=self.business_facts,
                now=now.astimezone(self.timezone),
                transfer_available=self.transfer_available(now),
                disclose_recording=disclose_recording,
            ),
        )

    def open_model_session(
        self,
        call_sid: str,
        *,
        greet: bool,
        disclose_recording: bool = False,
        extra: list[str] | None = None,
    ) -> ModelSession:
        session = session_config(self.settings, self.instructions(disclose_recording), self.tools)
        first = opening_messages(session, greet=False) + (extra or [])
        if greet:
            first += opening_messages(session, greet=True)[1:]
        return ModelSession(self.settings, call_sid, first)

    async def history(self, call_sid: str) -> tuple[list[tuple[str, str]], int]:
        """The call's transcript so far (as heard) and the next free turn number.

        Raises NotWritten if some of its turns may not be in the database yet: a partial
        transcript would hand out turn numbers that are still on their way."""
        if not await self.store.flush(2.0):
            raise NotWritten("the call's turns are not all in the database yet")
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        transcript_turns.c.seq, transcript_turns.c.speaker, transcript_turns.c.text
                    )
                    .where(transcript_turns.c.call_sid == call_sid)
                    .order_by(transcript_turns.c.seq)
                )
            ).all()
        next_seq = (rows[-1].seq + 1) if rows else 0
        return [(r.speaker, r.text) for r in rows], next_seq

    @staticmethod
    def history_items(history: list[tuple[str, str]], note: str | None = None) -> list[str]:
        """Conversation items that re-seed a new model session with what was said."""
        items = [message("user" if who == "caller" else "assistant", said) for who, said in history]
        if note:
            items.append(message("system", note))
        return items


def _utcnow() -> datetime:
    return datetime.now(UTC)
