"""The Twilio number's voice configuration: read it, and point it at this service.

Through the Incoming Phone Numbers API (protocols/twilio-more.md section 3) with the `twilio`
package, over TWILIO_API_BASE. `receptionist twilio setup` and the doctor both use it.

The voice fallback URL must answer when this service cannot, so it cannot be served by it. A
TwiML Bin would do, but Bins have no API (Twilio's OpenAPI spec has no Bin resource), so one
command could not create one. The fallback is therefore Twilio-hosted TwiML in the URL itself,
through Twilio's Echo Twimlet (`https://twimlets.com/echo?Twiml=...`): an apology and a <Dial>
to HUMAN_TRANSFER_NUMBER (or a spoken goodbye without one). Nothing to create, nothing on our
side to be up; its one weakness is that Twimlets are Twilio Labs, without an SLA, so
`--fallback-url` takes any other URL instead (a TwiML Bin made in the Console, a Function).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from app.config import Settings
from app.twilio import handoff
from app.twilio.rest import HttpxTwilioClient

ECHO_TWIMLET = "https://twimlets.com/echo"
FALLBACK_MESSAGE = "Sorry, our receptionist can't answer right now."
SHOWN = (
    "voice_url",
    "voice_method",
    "voice_fallback_url",
    "voice_fallback_method",
    "status_callback",
    "status_callback_method",
    "voice_application_sid",
    "trunk_sid",
)


class SetupRefused(Exception):
    """The settings cannot give Twilio a working configuration; the message says why."""


@dataclass(frozen=True)
class NumberConfig:
    """A number's voice settings as Twilio has them."""

    sid: str
    phone_number: str
    fields: dict[str, str]  # SHOWN -> value ("" when unset)

    @staticmethod
    def of(record: Any) -> NumberConfig:
        fields = {name: str(getattr(record, name, None) or "") for name in SHOWN}
        return NumberConfig(str(record.sid), str(record.phone_number), fields)


def public_https_base(settings: Settings) -> str:
    """PUBLIC_BASE_URL if Twilio can reach it over https; else SetupRefused with the reason."""
    base = settings.public_base_url
    if not base:
        raise SetupRefused("PUBLIC_BASE_URL is not set: Twilio needs the https address it reaches")
    parts = urlsplit(base)
    if parts.scheme != "https":
        raise SetupRefused(
            f"PUBLIC_BASE_URL is {parts.scheme}://: Twilio's webhooks and media streams need "
            "https (wss), and signatures are checked against it"
        )
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or _private(host):
        raise SetupRefused(
            f"PUBLIC_BASE_URL points at {host}, which Twilio cannot reach from the internet; "
            "use your deployment's address, or a tunnel's (README: Connect a Twilio number)"
        )
    return base


def _private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (
        address.is_loopback or address.is_private or address.is_unspecified or address.is_link_local
    )


def fallback_url(settings: Settings) -> str:
    """Twilio-hosted TwiML: an apology, then the human (module docstring: why not a Bin)."""
    twiml = str(handoff.to_human(settings, FALLBACK_MESSAGE))
    return f"{ECHO_TWIMLET}?{urlencode({'Twiml': twiml})}"


def wanted(settings: Settings, fallback: str | None = None) -> dict[str, str]:
    """What the number should say, for this service at PUBLIC_BASE_URL."""
    base = public_https_base(settings)
    return {
        "voice_url": f"{base}/twilio/incoming",
        "voice_method": "POST",
        "voice_fallback_url": fallback or fallback_url(settings),
        "voice_fallback_method": "GET",
        "status_callback": f"{base}/twilio/status",
        "status_callback_method": "POST",
        # An application or a trunk silently overrides VoiceUrl: clear them (twilio-more.md).
        "voice_application_sid": "",
        "trunk_sid": "",
    }


def points_here(config: NumberConfig, settings: Settings) -> bool:
    """The number sends calls and their status to this service (the doctor's check)."""
    base = settings.public_base_url or ""
    f = config.fields
    return (
        bool(base)
        and f["voice_url"] == f"{base}/twilio/incoming"
        and f["voice_method"].upper() == "POST"
        and f["status_callback"] == f"{base}/twilio/status"
        and not f["voice_application_sid"]
        and not f["trunk_sid"]
    )


def twilio_client(settings: Settings, http: httpx.AsyncClient, timeout: float = 10.0) -> Client:
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        raise SetupRefused("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set")
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=HttpxTwilioClient(http, timeout),
    )
    client.api.base_url = settings.twilio_api_base
    return client


async def find_number(client: Client, phone_number: str) -> NumberConfig | None:
    """The account's record of `phone_number` (the API's filter is a partial match)."""
    try:
        records = await client.incoming_phone_numbers.list_async(
            phone_number=phone_number, limit=20
        )
    except TwilioRestException:
        raise
    except TwilioException as exc:  # a list answers errors as ("Unable to fetch page", response)
        raise _rest_error(exc) from None
    for record in records:
        if record.phone_number == phone_number:
            return NumberConfig.of(record)
    return None


async def update_number(client: Client, sid: str, fields: dict[str, str]) -> NumberConfig:
    record = await client.incoming_phone_numbers(sid).update_async(**fields)
    return NumberConfig.of(record)


def _rest_error(exc: TwilioException) -> TwilioRestException:
    """The SDK's paging error as the TwilioRestException the other calls raise."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = int(getattr(response, "status_code", 0) or 0)
    try:
        body = orjson.loads(getattr(response, "text", "") or "{}")
    except orjson.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return TwilioRestException(
        status, "IncomingPhoneNumbers", str(body.get("message", "error")), body.get("code")
    )
