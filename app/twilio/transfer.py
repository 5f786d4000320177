"""Warm transfer: record the handoff, then move the live call to a <Dial> through Twilio REST.

The process also keeps what it handed over in memory (`recent`), so the whisper and the
<Dial action> of a transfer started here are answered right even while the database is away.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from app.call.info import CallInfo
from app.config import Settings
from app.db.store import CallStore
from app.logging import get_logger
from app.twilio import handoff
from app.twilio.rest import TwilioCalls

log = get_logger(__name__)


REMEMBERED_TRANSFERS = 256  # transfers last minutes; a few hundred covers any busy office


@dataclass(frozen=True)
class Handover:
    """What the person who answers is told, and who the caller is."""

    from_number: str | None
    reason: str
    summary: str


class Transfers:
    def __init__(self, settings: Settings, calls: TwilioCalls, store: CallStore) -> None:
        self._settings = settings
        self._calls = calls
        self._store = store
        self._recent: OrderedDict[str, Handover] = OrderedDict()

    def recent(self, call_sid: str) -> Handover | None:
        """The hand-over of a transfer this process started, if it still remembers it."""
        return self._recent.get(call_sid)

    def forget(self, call_sid: str) -> Handover | None:
        """The transfer is over (answered, unanswered or never started)."""
        return self._recent.pop(call_sid, None)

    async def start(self, info: CallInfo, reason: str, summary: str) -> tuple[bool, str]:
        if not self._settings.human_transfer_number:
            return False, "no_transfer_number"
        self._recent[info.call_sid] = Handover(info.from_number, reason[:500], summary[:1000])
        while len(self._recent) > REMEMBERED_TRANSFERS:
            self._recent.popitem(last=False)
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
        twiml = handoff.warm_transfer(
            self._settings, info.public_base, info.call_sid, info.disclose_recording
        )
        if await self._calls.redirect(info.call_sid, str(twiml)):
            log.info("transfer_started", reason=reason[:80])
            return True, ""
        self.forget(info.call_sid)
        self._store.call(info.call_sid, transfer_status="failed")
        return False, "twilio_rest_failed"
