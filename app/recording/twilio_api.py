"""Twilio's Recordings REST resources (protocols/twilio-more.md section 1): start on a live
call, fetch the media, delete. Every method answers with a result and never raises.

Starting and deleting go through the official `twilio` client, over the shared httpx client and
TWILIO_API_BASE (app/twilio/rest.py); the media is streamed with httpx itself (the SDK has no
media helper), with the account's credentials: "Enforce HTTP Auth on Media URLs" may be on.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.config import Settings
from app.logging import get_logger
from app.twilio.rest import HttpxTwilioClient

log = get_logger(__name__)

NOT_FOUND = 20404
UNREACHABLE = -1  # our code for "no answer from Twilio" (network, timeout)
# Twilio: only a recording of both tracks can be dual; the status callback fires on each event.
EVENTS = "in-progress completed absent"  # space-separated, as Twilio's own examples send it
# What a media request passes on to Twilio, and what of Twilio's answer goes back to the browser.
RANGE_HEADERS = ("range", "if-range")
MEDIA_HEADERS = ("content-type", "content-length", "content-range", "accept-ranges")


@dataclass(frozen=True)
class Started:
    """A recording started (`sid`), or why not (`error_code`, `error_message`)."""

    sid: str | None
    status: str
    channels: int | None = None
    error_code: int | None = None
    error_message: str | None = None


class TwilioRecordings:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, timeout: float = 5.0) -> None:
        self._account = settings.twilio_account_sid or ""
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        self._auth = (self._account, token)
        self.enabled = bool(self._account and token)
        self._http = http
        self._timeout = timeout
        self._client = Client(
            self._account or "AC_unset",
            token or "unset",
            http_client=HttpxTwilioClient(http, timeout),
        )
        self._client.api.base_url = settings.twilio_api_base
        self._base = f"{settings.twilio_api_base}/2010-04-01/Accounts/{self._account}"

    async def start(self, call_sid: str, status_callback: str) -> Started:
        """Record the live call, both parties in separate channels (caller left, agent right)."""
        if not self.enabled:
            return Started(None, "failed", None, None, "Twilio credentials are not set")
        try:
            recording = await self._client.calls(call_sid).recordings.create_async(
                recording_channels="dual",
                recording_track="both",
                trim="do-not-trim",  # keep the timeline: offsets line up with the transcript
                recording_status_callback=status_callback,
                recording_status_callback_method="POST",
                recording_status_callback_event=EVENTS,
            )
        except TwilioRestException as exc:
            return Started(None, "failed", None, exc.code, str(exc.msg)[:300])
        except (httpx.HTTPError, OSError) as exc:
            return Started(None, "failed", None, UNREACHABLE, type(exc).__name__)
        channels = recording.channels if isinstance(recording.channels, int) else 2
        return Started(recording.sid, recording.status or "in-progress", channels)

    async def delete(self, sid: str) -> bool:
        """Delete the recording at Twilio; one that is already gone (20404) counts as deleted."""
        if not self.enabled:
            return False
        try:
            await self._client.recordings(sid).delete_async()
        except TwilioRestException as exc:
            if exc.code == NOT_FOUND or exc.status == 404:
                return True
            log.warning("recording_delete_failed", status=exc.status, code=exc.code)
            return False
        except (httpx.HTTPError, OSError) as exc:
            log.warning("recording_delete_failed", error=type(exc).__name__)
            return False
        return True

    async def open_media(self, sid: str, headers: dict[str, str]) -> httpx.Response:
        """The WAV, as a streamed response the caller must close; `headers` may hold a Range.

        Raises httpx.HTTPError when Twilio cannot be reached.
        """
        request = self._http.build_request(
            "GET",
            f"{self._base}/Recordings/{sid}.wav",
            headers={k: v for k, v in headers.items() if k in RANGE_HEADERS},
            timeout=self._timeout,
        )
        # Twilio may answer with a redirect to its storage; httpx drops the credentials there.
        return await self._http.send(request, auth=self._auth, stream=True, follow_redirects=True)
