"""Starting a call's recording once its caller has heard the disclosure (CALL_RECORDING=on).

The call driver calls `start` (app/call/ports.py `RecordingStarter`) from its own task, never on
the audio path; whatever Twilio answers, the call goes on: a refusal is logged with Twilio's
error code and kept in the call's `recordings` row, which the console shows as "not recorded".
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.call.info import CallInfo
from app.db.store import CallStore
from app.logging import get_logger
from app.recording.tables import recordings
from app.recording.tape import StereoTape
from app.recording.twilio_api import TwilioRecordings
from app.recording.writes import recording_op

log = get_logger(__name__)

STATUS_PATH = "/twilio/recording-status"
RUNNING = ("in-progress", "paused")
LOOKUP_SECONDS = 2.0


class Recorder:
    def __init__(self, api: TwilioRecordings, store: CallStore, engine: AsyncEngine) -> None:
        self._api = api
        self._store = store
        self._engine = engine

    async def start(self, info: CallInfo, offset_ms: Callable[[], int]) -> None:
        """Start recording the call now; `offset_ms()` reads the transcript's clock."""
        if info.resume and await self._still_running(info.call_sid):
            # Back from a transfer nobody answered (or a lost Machine): the call's recording
            # went on meanwhile (it belongs to the caller's call, not to the stream).
            log.info("recording_continues")
            return
        before = offset_ms()
        # The call's own Machine (its call-scoped base) takes the status callbacks.
        started = await self._api.start(info.call_sid, info.public_base + STATUS_PATH)
        # Twilio started it between our request and its answer: the middle is the best guess.
        offset = (before + offset_ms()) // 2
        if started.sid is None:
            log.warning(
                "recording_not_started",
                code=started.error_code,
                reason=(started.error_message or "")[:120],
            )
            self._store.put(
                recording_op(
                    info.call_sid,
                    status="failed",
                    error_code=started.error_code,
                    error_message=started.error_message,
                    completed_at=datetime.now(UTC),
                )
            )
            return
        log.info("recording_started", recording_sid=started.sid, offset_ms=offset)
        self._store.put(
            recording_op(
                info.call_sid,
                sid=started.sid,
                source="twilio",
                status=started.status,
                channels=started.channels,
                start_offset_ms=offset,
            )
        )

    async def _still_running(self, call_sid: str) -> bool:
        await self._store.flush(LOOKUP_SECONDS)
        try:
            async with self._engine.connect() as conn:
                query = select(recordings.c.id).where(
                    recordings.c.call_sid == call_sid, recordings.c.status.in_(RUNNING)
                )
                return (await conn.execute(query)).first() is not None
        except Exception as exc:  # the database is away: a second recording beats none
            log.warning("recording_lookup_failed", error=type(exc).__name__)
            return False


async def keep_tape(engine: AsyncEngine, store: CallStore, call_sid: str, tape: StereoTape) -> None:
    """A call the service recorded itself (the dev phone): its WAV into PostgreSQL. Called once
    the call's stream has ended, never on the audio path; a failure is logged, never raised."""
    if not tape.running:
        return
    await store.flush(LOOKUP_SECONDS)  # the calls row comes first (the recording refers to it)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(recordings).values(
                    call_sid=call_sid,
                    sid="RT" + secrets.token_hex(16),  # ours, shaped like Twilio's RE sids
                    source="service",
                    status="completed",
                    channels=2,
                    duration_seconds=math.ceil(tape.duration_ms / 1000),
                    start_offset_ms=tape.offset_ms,
                    cost_usd=0,
                    audio=tape.wav(),
                    completed_at=datetime.now(UTC),
                )
            )
    except Exception as exc:
        log.error("recording_not_kept", error=type(exc).__name__)
        return
    log.info("recording_kept", duration_ms=tape.duration_ms, offset_ms=tape.offset_ms)
