"""Stream tokens used anywhere: a Postgres row per token makes each one single-use fleet-wide.

A token is HMAC-signed, bound to its CallSid and expires within STREAM_TOKEN_TTL_SECONDS; each
process refuses a token it has already seen. The row here closes the gap between Machines: the
first INSERT wins, any later one (a replayed upgrade on another Machine) finds the row.

When the database does not answer within a short budget the stream is accepted: a caller is
never refused because of our database. What that leaves open is narrow and logged
(`stream_token_unverified`): a replay of a captured, still valid token on another Machine during
a database outage, which also needs a valid Twilio signature for the upgrade.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.tables import stream_tokens
from app.logging import get_logger

log = get_logger(__name__)

CLAIM_BUDGET_SECONDS = 1.0  # on the greeting's path: a local Postgres answers in about 1 ms


class UsedTokens:
    def __init__(self, engine: AsyncEngine, budget: float = CLAIM_BUDGET_SECONDS) -> None:
        self._engine = engine
        self._budget = budget

    async def first_use(self, token_id: str, expires: int) -> bool:
        """False only when another process (or an earlier stream) already used the token."""
        try:
            async with asyncio.timeout(self._budget), self._engine.begin() as conn:
                # Expired rows are of no use to anyone: the table holds a minute of tokens.
                await conn.execute(
                    delete(stream_tokens).where(stream_tokens.c.expires_at < func.now())
                )
                stmt = (
                    insert(stream_tokens)
                    .values(token_id=token_id, expires_at=datetime.fromtimestamp(expires, UTC))
                    .on_conflict_do_nothing()
                    .returning(stream_tokens.c.token_id)
                )
                return (await conn.execute(stmt)).first() is not None
        except Exception as exc:  # the database is away or slow: never refuse the caller for it
            log.warning("stream_token_unverified", error=type(exc).__name__)
            return True
