"""POST /twilio/incoming: check Twilio's signature, record the call, open the model, answer TwiML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import Connect, VoiceResponse

from app.logging import get_logger, mask_phone
from app.twilio.disclosure import must_disclose
from app.twilio.signatures import is_valid, public_base, ws_base

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

NO_AGENT = "Thanks for calling. Our virtual receptionist can't take calls right now."
NO_AGENT_TRANSFER = " Please hold while I connect you to a member of our team."
NO_AGENT_LATER = " Please call back a little later. Goodbye."
# Parameters are strings under 500 characters (Twilio <Parameter> limit).
MAX_PARAM = 200


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


def forbidden() -> Response:
    return Response("invalid Twilio signature\n", status_code=403, media_type="text/plain")


async def signed_form(request: Request) -> tuple[dict[str, str], str] | None:
    """The request's form fields and public base URL if Twilio's signature matches; else None."""
    runtime: Runtime = request.app.state.runtime
    form = await request.form()
    params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    base = public_base(runtime.settings, request.headers, request.url)
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not is_valid(runtime.settings, url, params, request.headers.get("x-twilio-signature")):
        log.warning("twilio_signature_rejected", path=request.url.path)
        return None
    return params, base


def fallback(runtime: Runtime, message: str) -> VoiceResponse:
    """A polite answer without the agent: to a person if there is one, else goodbye."""
    response = VoiceResponse()
    human = runtime.settings.human_transfer_number
    if human:
        response.say(message + NO_AGENT_TRANSFER)
        response.dial(human, caller_id=runtime.settings.twilio_phone_number, timeout=20)
        response.say("Sorry, nobody could take your call. Please try again later. Goodbye.")
    else:
        response.say(message + NO_AGENT_LATER)
    response.hangup()
    return response


async def incoming_call(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    signed = await signed_form(request)
    if signed is None:
        return forbidden()
    params, base = signed
    call_sid = params.get("CallSid", "")
    if not call_sid.startswith("CA") or len(call_sid) > 64:
        return Response("missing or invalid CallSid\n", status_code=400, media_type="text/plain")
    with structlog.contextvars.bound_contextvars(call_sid=call_sid):
        from_number = params.get("From")
        log.info(
            "call_incoming", caller=mask_phone(from_number), from_state=params.get("FromState")
        )
        settings = runtime.settings
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
        )
        if settings.openai_api_key is None:
            log.warning("call_without_agent", reason="OPENAI_API_KEY not set")
            runtime.store.call(call_sid, end_reason="no_agent")
            return twiml(fallback(runtime, NO_AGENT))
        disclose = must_disclose(settings.recording_disclosure, params.get("FromState"))
        if disclose:
            runtime.store.call(call_sid, recording_disclosed=True)
        # Open the model now: the greeting is generated while Twilio sets up the stream.
        runtime.prepared.add(
            runtime.open_model_session(call_sid, greet=True, disclose_recording=disclose)
        )
        response = VoiceResponse()
        connect = Connect(action=f"{base}/twilio/stream-ended")
        stream = connect.stream(url=f"{ws_base(base)}/twilio/stream")
        stream.parameter(name="token", value=runtime.tokens.issue(call_sid))
        if from_number:
            stream.parameter(name="from", value=from_number[:MAX_PARAM])
        if params.get("FromState"):
            stream.parameter(name="from_state", value=params["FromState"][:MAX_PARAM])
        response.append(connect)
        return twiml(response)
