"""POST /twilio/incoming: check Twilio's signature, record the call, open the model, answer TwiML."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from app.logging import get_logger, mask_phone
from app.twilio import handoff
from app.twilio.disclosure import must_disclose
from app.twilio.signatures import ws_base
from app.twilio.webhooks import Webhook, bad_request, twilio_webhook, twiml

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

NO_AGENT = "Thanks for calling. Our virtual receptionist can't take calls right now."
ALL_BUSY = "Thanks for calling. All of our lines are busy right now."
RESTARTING = "Thanks for calling. Our receptionist is restarting for a moment."


def _refusal(runtime: Runtime, base: str, redirected: bool) -> VoiceResponse | None:
    """TwiML for a call this instance must not take (draining or full); None to take it."""
    settings = runtime.settings
    if settings.openai_api_key is None:
        log.warning("call_without_agent", reason="OPENAI_API_KEY not set")
        runtime.metrics.calls_rejected.labels("no_agent").inc()
        return handoff.to_human(settings, NO_AGENT)
    if runtime.draining:
        if not redirected:
            # Ask Twilio again: behind Fly's proxy the retry usually reaches a healthy instance.
            log.info("call_redirected", reason="draining")
            response = VoiceResponse()
            response.redirect(f"{base}/twilio/incoming?handoff=1", method="POST")
            return response
        log.warning("call_handed_off", reason="draining")
        runtime.metrics.calls_rejected.labels("draining").inc()
        return handoff.to_human(settings, RESTARTING)
    if runtime.calls_in_progress >= settings.max_concurrent_calls:
        log.warning("call_handed_off", reason="capacity", calls=runtime.calls_in_progress)
        runtime.metrics.calls_rejected.labels("capacity").inc()
        return handoff.to_human(settings, ALL_BUSY)
    return None


def _turned_away(runtime: Runtime, call_sid: str, reason: str) -> Response:
    """`<Reject reason="busy"/>`: the call is never answered, so neither Twilio nor OpenAI bill
    it; the calls row (written just before) is closed with the outcome `rejected`."""
    runtime.store.call(
        call_sid,
        ended_at=datetime.now(UTC),
        end_reason=reason,
        summary_status="skipped",  # nothing was said: nothing to summarise
    )
    runtime.store.outcome(call_sid, "rejected", {"reason": reason})
    runtime.metrics.calls_rejected.labels(reason).inc()
    log.info("call_rejected", reason=reason)
    response = VoiceResponse()
    response.reject(reason="busy")  # Twilio: only as the first verb does <Reject> cost nothing
    return twiml(response)


def _hand_to_human(hook: Webhook) -> Response:
    """When taking the call fails: an apology and the hand-off to a person, never silence."""
    return twiml(handoff.to_human(hook.runtime.settings, handoff.SORRY_BROKEN))


@twilio_webhook(_hand_to_human)
async def incoming_call(hook: Webhook) -> Response:
    """A call comes in: take it (TwiML <Connect><Stream>), or hand it on politely."""
    runtime, params, base, call_sid = hook.runtime, hook.params, hook.base, hook.call_sid
    if not call_sid.startswith("CA") or not call_sid.isalnum() or len(call_sid) > 64:
        return bad_request("missing or invalid CallSid")
    from_number = params.get("From")
    log.info("call_incoming", caller=mask_phone(from_number), from_state=params.get("FromState"))
    settings = runtime.settings
    machines = runtime.machines
    runtime.store.call(
        call_sid,
        only_insert=True,
        account_sid=params.get("AccountSid"),
        from_number=from_number,
        to_number=params.get("To"),
        from_state=params.get("FromState"),
        from_city=params.get("FromCity"),
        from_country=params.get("FromCountry"),
        direction=params.get("Direction"),
        twilio_status=params.get("CallStatus"),
        model=settings.openai_realtime_model,
        started_at=datetime.now(UTC),
        machine_id=machines.self_id,  # where the status callback is replayed to (app/fleet/)
        stir_verstat=params.get("StirVerstat"),  # SHAKEN/STIR, US only (app/callers/numbers.py)
    )
    # Blocked, anonymous (ANONYMOUS_CALLERS) or spam (SPAM_POLICY): turned away before any model
    # session is opened (app/callers/screen.py).
    reason = await runtime.callers.screen.verdict(from_number, params.get("StirVerstat"))
    if reason is not None:
        return _turned_away(runtime, call_sid, reason)
    refusal = _refusal(runtime, base, hook.request.query_params.get("handoff") == "1")
    if refusal is not None:
        return twiml(refusal)
    # Decided once for the whole call, carried in the stream token; `calls.recording_disclosed`
    # is written when a session that was told to disclose has actually greeted the caller.
    disclose = must_disclose(settings, params.get("FromState"))
    # A returning caller's note is looked up while the model's socket connects (app/callers/).
    memory = runtime.callers.memory
    note = asyncio.ensure_future(memory.note_for(from_number, call_sid)) if memory else None
    # Open the model now: the greeting is generated while Twilio sets up the stream.
    runtime.sessions.prepare(call_sid, disclose_recording=disclose, caller_note=note)
    token = runtime.tokens.issue(call_sid, disclose_recording=disclose, machine_id=machines.self_id)
    context = {"from": from_number or "", "from_state": params.get("FromState") or ""}
    # Every URL of this call names this Machine (`/m/<id>/twilio/...` on a Fly fleet), so Fly's
    # proxy replays the stream and the callbacks here, where the session waits (app/fleet/).
    call_base = machines.call_base(base)
    return twiml(handoff.connect_stream(call_base, ws_base(call_base), token, context))
