"""What a resumed leg of a call starts from: the machine's config and the model's seed items.

A call resumes when the caller comes back to the agent on a new stream: after a transfer nobody
answered, or after the Machine that held the call died (app/twilio/callbacks.py). The leg carries
on the same record and conversation when the history can be read in time, and without it when not:
the caller is waiting for the agent and must not hear dead air.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from app.call.info import CallInfo
from app.call.machine import MachineConfig
from app.db.history import CallHistory
from app.logging import get_logger
from app.realtime.session import history_items

log = get_logger(__name__)

# Turn numbers for a resumed call whose history could not be read: after any earlier turn.
RESUMED_SEQ_BASE = 100_000
RESUME_HISTORY_WAIT_SECONDS = 0.5
# What a cold-started session of a resumed leg is told (the callback that resumed the call has
# already told the session it pre-opened).
RESUMED_NOTES = {
    "transfer_failed": "The caller is back with you: the transfer to a person was not answered. "
    "Apologise briefly and offer to take a message so the team can call back.",
    "line_dropped": "The line dropped for a moment and the caller is back with you. Apologise "
    "briefly and carry on from where you were.",
}


async def resumed_leg(
    config: MachineConfig, history_store: CallHistory, info: CallInfo
) -> tuple[MachineConfig, list[str]]:
    """The config of a resumed leg and the items a cold-started session is seeded with."""
    try:
        async with asyncio.timeout(RESUME_HISTORY_WAIT_SECONDS):
            history, next_seq = await history_store.load(info.call_sid)
    except Exception as exc:  # the database is away: carry on without the history
        log.warning("history_unavailable", error=type(exc).__name__)
        history, next_seq = [], RESUMED_SEQ_BASE
    outcome = ("transfer_failed", {"resumed": True}) if info.resume == "transfer_failed" else None
    config = replace(config, first_seq=next_seq, history=tuple(history), initial_outcome=outcome)
    return config, history_items(history, RESUMED_NOTES.get(info.resume or ""))
