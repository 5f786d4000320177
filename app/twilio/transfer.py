"""Warm transfer: record the handoff, then move the live call to a <Dial> through Twilio REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.config import Settings
from app.db.store import CallStore
from app.logging import get_logger
from app.twilio import handoff
from app.twilio.rest import TwilioCalls

if TYPE_CHECKING:
    from app.twilio.stream import CallInfo

log = get_logger(__name__)


class Transfers:
    def __init__(self, settings: Settings, calls: TwilioCalls, store: CallStore) -> None:
        self._settings = settings
        self._calls = calls
        self._store = store

    async def start(self, info: CallInfo, reason: str, summary: str) -> tuple[bool, str]:
        if not self._settings.human_transfer_number:
            return False, "no_transfer_number"
        self._store.call(
            info.call_sid,
            transfer_status="requested",
            transfer_reason=reason[:500],
            transfer_summary=summary[:1000],
            transfer_requested_at=datetime.now(UTC),
        )
        # Twilio's whisper and <Dial action> requests read the summary from the database.
        if not await self._store.flush(2.0):
            log.warning("transfer_summary_not_written")  # the whisper may have to do without
        twiml = handoff.warm_transfer(self._settings, info.public_base, info.call_sid)
        if await self._calls.redirect(info.call_sid, str(twiml)):
            log.info("transfer_started", reason=reason[:80])
            return True, ""
        self._store.call(info.call_sid, transfer_status="failed")
        return False, "twilio_rest_failed"
