"""A fake Twilio REST API for live calls, served by real uvicorn on 127.0.0.1 (TWILIO_API_BASE).

It answers `POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` (and the matching GET),
Messages (tests/doubles/twilio_messages.py), IncomingPhoneNumbers and the Account fetch
(tests/doubles/twilio_numbers.py)
like Twilio: HTTP Basic auth with the account SID and auth token, form-encoded parameters, a call
resource in JSON, and Twilio's JSON error shape (docs PROTOCOLS.md section 4). Every request is
recorded; failure modes ("not_found", "error", "stall") can be set for all calls or per call.
TwiML sent in `Twiml=` is checked for what Twilio would reject at run time (`problems`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import RunningServer, serve_app
from tests.doubles.twilio_messages import MessagesResource
from tests.doubles.twilio_numbers import NumbersResource
from tests.doubles.twilio_recordings import RecordingsResource

__all__ = ["FakeTwilioAPI", "Mode", "RecordedRequest"]

Mode = Literal["ok", "not_found", "error", "stall"]

_API_VERSION = "2010-04-01"
_UPDATE_PARAMS = frozenset(
    {
        "Url",
        "Method",
        "Status",
        "FallbackUrl",
        "FallbackMethod",
        "StatusCallback",
        "StatusCallbackMethod",
        "Twiml",
        "TimeLimit",
    }
)
# TwiML attributes that hold URLs: Twilio fetches them later, and TwiML sent through REST
# (`Twiml=`) has no document URL to resolve a relative one against, so they must be absolute.
# (Twilio's error 15004 is about <Gather>/<Record>/<Pay> action URLs, not this.)
_URL_ATTRIBUTES = ("action", "url", "waitUrl", "statusCallback", "recordingStatusCallback")


@dataclass
class RecordedRequest:
    """One request as the fake API saw it."""

    method: str
    path: str
    form: dict[str, str]
    auth_ok: bool
    at: float  # time.perf_counter() on arrival
    account_sid: str | None = None  # from the path
    call_sid: str | None = None  # from the path
    status_code: int | None = None  # what was answered; None while stalled (or never)


@dataclass
class _Call:
    sid: str
    from_number: str
    to_number: str
    status: str = "in-progress"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None


def _error(code: int, message: str, status: int) -> JSONResponse:
    """Twilio's (legacy, non-RFC-9457) REST error body: the SDK turns it into TwilioRestException."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


