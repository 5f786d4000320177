"""The HTTP side of a fake caller: the signed webhooks Twilio posts about an inbound call."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import RequestValidator

from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.errors import CallerError
from tests.doubles.twilio_caller.twiml import Twiml, parse_twiml

__all__ = ["WebhookCaller"]

# Rough geography Twilio adds to US numbers (FromCity, FromZip); unknown states get empty strings.
_STATE_GEO = {
    "TX": ("AUSTIN", "78701"),
    "CA": ("SAN FRANCISCO", "94105"),
    "NY": ("NEW YORK", "10001"),
}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class WebhookCaller:
    """One inbound call's identity and webhooks; FakeTwilioCaller adds its Media Stream."""

    def __init__(
        self,
        base_url: str,
        auth_token: str,
        config: CallerConfig | None = None,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config or CallerConfig()
        self.call_sid = self.config.call_sid or new_sid("CA")
        self.stream_sid = self.config.stream_sid or new_sid("MZ")
        self.account_sid = self.config.account_sid
        self._validator = RequestValidator(auth_token)
        self._http = http
        self._own_http = http is None
        self.twiml: Twiml | None = None

    def call_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every request about this inbound call."""
        cfg = self.config
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "ringing",
            "Called": cfg.to_number,
            "Caller": cfg.from_number,
            "Direction": "inbound",
            "From": cfg.from_number,
            "To": cfg.to_number,
            "FromCountry": "US",
            "CallerCountry": "US",
            "ToCountry": "US",
            "CalledCountry": "US",
        }
        if cfg.from_state is not None:
            city, zip_code = _STATE_GEO.get(cfg.from_state, ("", ""))
            for prefix in ("From", "Caller"):
                params[f"{prefix}State"] = cfg.from_state
                params[f"{prefix}City"] = city
                params[f"{prefix}Zip"] = zip_code
        params.update(cfg.extra_params)
        return params

    def sign(self, url: str, params: dict[str, str] | None = None) -> str:
        """X-Twilio-Signature for `url` and POST `params` (the WebSocket upgrade: no params)."""
        signature: str = self._validator.compute_signature(url, params or {})
        return signature

    async def post_webhook(
        self,
        path: str = "/twilio/incoming",
        params: dict[str, str] | None = None,
        *,
        sign: bool = True,
        signature: str | None = None,
        include_call_params: bool = True,
    ) -> httpx.Response:
        """POST a form-encoded, signed webhook, as Twilio does.

        `path` is relative to base_url, or an absolute URL (e.g. a `<Connect action>`). `params` are
        merged over `call_params()` unless include_call_params=False. sign=False omits the
        signature header; `signature` replaces it.
        """
        url = path if urlsplit(path).scheme else self.base_url + path
        form = (
            {**self.call_params(), **(params or {})} if include_call_params else dict(params or {})
        )
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif sign:
            headers["X-Twilio-Signature"] = self.sign(url, form)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return await self._http.post(url, data=form, headers=headers)

    async def dial(self) -> Twiml:
        """Post the inbound-call webhook and parse the TwiML answer (kept in `self.twiml`)."""
        response = await self.post_webhook()
        if response.status_code != 200:
            raise CallerError(f"webhook answered {response.status_code}: {response.text[:200]}")
        content_type = response.headers.get("content-type", "")
        if "xml" not in content_type:  # Twilio error 12300: Invalid Content-Type
            raise CallerError(f"webhook answered Content-Type {content_type!r}, not XML")
        self.twiml = parse_twiml(response.text)
        return self.twiml

    async def _aclose_http(self) -> None:
        """Close the HTTP client if this caller made its own."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
