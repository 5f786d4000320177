"""Twilio's follow-up requests about a call: stream ended, status, and the warm transfer.

Each answer is decided from the database (after this instance's own pending writes are in),
so whichever instance Twilio reaches answers the same way. When the database is away, what this
process remembers of the call decides, and otherwise a safe default: never a 5xx, never silence.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from app.db.tables import calls
from app.fleet.holders import elsewhere
from app.fleet.replay import replay_response
from app.logging import get_logger, mask_phone
from app.realtime.session import history_items
from app.twilio import handoff
from app.twilio.disclosure import must_disclose
from app.twilio.signatures import ws_base
from app.twilio.webhooks import Webhook, no_content, twilio_webhook, twiml

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

# The agent ended these calls on purpose: after the stream closes, the call ends too.
NORMAL_ENDINGS = frozenset({"agent_hangup", "idle", "max_duration", "caller_hangup"})
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
DATABASE_WAIT_SECONDS = 4.0  # Twilio gives a webhook 15 s; the caller hears silence meanwhile
GENERIC_WHISPER = "Incoming call from the receptionist. Connecting you now."
LINE_DROPPED_NOTE = (
    "The line dropped for a moment and the caller is back with you. Apologise briefly and carry "
    "on from where you were."
)
TRANSFER_FAILED_NOTE = (
    "You tried to transfer the caller to a person, but nobody answered ({status}). Apologise "
    "briefly, and offer to take a message so the team can call back."
)


async def _call_row(runtime: Runtime, call_sid: str, wait_for_end: float = 0.0) -> dict[str, Any]:
    """The call's row with this instance's unwritten writes laid over it; optionally wait for
    another instance's end of the call.

    Raises (TimeoutError, a database error) when the database does not answer in time.
    """
    async with asyncio.timeout(DATABASE_WAIT_SECONDS + wait_for_end):
        await runtime.store.flush(2.0)  # False: not all in the database yet; laid over below
        deadline = asyncio.get_running_loop().time() + wait_for_end
        while True:
            async with runtime.engine.connect() as conn:
                query = select(calls).where(calls.c.call_sid == call_sid)
                row = (await conn.execute(query)).first()
            found = runtime.store.with_unwritten(
                call_sid, dict(row._mapping) if row is not None else {}
            )
            if found.get("end_reason") or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.1)


async def _call_row_or_none(runtime: Runtime, call_sid: str) -> dict[str, Any] | None:
    """The call's row, or what this instance knows of it; None when neither can tell."""
    try:
        return await _call_row(runtime, call_sid)
    except Exception as exc:
        log.error("call_row_unavailable", error=type(exc).__name__)
        runtime.metrics.webhook_fallbacks.labels("call_row").inc()
        return runtime.store.with_unwritten(call_sid, {}) or None


def _to_human(hook: Webhook) -> Response:
    return twiml(handoff.to_human(hook.runtime.settings, handoff.SORRY_BROKEN))


@twilio_webhook(_to_human)
async def stream_ended(hook: Webhook) -> Response:
    """The <Connect action>: the stream closed; what does the caller hear next?"""
    runtime, call_sid = hook.runtime, hook.call_sid
    try:
        row = await _call_row(runtime, call_sid, wait_for_end=1.0)
    except Exception as exc:  # the database is away: never leave the caller in silence
        log.error("stream_ended_without_database", error=type(exc).__name__)
        hook.fallback_taken()
        row = runtime.store.with_unwritten(call_sid, {})  # what this instance knows
    reason = row.get("end_reason")
    if row.get("transfer_status") == "requested" or (
        not row and runtime.transfers.recent(call_sid) is not None
    ):
        log.info("stream_ended", decision="transfer_in_progress")
        return twiml(VoiceResponse())
    if reason in NORMAL_ENDINGS:
        log.info("stream_ended", decision="hang_up", end_reason=reason)
        return twiml(handoff.hang_up())
    if reason is None and row.get("stream_sid") and runtime.settings.openai_api_key is not None:
        # A stream ran and no end was ever recorded: the process that held it is gone (a
        # Machine that crashed or was replaced). The caller is still there: back to the agent.
        return await _resume_after_drop(hook, row)
    # Our crash, a model failure, a drain: a person (or an apology), never silence.
    log.warning("stream_ended", decision="hand_to_human", end_reason=reason)
    # After a drain the agent has already apologised and announced the handover.
    message = "" if reason == "shutdown" else handoff.SORRY_BROKEN
    return twiml(handoff.to_human(runtime.settings, message))


async def _resume_after_drop(hook: Webhook, row: dict[str, Any]) -> Response:
    """A new stream here, with a session that knows the call so far and apologises."""
    runtime, call_sid = hook.runtime, hook.call_sid
    try:
        async with asyncio.timeout(DATABASE_WAIT_SECONDS):
            history, _next_seq = await runtime.history.load(call_sid)
    except Exception as exc:  # back to the agent all the same, without the history
        log.error("resume_history_unavailable", error=type(exc).__name__)
        hook.fallback_taken()
        history = []
    # The decision the webhook made from FromState, made again from the same input.
    disclose = bool(row.get("recording_disclosed")) or must_disclose(
        runtime.settings, row.get("from_state")
    )
    runtime.sessions.prepare(
        call_sid, disclose_recording=disclose, extra=history_items(history, LINE_DROPPED_NOTE)
    )
    machines = runtime.machines
    # This Machine holds the call now: its status callback must come here.
    runtime.store.call(call_sid, machine_id=machines.self_id)
    token = runtime.tokens.issue(call_sid, disclose_recording=disclose, machine_id=machines.self_id)
    call_base = machines.call_base(hook.base)
    log.warning("stream_ended", decision="resume_with_agent", reseeded_turns=len(history))
    return twiml(
        handoff.connect_stream(
            call_base,
            ws_base(call_base),
            token,
            {"resume": "line_dropped", "from": row.get("from_number") or ""},
        )
    )


