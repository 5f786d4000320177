"""A call's transcript so far, read back from the database to re-seed a new model session."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.store import CallStore, NotWritten
from app.db.tables import transcript_turns


class CallHistory:
    def __init__(self, engine: AsyncEngine, store: CallStore) -> None:
        self._engine = engine
        self._store = store

    async def load(self, call_sid: str) -> tuple[list[tuple[str, str]], int]:
        """The call's transcript so far (as heard) and the next free turn number.

        Raises NotWritten if some of its turns may not be in the database yet: a partial
        transcript would hand out turn numbers that are still on their way."""
        if not await self._store.flush(2.0):
            raise NotWritten("the call's turns are not all in the database yet")
        async with self._engine.connect() as conn:
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
