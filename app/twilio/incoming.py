"""POST /twilio/incoming: check Twilio's signature, record the call, open the model, answer TwiML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import structlog
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from app.logging import get_logger, mask_phone
from app.twilio import handoff
from app.twilio.disclosure import must_disclose
from app.twilio.signatures import is_valid, public_base, ws_base

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

NO_AGENT = "Thanks for calling. Our virtual receptionist can't take calls right now."
ALL_BUSY = "Thanks for calling. All of our lines are busy right now."
RESTARTING = "Thanks for calling. Our receptionist is restarting for a moment."
MAX_FORM_BYTES = 32 * 1024  # a Twilio webhook is a few hundred bytes


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


def forbidden() -> Response:
    return Response("invalid Twilio signature\n", status_code=403, media_type="text/plain")


def bad_request(reason: str) -> Response:
    return Response(reason + "\n", status_code=400, media_type="text/plain")


async def signed_form(request: Request) -> tuple[dict[str, str], str] | None:
    """The request's form fields and public base URL if Twilio's signature matches; else None.

    Anything that is not a small urlencoded form cannot carry a valid signature either.
    """
    runtime: Runtime = request.app.state.runtime
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        log.warning("twilio_request_rejected", reason="content_type", path=request.url.path)
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            log.warning("twilio_request_rejected", reason="too_large", path=request.url.path)
            return None
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        log.warning("twilio_request_rejected", reason="malformed_form", path=request.url.path)
        return None
    base = public_base(runtime.settings, request.headers, request.url)
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not is_valid(runtime.settings, url, params, request.headers.get("x-twilio-signature")):
        log.warning("twilio_signature_rejected", path=request.url.path)
        return None
    return params, base


def _refusal(runtime: Runtime, base: str, redirected: bool) -> VoiceResponse | None:
    """TwiML for a call this instance must not take (draining or full); None to take it."""
    settings = runtime.settings
    if settings.openai_api_key is None:
        log.warning("call_without_agent", reason="OPENAI_API_KEY not set")
        return handoff.to_human(settings, NO_AGENT)
    if runtime.draining:
        if not redirected:
            # Ask Twilio again: behind Fly's proxy the retry usually reaches a healthy instance.
            log.info("call_redirected", reason="draining")
            response = VoiceResponse()
            response.redirect(f"{base}/twilio/incoming?handoff=1", method="POST")
            return response
        log.warning("call_handed_off", reason="draining")
        return handoff.to_human(settings, RESTARTING)
    if runtime.calls_in_progress >= settings.max_concurrent_calls:
        log.warning("call_handed_off", reason="capacity", calls=runtime.calls_in_progress)
        return handoff.to_human(settings, ALL_BUSY)
    return None


async def incoming_call(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    signed = await signed_form(request)
    if signed is None:
        return forbidden()
    params, base = signed
    call_sid = params.get("CallSid", "")
    if not call_sid.startswith("CA") or not call_sid.isalnum() or len(call_sid) > 64:
        return bad_request("missing or invalid CallSid")
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
        refusal = _refusal(runtime, base, request.query_params.get("handoff") == "1")
        if refusal is not None:
            return twiml(refusal)
        disclose = must_disclose(settings.recording_disclosure, params.get("FromState"))
        if disclose:
            runtime.store.call(call_sid, recording_disclosed=True)
        # Open the model now: the greeting is generated while Twilio sets up the stream.
        runtime.prepared.add(
            runtime.open_model_session(call_sid, greet=True, disclose_recording=disclose)
        )
        context = {"from": from_number or "", "from_state": params.get("FromState") or ""}
        return twiml(
            handoff.connect_stream(base, ws_base(base), runtime.tokens.issue(call_sid), context)
        )
