"""The Incoming Phone Numbers resource and the Account fetch of the fake Twilio REST API.

protocols/twilio-more.md section 3:
- `GET /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json?PhoneNumber=...` lists the account's
  numbers (a *partial* match, `*` as a wildcard; `PageSize`), in Twilio's page envelope with
  the records under `incoming_phone_numbers`;
- `GET|POST .../IncomingPhoneNumbers/{PN}.json` fetches or updates one (`VoiceUrl`,
  `VoiceMethod`, `VoiceFallbackUrl`, `VoiceFallbackMethod`, `StatusCallback`,
  `StatusCallbackMethod`, `VoiceApplicationSid`, `TrunkSid`, ...); 21405 for a fallback URL
  without a voice URL; setting `VoiceApplicationSid` or `TrunkSid` clears the other;
- `GET /2010-04-01/Accounts/{AC}.json` returns the account, its `auth_token` included.
HTTP Basic auth; 20003 (401) for bad credentials, 20404 for an unknown SID.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.doubles.twilio_api import FakeTwilioAPI

_V = "2010-04-01"
_UPDATE = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "TrunkSid": "trunk_sid",
    "VoiceCallerIdLookup": "voice_caller_id_lookup",
    "VoiceReceiveMode": "voice_receive_mode",
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "SmsApplicationSid": "sms_application_sid",
}
_METHODS = frozenset({"GET", "POST"})
AccountStatus = Literal["active", "suspended", "closed"]


@dataclass
class PhoneNumber:
    phone_number: str
    sid: str = field(default_factory=lambda: "PN" + secrets.token_hex(16))
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    voice_application_sid: str | None = None
    trunk_sid: str | None = None
    voice_caller_id_lookup: bool = False
    voice_receive_mode: str = "voice"
    friendly_name: str = ""
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    sms_application_sid: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


class NumbersResource:
    """Mounted by FakeTwilioAPI; shares its request log and auth check."""

    def __init__(self, api: FakeTwilioAPI) -> None:
        self._api = api
        self.numbers: dict[str, PhoneNumber] = {}
        self.account_status: AccountStatus = "active"
        self.account_type = "Full"
        self.problems: list[str] = []

    def reset(self) -> None:
        self.numbers.clear()
        self.account_status = "active"
        self.problems.clear()

    def add(self, phone_number: str, **fields: Any) -> PhoneNumber:
        number = PhoneNumber(phone_number, **fields)
        self.numbers[number.sid] = number
        return number

    def find(self, phone_number: str) -> PhoneNumber | None:
        return next((n for n in self.numbers.values() if n.phone_number == phone_number), None)

    # --- handlers --------------------------------------------------------------------------

    async def _authorised(self, request: Request) -> tuple[Any, Response | None]:
        from tests.doubles.twilio_api import _error

        api = self._api
        account_sid = request.path_params["account_sid"]
        recorded = await api._record(request, account_sid=account_sid)
        if not recorded.auth_ok:
            response = _error(20003, "Authenticate", 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return recorded, api._answer(recorded, response)
        if account_sid != api.account_sid:
            return recorded, api._answer(recorded, api._not_found(request.url.path))
        return recorded, None

    async def account(self, request: Request) -> Response:
        recorded, refused = await self._authorised(request)
        if refused is not None:
            return refused
        api = self._api
        sid = api.account_sid
        uri = f"/{_V}/Accounts/{sid}"
        stamp = format_datetime(datetime(2024, 1, 2, tzinfo=UTC), usegmt=True)
        body = {
            "auth_token": api.auth_token,  # Twilio returns it: callers must never print this body
            "date_created": stamp,
            "date_updated": stamp,
            "friendly_name": "My first Twilio account",
            "owner_account_sid": sid,
            "sid": sid,
            "status": self.account_status,
            "subresource_uris": {
                "incoming_phone_numbers": f"{uri}/IncomingPhoneNumbers.json",
                "calls": f"{uri}/Calls.json",
                "messages": f"{uri}/Messages.json",
            },
            "type": self.account_type,
            "uri": f"{uri}.json",
        }
        return api._answer(recorded, JSONResponse(body))

    async def list(self, request: Request) -> Response:
        recorded, refused = await self._authorised(request)
        if refused is not None:
            return refused
        wanted = request.query_params.get("PhoneNumber", "")
        page_size = min(int(request.query_params.get("PageSize", "50") or 50), 1000)
        found = [n for n in self.numbers.values() if _partial_match(wanted, n.phone_number)]
        page = found[:page_size]
        uri = f"/{_V}/Accounts/{self._api.account_sid}/IncomingPhoneNumbers.json"
        query = f"?PageSize={page_size}&Page=0"
        body = {
            "end": max(len(page) - 1, 0),
            "first_page_uri": uri + query,
            "incoming_phone_numbers": [self._resource(n) for n in page],
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri + query,
        }
        return self._api._answer(recorded, JSONResponse(body))

    async def instance(self, request: Request) -> Response:
        from tests.doubles.twilio_api import _error

        recorded, refused = await self._authorised(request)
        if refused is not None:
            return refused
        api = self._api
        number = self.numbers.get(request.path_params["sid"])
        if number is None:
            return api._answer(recorded, api._not_found(request.url.path))
        if request.method == "POST":
            form = recorded.form
            unknown = sorted(set(form) - set(_UPDATE))
            if unknown:
                self.problems.append(f"unknown IncomingPhoneNumber parameters {unknown}")
            voice_url = form.get("VoiceUrl", number.voice_url)
            if form.get("VoiceFallbackUrl") and not voice_url:
                message = "Cannot set VoiceFallbackUrl without setting Url"
                return api._answer(recorded, _error(21405, message, 400))
            for name, value in form.items():
                if (
                    name.endswith("Url")
                    and value
                    and urlsplit(value).scheme not in ("http", "https")
                ):
                    return api._answer(recorded, _error(21402, f"{name} is not valid", 400))
                if name.endswith("Method") and value.upper() not in _METHODS:
                    return api._answer(recorded, _error(21403, f"{name} is not valid", 400))
            self._update(number, form)
        return api._answer(recorded, JSONResponse(self._resource(number)))

    def _update(self, number: PhoneNumber, form: dict[str, str]) -> None:
        for name, value in form.items():
            attribute = _UPDATE.get(name)
            if attribute is None:
                continue
            stored: Any = value
            if attribute.endswith("_method"):
                stored = value.upper()
            elif attribute.endswith(("_sid", "_url")) or attribute == "status_callback":
                stored = value or None  # an empty value clears it
            elif attribute == "voice_caller_id_lookup":
                stored = value.lower() == "true"
            setattr(number, attribute, stored)
        # Twilio: setting an application or a trunk deletes the other.
        if form.get("VoiceApplicationSid"):
            number.trunk_sid = None
        if form.get("TrunkSid"):
            number.voice_application_sid = None
        number.updated = datetime.now(UTC)

    def _resource(self, n: PhoneNumber) -> dict[str, Any]:
        account = self._api.account_sid
        uri = f"/{_V}/Accounts/{account}/IncomingPhoneNumbers/{n.sid}"
        return {
            "account_sid": account,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": _V,
            "beta": False,
            "bundle_sid": None,
            "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
            "date_created": format_datetime(n.created, usegmt=True),
            "date_updated": format_datetime(n.updated, usegmt=True),
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Active",
            "friendly_name": n.friendly_name or n.phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": n.phone_number,
            "sid": n.sid,
            "sms_application_sid": n.sms_application_sid or "",
            "sms_fallback_method": n.sms_fallback_method,
            "sms_fallback_url": n.sms_fallback_url or "",
            "sms_method": n.sms_method,
            "sms_url": n.sms_url or "",
            "status": "in-use",
            "status_callback": n.status_callback or "",
            "status_callback_method": n.status_callback_method,
            "subresource_uris": {"assigned_add_ons": f"{uri}/AssignedAddOns.json"},
            "trunk_sid": n.trunk_sid,
            "uri": f"{uri}.json",
            "voice_application_sid": n.voice_application_sid or "",
            "voice_caller_id_lookup": n.voice_caller_id_lookup,
            "voice_fallback_method": n.voice_fallback_method,
            "voice_fallback_url": n.voice_fallback_url,
            "voice_method": n.voice_method,
            "voice_receive_mode": n.voice_receive_mode,
            "voice_url": n.voice_url,
        }


def _partial_match(pattern: str, number: str) -> bool:
    """Twilio's PhoneNumber filter: a substring match, `*` matching any one character."""
    if not pattern:
        return True
    width = len(pattern)
    return any(
        all(p in ("*", c) for p, c in zip(pattern, number[i : i + width], strict=True))
        for i in range(len(number) - width + 1)
    )
