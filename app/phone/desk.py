"""The dev phone's switchboard: what Twilio and its webhooks do for a phone call, done here.

Starting a call is the webhook (calls row, model session opened now, a stream token); a
transfer is simulated (the page is told who would be rung and the whisper, instead of Twilio
REST moving the call to a <Dial>); the page's "answered" / "no answer" is the <Dial action>.
Everything else is the same call driver, model session, tools and rows as a phone call.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.call.info import CallInfo
from app.call.ports import CallServices
from app.logging import get_logger
from app.realtime.session import history_items
from app.twilio import handoff
from app.twilio.callbacks import TRANSFER_FAILED_NOTE
from app.twilio.disclosure import must_disclose

if TYPE_CHECKING:
    from app.phone.stream import DevPhoneStream
    from app.runtime import Runtime

log = get_logger(__name__)

CHANNEL = "dev_phone"  # calls.channel of every call made from the browser
REMEMBERED_CALLS = 64  # dev calls are few; who started each is kept for its later requests
HISTORY_WAIT_SECONDS = 4.0  # as Twilio's <Dial action>: the caller waits meanwhile
DIAL_STATUSES = frozenset({"completed", "no-answer", "canceled"})


class Refused(Exception):
    """The call cannot be placed or continued; the message is for the person at the page."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class DevCall:
    """Who placed a dev call, and the disclosure decided for it (as a webhook decides)."""

    user_id: int
    disclose_recording: bool


@dataclass(frozen=True)
class Ringing:
    """A simulated transfer waiting for the page's "answered" or "no answer"."""

    number: str
    whisper: str


async def _already_hung_up(call_sid: str) -> bool:
    """The driver's REST hang-up: the dev phone's socket closing *is* the hang-up."""
    return True


def new_call_sid() -> str:
    """A CallSid as Twilio makes them: "CA" and 32 hex digits."""
    return "CA" + secrets.token_hex(16)


class DevPhone:
    """One per process: the dev calls it placed, their open streams, their transfers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # No Twilio call to record: the service records a dev call itself (its stream's tape).
        self.services: CallServices = replace(
            runtime.services,
            transfer=self.transfer,
            hang_up=_already_hung_up,
            start_recording=self.start_recording if runtime.settings.call_recording else None,
        )
        self.streams: dict[str, DevPhoneStream] = {}
        self._calls: OrderedDict[str, DevCall] = OrderedDict()
        self._ringing: dict[str, Ringing] = {}
        self._ring_timers: dict[str, asyncio.TimerHandle] = {}
        self._resumable: set[str] = set()

    # --- the webhook -----------------------------------------------------------------------

    def start_call(self, user_id: int) -> dict[str, str]:
        """Record the call and open its model session now, so the greeting is ready."""
        runtime, settings = self.runtime, self.runtime.settings
        if settings.openai_api_key is None:
            raise Refused("Set OPENAI_API_KEY (in .env) and restart: the agent needs it.", 503)
        if runtime.draining:
            raise Refused("The service is restarting; try again in a moment.", 503)
        if runtime.calls_in_progress >= settings.max_concurrent_calls:
            raise Refused("All lines are busy (MAX_CONCURRENT_CALLS).", 503)
        call_sid = new_call_sid()
        disclose = must_disclose(settings, None)
        machine_id = runtime.machines.self_id
        runtime.store.call(
            call_sid,
            only_insert=True,
            channel=CHANNEL,
            direction="inbound",
            to_number=settings.twilio_phone_number,
            model=settings.openai_realtime_model,
            started_at=datetime.now(UTC),
            recording_disclosed=disclose or None,
            machine_id=machine_id,
        )
        runtime.sessions.prepare(call_sid, disclose_recording=disclose)
        self._remember(call_sid, DevCall(user_id, disclose))
        log.info("dev_phone_call_placed", call_sid=call_sid, user_id=user_id)
        token = runtime.tokens.issue(call_sid, disclose_recording=disclose, machine_id=machine_id)
        # The page sends the call's later requests to this Machine (`?machine=`, app/fleet/).
        return {"call_sid": call_sid, "token": token, "machine": machine_id or ""}

    def _remember(self, call_sid: str, call: DevCall) -> None:
        self._calls[call_sid] = call
        self._calls.move_to_end(call_sid)
        while len(self._calls) > REMEMBERED_CALLS:
            self._calls.popitem(last=False)

    def owns(self, call_sid: str, user_id: int) -> bool:
        call = self._calls.get(call_sid)
        return call is not None and call.user_id == user_id

    def stream_info(self, call_sid: str, stream_sid: str, public_base: str) -> CallInfo:
        """What the driver is told about a dev call's stream; resumed only after "no answer"."""
        resume = "transfer_failed" if call_sid in self._resumable else None
        self._resumable.discard(call_sid)
        call = self._calls.get(call_sid)
        disclose = call is not None and call.disclose_recording
        return CallInfo(
            call_sid,
            stream_sid,
            None,
            None,
            public_base,
            resume,
            disclose_recording=disclose,
            channel=CHANNEL,
        )

    async def start_recording(self, info: CallInfo, offset_ms: Callable[[], int]) -> None:
        """The caller heard the disclosure: the stream's tape runs from now (app/recording/)."""
        stream = self.streams.get(info.call_sid)
        if stream is not None:
            stream.tape.start(stream.now_ms(), offset_ms())
            log.info("recording_started", source="service")

    # --- the transfer, simulated -----------------------------------------------------------

    async def transfer(self, info: CallInfo, reason: str, summary: str) -> tuple[bool, str]:
        """The `TransferStarter` of dev calls: the page is told, instead of Twilio REST."""
        settings, store = self.runtime.settings, self.runtime.store
        if not settings.human_transfer_number:
            return False, "no_transfer_number"  # exactly as on a phone line
        stream = self.streams.get(info.call_sid)
        if stream is None:
            return False, "dev_phone_gone"
        reason, summary = reason[:500], summary[:1000]
        store.call(
            info.call_sid,
            transfer_status="requested",
            transfer_reason=reason,
            transfer_summary=summary,
            transfer_requested_at=datetime.now(UTC),
        )
        ringing = Ringing(
            settings.human_transfer_number,
            handoff.whisper_text(
                info.from_number, reason, summary, recorded=settings.call_recording
            ),
        )
        self._ringing[info.call_sid] = ringing
        self._ring_timers[info.call_sid] = asyncio.get_running_loop().call_later(
            settings.dev_phone_ring_seconds, self._ring_expired, info.call_sid
        )
        await stream.notice_now(
            {"type": "transfer", "number": ringing.number, "whisper": ringing.whisper}
        )
        log.info("dev_phone_transfer_started", reason=reason[:80])
        # Twilio ends the stream when REST moves the call to the <Dial>: so does the dev phone.
        await stream.close(1000)
        return True, ""

    async def dial_result(self, call_sid: str, user_id: int, status: str) -> dict[str, Any]:
        """The page's answer to a simulated transfer, as Twilio's <Dial action> would bring it.

        "completed": put through, the call is over. "no-answer": back to the agent on a new
        stream, with a model session re-seeded with the call so far. "canceled": the caller
        hung up while it rang.
        """
        runtime, store = self.runtime, self.runtime.store
        if status not in DIAL_STATUSES:
            raise Refused("Unknown transfer result.", 400)
        if not self.owns(call_sid, user_id) or not self._stop_ringing(call_sid):
            raise Refused("This call has no transfer waiting.", 409)
        log.info("dev_phone_transfer_done", call_sid=call_sid, dial_status=status)
        now = datetime.now(UTC)
        if status == "completed":
            store.call(call_sid, transfer_status="completed", dial_call_status=status, ended_at=now)
            store.outcome(call_sid, "transferred", {"dial_status": status})
            return {"resume": False}
        if status == "canceled":
            self._caller_gone(call_sid, status)
            return {"resume": False}
        store.call(call_sid, transfer_status="failed", dial_call_status=status, end_reason=None)
        store.outcome(call_sid, "transfer_failed", {"dial_status": status})
        note = TRANSFER_FAILED_NOTE.format(status="no answer")
        try:
            async with asyncio.timeout(HISTORY_WAIT_SECONDS):
                history, _next_seq = await runtime.history.load(call_sid)
        except Exception as exc:  # the database is away: back to the agent without history
            log.error("dev_phone_history_unavailable", error=type(exc).__name__)
            history = []
        disclose = self._calls[call_sid].disclose_recording
        runtime.sessions.prepare(
            call_sid, disclose_recording=disclose, extra=history_items(history, note)
        )
        self._resumable.add(call_sid)
        token = runtime.tokens.issue(
            call_sid, disclose_recording=disclose, machine_id=runtime.machines.self_id
        )
        return {"resume": True, "token": token}

    def ringing(self, call_sid: str) -> bool:
        return call_sid in self._ringing

    def _stop_ringing(self, call_sid: str) -> bool:
        """Settle a ringing transfer; False when none was ringing."""
        timer = self._ring_timers.pop(call_sid, None)
        if timer is not None:
            timer.cancel()
        return self._ringing.pop(call_sid, None) is not None

    def _ring_expired(self, call_sid: str) -> None:
        """Nobody settled the transfer (the page was closed, the laptop slept): the call ends as
        if the caller hung up while it rang, so no call is left open. Twilio rings for 20 s."""
        if self._stop_ringing(call_sid):
            log.warning("dev_phone_transfer_abandoned", call_sid=call_sid)
            self._caller_gone(call_sid, "canceled")

    def _caller_gone(self, call_sid: str, status: str) -> None:
        """The caller hung up while the transfer rang: the call ends there."""
        store = self.runtime.store
        store.call(
            call_sid,
            transfer_status="failed",
            dial_call_status=status,
            ended_at=datetime.now(UTC),
            end_reason="caller_hangup",
        )
        store.outcome(call_sid, "transfer_failed", {"dial_status": status})
