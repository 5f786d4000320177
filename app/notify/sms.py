"""SMS through Twilio's Messages API (PROTOCOLS.md section 5), from TWILIO_PHONE_NUMBER."""

from __future__ import annotations

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.config import Settings
from app.notify.channel import Delivery
from app.twilio.rest import HttpxTwilioClient

# Twilio: these say the recipient can never receive this SMS; sending again changes nothing.
PERMANENT_CODES = {
    21211: "invalid To number",
    21408: "region not enabled for SMS",
    21610: "recipient opted out (replied STOP)",
    21612: "cannot route to this number",
    21614: "To is not a mobile number (a landline?)",
    21606: "From number cannot send SMS",
}
RETRYABLE_STATUSES = frozenset({408, 409, 429})


class SmsChannel:
    """One SMS per `send`, with the official client over our shared httpx client."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, timeout: float = 10.0) -> None:
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        self._from = settings.twilio_phone_number or ""
        self._enabled = bool(settings.twilio_account_sid and token and self._from)
        self._client = Client(
            settings.twilio_account_sid or "AC_unset",
            token or "unset",
            http_client=HttpxTwilioClient(http, timeout),
        )
        self._client.api.base_url = settings.twilio_api_base

    async def send(
        self, recipient: str, subject: str | None, body: str, *, key: str | None = None
    ) -> Delivery:
        # Twilio's Messages API takes no idempotency key (the twilio package has IdempotencyKey
        # for Payments and UserDefinedMessages only; I-Twilio-Idempotency-Token is a header on
        # the webhooks Twilio sends us), so `key` has nowhere to go: exactly once rests on the
        # outbox's claim and record (app/notify/sender.py).
        if not self._enabled:
            return Delivery.failed("Twilio is not configured (TWILIO_ACCOUNT_SID, ...)")
        try:
            message = await self._client.messages.create_async(
                to=recipient, from_=self._from, body=body
            )
        except TwilioRestException as exc:
            reason = f"twilio {exc.code or exc.status}: {PERMANENT_CODES.get(exc.code, exc.msg)}"
            if exc.code in PERMANENT_CODES:
                return Delivery.failed(reason)
            if 400 <= exc.status < 500 and exc.status not in RETRYABLE_STATUSES:
                return Delivery.failed(reason)  # a request Twilio will refuse every time
            return Delivery.retry(reason)
        except (httpx.HTTPError, OSError) as exc:
            return Delivery.retry(f"twilio unreachable: {type(exc).__name__}")
        return Delivery.ok(message.sid)
