"""What the routes share for the life of the process: the parts `app.compose` built, live calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.backend import BusinessBackend
from app.calendar.service import BusinessCalendar
from app.calendar.writer import CalendarWriter
from app.call.driver import CallDriver
from app.call.ports import CallServices
from app.callers.service import Callers
from app.config import Settings
from app.db.history import CallHistory
from app.db.store import CallStore
from app.db.stream_tokens import UsedTokens
from app.doctor import Checkup
from app.fleet.machines import Machines
from app.metrics import Metrics
from app.realtime.client import PreparedSessions
from app.realtime.sessions import ModelSessions
from app.recording.twilio_api import TwilioRecordings
from app.twilio.rest import TwilioCalls
from app.twilio.tokens import StreamTokens
from app.twilio.transfer import Transfers


@dataclass
class Runtime:
    """Built whole by `app.compose.runtime`; only `active_calls` and `draining` change later."""

    settings: Settings
    engine: AsyncEngine
    store: CallStore
    tokens: StreamTokens
    used_tokens: UsedTokens
    machines: Machines
    sessions: ModelSessions
    history: CallHistory
    twilio: TwilioCalls
    transfers: Transfers
    business: BusinessBackend
    services: CallServices
    metrics: Metrics
    checkup: Checkup  # the doctor's checks, for the front door and the console
    recordings_api: TwilioRecordings
    callers: Callers  # blocked / anonymous / spam screen and returning-caller memory
    # The business's linked calendar and its event writer (None: CALENDAR is not set).
    calendar: BusinessCalendar | None = None
    calendar_writer: CalendarWriter | None = None
    active_calls: dict[str, CallDriver] = field(default_factory=dict)
    draining: bool = False

    @property
    def prepared(self) -> PreparedSessions:
        return self.sessions.prepared

    def holds(self, call_sid: str) -> bool:
        """This process runs the call's stream or keeps a session opened for it."""
        return call_sid in self.active_calls or self.prepared.has(call_sid)

    @property
    def calls_in_progress(self) -> int:
        """Calls on this instance: live streams and sessions opened for streams on their way."""
        return len(self.active_calls) + len(self.prepared)
