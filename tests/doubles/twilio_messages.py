"""The Messages resource of the fake Twilio REST API (PROTOCOLS.md section 5): SMS sending.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth, form-encoded `To`,
`From` (or `MessagingServiceSid`) and `Body`; 201 with a message resource (`SM...` sid, status
`queued`, `num_segments`); Twilio's JSON errors: 21211 invalid To, 21610 unsubscribed recipient,
21614 not a mobile number, 21602/21604/21603 missing Body/To/From, 500, or a stall.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.doubles.twilio_api import FakeTwilioAPI

SmsMode = Literal["ok", "invalid", "opted_out", "landline", "error", "stall"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_GSM = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)
_PARAMS = frozenset(
    {"To", "From", "Body", "MessagingServiceSid", "StatusCallback", "MediaUrl", "ValidityPeriod"}
)


def num_segments(body: str) -> int:
    """Twilio's count: GSM-7 160 a segment (153 when split), UCS-2 70 (67 when split)."""
    gsm = all(c in _GSM for c in body)
    units = sum(2 if c in "^{}\\[~]|€\f" else 1 for c in body) if gsm else len(body)
    single, split = (160, 153) if gsm else (70, 67)
    return 1 if units <= single else -(-units // split)


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


class MessagesResource:
    """Mounted by FakeTwilioAPI; shares its request log, auth check and stop signal."""

    def __init__(self, api: FakeTwilioAPI) -> None:
        self._api = api
        self.mode: SmsMode = "ok"
        self.modes: dict[str, SmsMode] = {}  # by recipient number
        self.sent: list[SentMessage] = []
        self.problems: list[str] = []
        # Runs once a message is accepted, before the 201 goes back: a test causes a fault there
        # (stops the database), as if it happened between Twilio's acceptance and our record.
        self.on_accepted: Callable[[SentMessage], Awaitable[None]] | None = None

    def reset(self) -> None:
        self.mode = "ok"
        self.modes.clear()
        self.sent.clear()
        self.problems.clear()

    def bodies_to(self, number: str) -> list[str]:
        return [m.body for m in self.sent if m.to == number]

    async def create(self, request: Request) -> Response:
        from tests.doubles.twilio_api import _error

        api = self._api
        account_sid = request.path_params["account_sid"]
        recorded = await api._record(request, account_sid=account_sid)
        if not recorded.auth_ok:
            response = _error(20003, "Authenticate", 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return api._answer(recorded, response)
        if request.method != "POST" or account_sid != api.account_sid:
            return api._answer(recorded, api._not_found(request.url.path))
        form = recorded.form
        unknown = sorted(set(form) - _PARAMS)
        if unknown:
            self.problems.append(f"unknown Messages parameters {unknown}")
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return api._answer(recorded, _error(21604, "A 'To' phone number is required.", 400))
        if not from_ and "MessagingServiceSid" not in form:
            return api._answer(recorded, _error(21603, "A 'From' phone number is required.", 400))
        if not body:
            return api._answer(recorded, _error(21602, "Message body is required.", 400))
        if len(body) > 1600:
            return api._answer(
                recorded,
                _error(
                    21617, "The concatenated message body exceeds the 1600 character limit.", 400
                ),
            )
        mode = self.modes.get(to, self.mode)
        if mode == "invalid" or not _E164.match(to):
            message = f"The 'To' number {to} is not a valid phone number."
            return api._answer(recorded, _error(21211, message, 400))
        if mode == "opted_out":
            message = "Attempt to send to unsubscribed recipient"
            return api._answer(recorded, _error(21610, message, 400))
        if mode == "landline":
            message = f"'To' number {to} is not a valid mobile number"
            return api._answer(recorded, _error(21614, message, 400))
        if mode == "error":
            return api._answer(
                recorded, _error(20500, "An internal server error has occurred", 500)
            )
        if mode == "stall":
            await api._release.wait()
            return api._answer(recorded, _error(20503, "Service unavailable", 503))
        message_ = SentMessage("SM" + secrets.token_hex(16), to, from_, body)
        self.sent.append(message_)
        if self.on_accepted is not None:
            await self.on_accepted(message_)
        return api._answer(recorded, JSONResponse(self._resource(message_), status_code=201))

    def _resource(self, m: SentMessage) -> dict[str, Any]:
        account = self._api.account_sid
        uri = f"/2010-04-01/Accounts/{account}/Messages/{m.sid}"
        stamp = format_datetime(m.created, usegmt=True)
        return {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": m.body,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": m.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(num_segments(m.body)),
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": m.to,
            "uri": f"{uri}.json",
        }