class FakeTwilioAPI:
    """The Twilio REST API, as far as a live call is concerned. `async with FakeTwilioAPI() as api`."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "0123456789abcdef" * 2,
        *,
        port: int | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mode: Mode = "ok"
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []  # what Twilio would reject later, e.g. relative TwiML URLs
        self._modes: dict[str, Mode] = {}
        self._calls: dict[str, _Call] = {}
        self._port = port
        self._running: RunningServer | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._release = asyncio.Event()  # set on stop: stalled handlers give up
        self._changed = asyncio.Event()
        route = f"/{_API_VERSION}/Accounts/{{account_sid}}/Calls/{{call_sid}}.json"
        self.messages = MessagesResource(self)  # SMS: tests/doubles/twilio_messages.py
        messages = f"/{_API_VERSION}/Accounts/{{account_sid}}/Messages.json"
        # Numbers and the account: tests/doubles/twilio_numbers.py.
        self.numbers = NumbersResource(self)
        self.recordings = RecordingsResource(self)  # tests/doubles/twilio_recordings.py
        account = f"/{_API_VERSION}/Accounts/{{account_sid}}"
        self.app = Starlette(
            routes=[
                Route(route, self._call_resource, methods=["GET", "POST"]),
                Route(
                    f"{account}/Calls/{{call_sid}}/Recordings.json",
                    self.recordings.create,
                    methods=["GET", "POST"],
                ),
                Route(
                    f"{account}/Recordings/{{name}}",
                    self.recordings.resource,
                    methods=["GET", "DELETE"],
                ),
                Route(messages, self.messages.create, methods=["GET", "POST"]),
                Route(f"{account}.json", self.numbers.account, methods=["GET"]),
                Route(f"{account}/IncomingPhoneNumbers.json", self.numbers.list, methods=["GET"]),
                Route(
                    f"{account}/IncomingPhoneNumbers/{{sid}}.json",
                    self.numbers.instance,
                    methods=["GET", "POST"],
                ),
                Route("/{path:path}", self._unknown, methods=["GET", "POST", "DELETE", "PUT"]),
            ]
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Self:
        if self._stack is None:
            self._release = asyncio.Event()
            stack = contextlib.AsyncExitStack()
            self._running = await stack.enter_async_context(serve_app(self.app, self._port))
            self._stack = stack
        return self

    async def stop(self) -> None:
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        self._release.set()  # stalled requests answer now, so uvicorn can shut down at once
        await self.recordings.settled()
        await stack.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT: the value for TWILIO_API_BASE (or the SDK's client.api.base_url)."""
        if self._running is None:
            raise RuntimeError("FakeTwilioAPI is not started")
        return self._running.http_url

    # --- control and inspection ----------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, problems, calls and modes (to share one server between tests)."""
        self.mode = "ok"
        self.requests.clear()
        self.problems.clear()
        self._modes.clear()
        self._calls.clear()
        self.messages.reset()
        self.numbers.reset()
        self.recordings.reset()

    def set_mode(self, call_sid: str, mode: Mode | None) -> None:
        """Answer requests about `call_sid` in `mode` (None: back to the global `mode`)."""
        if mode is None:
            self._modes.pop(call_sid, None)
        else:
            self._modes[call_sid] = mode

    def add_call(self, call_sid: str, *, from_number: str, to_number: str) -> None:
        """Make a live call known, so its resource carries the real numbers (optional)."""
        self._calls[call_sid] = _Call(call_sid, from_number, to_number)

    def call_status(self, call_sid: str) -> str | None:
        """The call's status as this fake knows it ("in-progress", "completed", ...)."""
        call = self._calls.get(call_sid)
        return None if call is None else call.status

    def requests_for(self, call_sid: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.call_sid == call_sid]

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Wait until at least `n` requests have arrived; returns them all."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < n:
                await self._changed.wait()
        return list(self.requests)

    # --- handlers ------------------------------------------------------------------------------

    async def _record(
        self, request: Request, account_sid: str | None = None, call_sid: str | None = None
    ) -> RecordedRequest:
        async with request.form() as form:
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            form=fields,
            auth_ok=self._auth_ok(request),
            at=time.perf_counter(),
            account_sid=account_sid,
            call_sid=call_sid,
        )
        self.requests.append(recorded)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return recorded

    def _auth_ok(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    async def _unknown(self, request: Request) -> Response:
        recorded = await self._record(request)
        return self._answer(recorded, self._not_found(request.url.path))

    async def _call_resource(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        call_sid = request.path_params["call_sid"]
        recorded = await self._record(request, account_sid=account_sid, call_sid=call_sid)
        if not recorded.auth_ok:
            return self._answer(recorded, self._unauthorized())
        mode = self._modes.get(call_sid, self.mode)
        if mode == "stall":
            await self._release.wait()  # until stop(): the client is expected to give up first
            return self._answer(recorded, _error(20503, "Service unavailable", 503))
        if mode == "error":
            return self._answer(
                recorded, _error(20500, "An internal server error has occurred", 500)
            )
        if mode == "not_found" or account_sid != self.account_sid:
            return self._answer(recorded, self._not_found(request.url.path))
        call = self._calls.get(call_sid)
        if call is None:
            call = self._calls[call_sid] = _Call(call_sid, "+15551230000", "+15559870000")
        if request.method == "POST":
            redirect = "Twiml" in recorded.form or "Url" in recorded.form
            if redirect and call.status != "in-progress":
                response = _error(21220, "Call is not in-progress. Cannot redirect.", 400)
                return self._answer(recorded, response)
            self._update(call, recorded.form)
        return self._answer(recorded, JSONResponse(self._resource(call)))

    def _answer(self, recorded: RecordedRequest, response: Response) -> Response:
        recorded.status_code = response.status_code
        return response

    @staticmethod
    def _unauthorized() -> JSONResponse:
        response = _error(20003, "Authenticate", 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response

    @staticmethod
    def _not_found(path: str) -> JSONResponse:
        return _error(20404, f"The requested resource {path} was not found", 404)

    def _update(self, call: _Call, form: dict[str, str]) -> None:
        unknown = sorted(set(form) - _UPDATE_PARAMS)
        if unknown:
            self.problems.append(f"{call.sid}: unknown Calls update parameters {unknown}")
        if "Twiml" in form:
            self._check_twiml(call.sid, form["Twiml"])
        if "Url" in form and urlsplit(form["Url"]).scheme not in ("http", "https"):
            self.problems.append(f"{call.sid}: Url is not an absolute http(s) URL: {form['Url']!r}")
        status = form.get("Status")
        if status is not None and status not in ("completed", "canceled"):
            self.problems.append(
                f"{call.sid}: Status must be completed or canceled, not {status!r}"
            )
        if status == "canceled":  # Twilio: cancels only a queued or ringing call
            self.problems.append(f"{call.sid}: Status=canceled does not end an in-progress call")
        call.updated = datetime.now(UTC)
        if status == "completed" and call.status == "in-progress":
            call.status = "completed"
            call.ended = call.updated
            self.recordings.call_ended(call.sid)  # its recordings complete with it

    def _check_twiml(self, call_sid: str, twiml: str) -> None:
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError as exc:
            self.problems.append(f"{call_sid}: 12100 Twiml is not well-formed XML: {exc}")
            return
        if root.tag != "Response":
            self.problems.append(f"{call_sid}: 12100 Twiml root is <{root.tag}>, not <Response>")
        for element in root.iter():
            urls = [element.get(name) for name in _URL_ATTRIBUTES]
            if element.tag in ("Redirect", "Play"):
                urls.append((element.text or "").strip())
            for url in urls:
                if url and not urlsplit(url).scheme:
                    self.problems.append(
                        f"{call_sid}: relative URL {url!r} in <{element.tag}> (must be absolute)"
                    )

    def _resource(self, call: _Call) -> dict[str, Any]:
        uri = f"/{_API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}"
        duration = None
        if call.ended is not None:
            duration = str(int((call.ended - call.created).total_seconds()))
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": _API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(call.created),
            "date_updated": _rfc2822(call.updated),
            "direction": "inbound",
            "duration": duration,
            "end_time": _rfc2822(call.ended),
            "forwarded_from": call.to_number,
            "from": call.from_number,
            "from_formatted": call.from_number,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": call.sid,
            "start_time": _rfc2822(call.created),
            "status": call.status,
            "subresource_uris": {
                name: f"{uri}/{path}.json"
                for name, path in (
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("payments", "Payments"),
                    ("events", "Events"),
                    ("siprec", "Siprec"),
                    ("streams", "Streams"),
                    ("transcriptions", "Transcriptions"),
                    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                    ("user_defined_messages", "UserDefinedMessages"),
                )
            },
            "to": call.to_number,
            "to_formatted": call.to_number,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }
