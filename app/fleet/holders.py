"""Which Machine holds a call, for requests whose URL cannot say (the number's status callback).

The status callback is set once on the phone number (`/twilio/status`), so its URL carries no
Machine id. The Machine that answered the webhook wrote its id into `calls.machine_id`; that row
says where to replay the callback.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from app.db.tables import calls
from app.fleet.machines import Machines
from app.fleet.replay import replay_target, was_replayed
from app.logging import get_logger

log = get_logger(__name__)

LOOKUP_BUDGET_SECONDS = 1.0  # a pre-opened session must be closed within 2 s of the callback


async def holder(engine: AsyncEngine, call_sid: str) -> str | None:
    """The id of the Machine that answered the call's webhook; None if unknown or unreadable."""
    try:
        async with asyncio.timeout(LOOKUP_BUDGET_SECONDS), engine.connect() as conn:
            query = select(calls.c.machine_id).where(calls.c.call_sid == call_sid)
            machine_id: str | None = (await conn.execute(query)).scalar()
    except Exception as exc:  # the database is away: the callback is served here
        log.warning("call_holder_unknown", error=type(exc).__name__)
        return None
    return machine_id


async def elsewhere(
    machines: Machines, engine: AsyncEngine, call_sid: str, scope: Scope
) -> str | None:
    """The running Machine (not this one) to replay a request about `call_sid` to, or None."""
    if not machines.enabled or was_replayed(scope):
        return None
    return await replay_target(machines, await holder(engine, call_sid), scope)