@twilio_webhook(no_content)
async def call_status(hook: Webhook) -> Response:
    """Status callback: finalise the call even when no stream ever connected."""
    runtime, call_sid = hook.runtime, hook.call_sid
    status = hook.params.get("CallStatus", "")
    log.info("call_status", status=status)
    if status not in FINAL_STATUSES or not call_sid:
        runtime.store.call(call_sid, twilio_status=status)
        return Response(status_code=204)
    if not runtime.holds(call_sid):
        # The number's status callback carries no Machine id: if another running Machine
        # answered this call, Fly's proxy replays the callback there, so that Machine closes
        # the session it opened (app/fleet/holders.py).
        target = await elsewhere(runtime.machines, runtime.engine, call_sid, hook.request.scope)
        if target is not None:
            return replay_response(target)
    # A caller who hung up during the greeting: the pre-opened session is closed now.
    session = runtime.sessions.adopt(call_sid)
    if session is not None:
        await session.close()
    runtime.store.put(
        {
            "op": "finalize",
            "call_sid": call_sid,
            "twilio_status": status,
            "end_reason": "caller_hangup" if status == "completed" else status,
            "ended_at": datetime.now(UTC).isoformat(),
        }
    )
    return Response(status_code=204)


def _generic_whisper(hook: Webhook) -> Response:
    recorded = hook.runtime.settings.call_recording
    return twiml(handoff.whisper(GENERIC_WHISPER + (handoff.RECORDED if recorded else "")))


@twilio_webhook(_generic_whisper)
async def transfer_whisper(hook: Webhook) -> Response:
    """Played to the person who answers, before the caller is bridged to them."""
    runtime = hook.runtime
    parent = hook.request.query_params.get("call", "")
    # What this process handed over is the freshest; the database serves other instances.
    handover = runtime.transfers.recent(parent)
    if handover is not None:
        caller, reason, summary = handover.from_number, handover.reason, handover.summary
    else:
        row = await _call_row_or_none(runtime, parent)
        if row is None:
            return _generic_whisper(hook)
        caller = row.get("from_number")
        reason, summary = row.get("transfer_reason") or "", row.get("transfer_summary") or ""
    log.info("transfer_whisper", call_sid=parent, caller=mask_phone(caller))
    recorded = runtime.settings.call_recording
    return twiml(handoff.whisper(handoff.whisper_text(caller, reason, summary, recorded=recorded)))


def _dial_fallback(hook: Webhook) -> Response:
    """<Dial action> when deciding failed: answered means done; otherwise a person or goodbye."""
    if hook.params.get("DialCallStatus", "") == "completed":
        return twiml(handoff.hang_up())
    return _to_human(hook)


@twilio_webhook(_dial_fallback)
async def transfer_done(hook: Webhook) -> Response:
    """<Dial action>: the person answered (done), or not (back to the agent, with context)."""
    runtime, base = hook.runtime, hook.base
    call_sid = hook.call_sid or hook.request.query_params.get("call", "")
    dial_status = hook.params.get("DialCallStatus", "")
    log.info("transfer_done", dial_status=dial_status)
    result = "answered" if dial_status == "completed" else "unanswered"
    runtime.metrics.transfers.labels(result).inc()
    handover = runtime.transfers.forget(call_sid)
    if dial_status == "completed":
        runtime.store.call(call_sid, transfer_status="completed", dial_call_status=dial_status)
        runtime.store.outcome(call_sid, "transferred", {"dial_status": dial_status})
        return twiml(handoff.hang_up())
    runtime.store.call(
        call_sid, transfer_status="failed", dial_call_status=dial_status, end_reason=None
    )
    runtime.store.outcome(call_sid, "transfer_failed", {"dial_status": dial_status})
    if runtime.settings.openai_api_key is None:
        return twiml(handoff.to_human(runtime.settings, handoff.SORRY_BROKEN))
    # Back to the agent: a new stream, and a model session seeded with the call so far.
    note = TRANSFER_FAILED_NOTE.format(status=dial_status or "no answer")
    try:
        async with asyncio.timeout(DATABASE_WAIT_SECONDS):
            history, _next_seq = await runtime.history.load(call_sid)
    except Exception as exc:  # the database is away: back to the agent without the history
        log.error("transfer_history_unavailable", error=type(exc).__name__)
        hook.fallback_taken()
        history = []
    # The same disclosure as every other session of the call: decided at the webhook, carried
    # in the token, then in this <Dial action> URL (app/twilio/handoff.py).
    disclose = hook.request.query_params.get("disclose") == "1"
    runtime.sessions.prepare(
        call_sid, disclose_recording=disclose, extra=history_items(history, note)
    )
    if handover is not None:
        from_number = handover.from_number or ""
    else:
        row = await _call_row_or_none(runtime, call_sid)
        from_number = (row or {}).get("from_number") or ""
    machines = runtime.machines
    token = runtime.tokens.issue(call_sid, disclose_recording=disclose, machine_id=machines.self_id)
    # The session waits here: the new stream and its callbacks must come here too.
    call_base = machines.call_base(base)
    return twiml(
        handoff.connect_stream(
            call_base, ws_base(call_base), token, {"resume": "transfer_failed", "from": from_number}
        )
    )
