"""Twilio REST for a live call (PROTOCOLS.md section 4): new TwiML, hang up.

The official `twilio` client does the requests, over our one shared httpx client, and targets
TWILIO_API_BASE so tests can point it at a local double.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.config import Settings
from app.logging import get_logger

log = get_logger(__name__)

CALL_NOT_FOUND = 20404
HUNG_UP_MEMORY = 1024  # a repeated hang-up of any of the last N calls sends nothing


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """The twilio package's async HTTP interface, carried by a shared httpx client."""

    def __init__(self, http: httpx.AsyncClient, timeout: float) -> None:
        super().__init__(logging.getLogger("twilio.http"), True, timeout)
        self._http = http

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response = await self._http.request(
            method.upper(),
            url,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        return Response(response.status_code, response.text, response.headers)

    async def close(self) -> None:  # the shared httpx client is closed by its owner
        return None


class TwilioCalls:
    """Updates live calls. Every method returns True on success and never raises."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, timeout: float = 5.0) -> None:
        self._enabled = bool(settings.twilio_account_sid and settings.twilio_auth_token)
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        self._client = Client(
            settings.twilio_account_sid or "AC_unset",
            token or "unset",
            http_client=HttpxTwilioClient(http, timeout),
        )
        self._client.api.base_url = settings.twilio_api_base
        self._hung_up: dict[str, None] = {}  # recent calls hung up, oldest first (bounded)

    async def _update(self, call_sid: str, **fields: Any) -> bool:
        if not self._enabled:
            log.warning("twilio_rest_unconfigured", action=next(iter(fields)))
            return False
        try:
            await self._client.calls(call_sid).update_async(**fields)
        except TwilioRestException as exc:
            if exc.code == CALL_NOT_FOUND and fields.get("status") == "completed":
                return True  # already ended: hanging up succeeded
            log.warning("twilio_rest_failed", status=exc.status, code=exc.code)
            return False
        except (httpx.HTTPError, OSError) as exc:
            log.warning("twilio_rest_failed", error=type(exc).__name__)
            return False
        return True

    async def redirect(self, call_sid: str, twiml: str) -> bool:
        """Replace what the call is doing (this ends its media stream)."""
        return await self._update(call_sid, twiml=twiml)

    async def hang_up(self, call_sid: str) -> bool:
        """End the call; idempotent, and a call that already ended counts as success."""
        if call_sid in self._hung_up:
            return True
        ok = await self._update(call_sid, status="completed")
        if ok:
            self._hung_up[call_sid] = None
            if len(self._hung_up) > HUNG_UP_MEMORY:
                del self._hung_up[next(iter(self._hung_up))]
        return ok
