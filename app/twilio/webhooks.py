"""What every Twilio HTTP callback shares: a small signed form, a call id bound to the logs, and
an answer that is never a 5xx (Twilio would play "an application error has occurred")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import structlog
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from app.logging import get_logger
from app.metrics import route_label
from app.twilio.signatures import is_valid, public_base

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

MAX_FORM_BYTES = 32 * 1024  # a Twilio webhook is a few hundred bytes


@dataclass(frozen=True)
class Webhook:
    """A Twilio request whose signature checked out."""

    request: Request
    runtime: Runtime
    params: dict[str, str]
    base: str  # https://host as Twilio reached us

    @property
    def call_sid(self) -> str:
        return self.params.get("CallSid", "")

    def fallback_taken(self) -> None:
        """Count a safe answer given because something failed (the metrics)."""
        self.runtime.metrics.webhook_fallbacks.labels(route_label(self.request.url.path)).inc()


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


def bad_request(reason: str) -> Response:
    return Response(reason + "\n", status_code=400, media_type="text/plain")


def _forbidden() -> Response:
    return Response("invalid Twilio signature\n", status_code=403, media_type="text/plain")


async def _signed_form(request: Request, runtime: Runtime) -> tuple[dict[str, str], str] | None:
    """The form fields and public base URL if Twilio's signature matches; else None.

    Anything that is not a small urlencoded form cannot carry a valid signature either.
    """
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
        runtime.metrics.signature_refusals.labels(route_label(request.url.path)).inc()
        return None
    return params, base


Handler = Callable[[Webhook], Awaitable[Response]]
Fallback = Callable[[Webhook], Response]


def twilio_webhook(
    fallback: Fallback,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A Starlette endpoint that answers 403 unless Twilio signed the request.

    Whatever fails inside the handler (the database away, a bug of ours), Twilio gets the
    route's `fallback`, a safe answer for the caller, and the failure is logged at ERROR.
    """

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            signed = await _signed_form(request, runtime)
            if signed is None:
                return _forbidden()
            hook = Webhook(request, runtime, *signed)
            with structlog.contextvars.bound_contextvars(call_sid=hook.call_sid[:64]):
                try:
                    return await handler(hook)
                except Exception:
                    log.exception("twilio_webhook_failed", path=request.url.path)
                    hook.fallback_taken()
                    return fallback(hook)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


def no_content(hook: Webhook) -> Response:
    """The fallback of callbacks whose answer Twilio ignores (status callbacks)."""
    return Response(status_code=204)
