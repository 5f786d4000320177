"""Twilio request signatures (X-Twilio-Signature) against the URL Twilio really called."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import URL, Headers
from twilio.request_validator import RequestValidator

from app.config import Settings


def public_base(settings: Settings, headers: Headers, url: URL) -> str:
    """https://host as Twilio sees us: PUBLIC_BASE_URL, else X-Forwarded-Proto + Host.

    Behind Fly's proxy the app itself sees plain http, and Fly sets no X-Forwarded-Host.
    """
    if settings.public_base_url:
        return settings.public_base_url
    scheme = headers.get("x-forwarded-proto", "").split(",")[0].strip() or url.scheme
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = headers.get("host") or url.netloc
    return f"{scheme}://{host}"


def ws_base(http_base: str) -> str:
    """The WebSocket form of a public base URL: https -> wss, http -> ws."""
    if http_base.startswith("https://"):
        return "wss://" + http_base.removeprefix("https://")
    return "ws://" + http_base.removeprefix("http://")


def is_valid(
    settings: Settings, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Constant-time check of a Twilio signature; no auth token configured means no."""
    if not signature or settings.twilio_auth_token is None:
        return False
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return bool(validator.validate(url, dict(params), signature))
