"""Who is turned away at the webhook, before any model session: blocked, anonymous, spam.

A turned-away call is answered `<Reject reason="busy"/>` (Twilio: the only first verb that
does not answer the call, so nothing is billed), keeps its `calls` row with the outcome
`rejected` and why (`end_reason` `blocked`, `anonymous` or `spam`), and is counted on Today.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.callers.numbers import is_withheld, stir_failed
from app.config import AnonymousCallers, SpamPolicy
from app.logging import get_logger

log = get_logger(__name__)

BLOCK_CHECK_SECONDS = 0.2  # a database slower than this lets the call through, as before
REASONS = ("blocked", "anonymous", "spam")

IS_BLOCKED = text("SELECT 1 FROM callers WHERE number = :number AND blocked_at IS NOT NULL")


class Screen:
    """Decides, per incoming call, whether it is turned away (and why) or answered."""

    def __init__(
        self,
        engine: AsyncEngine,
        anonymous: AnonymousCallers,
        spam: SpamPolicy,
        timeout: float = BLOCK_CHECK_SECONDS,
    ) -> None:
        self._engine = engine
        self._anonymous = anonymous
        self._spam = spam
        self._timeout = timeout

    async def verdict(self, number: str | None, verstat: str | None) -> str | None:
        """'blocked', 'anonymous' or 'spam' to turn the call away; None to answer it."""
        if is_withheld(number):
            return "anonymous" if self._anonymous is AnonymousCallers.REJECT else None
        if self._spam is SpamPolicy.REJECT_FAILED and stir_failed(verstat):
            return "spam"
        assert number is not None
        return "blocked" if await self.blocked(number) else None

    async def blocked(self, number: str) -> bool:
        """Whether staff blocked `number`; False (answer) when the database cannot say in time."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as conn:
                    row = (await conn.execute(IS_BLOCKED, {"number": number})).first()
        except Exception as exc:  # TimeoutError included: a slow database answers the call
            log.warning(
                "caller_block_check_failed",
                error=type(exc).__name__,
                ms=round((time.perf_counter() - started) * 1000),
            )
            return False
        return row is not None
