"""The dev phone's routes under /staff: its page, the call and transfer requests, its stream.

They are `extra` routes of the staff mount, so the console's guard stands in front of each:
a signed-in session for all, the CSRF token on every POST, session and Origin on the upgrade.
On the stream, as on Twilio's route, the first frames must be `connected` and `start`, and the
start must carry the single-use token issued for that call to the same signed-in person.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import structlog
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from app.call import events as E
from app.call.run import run_call
from app.logging import get_logger
from app.phone.desk import DevPhone, Refused
from app.phone.stream import DevPhoneStream
from app.recording.service import keep_tape
from app.staff.render import TEMPLATES as STAFF_TEMPLATES
from app.twilio.signatures import public_base
from app.twilio.stream import first_frames
from app.wire import twilio as tw

log = get_logger(__name__)

HERE = Path(__file__).parent


def _templates() -> Jinja2Templates:
    """The phone's page extends the console's base template (its header, nav and styles)."""
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(HERE / "templates"), jinja2.FileSystemLoader(STAFF_TEMPLATES)]
    )
    env = jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True
    )
    return Jinja2Templates(env=env)


class PhoneRoutes:
    def __init__(self, business_name: str) -> None:
        self.business_name = business_name
        self.templates = _templates()
        self._phone: DevPhone | None = None

    def phone(self, connection: HTTPConnection) -> DevPhone:
        """The process's DevPhone, made on first use: the runtime exists only once started."""
        runtime = connection.app.state.runtime
        if self._phone is None or self._phone.runtime is not runtime:
            self._phone = DevPhone(runtime)
        return self._phone

    async def page(self, request: Request) -> Response:
        staff = request.state.staff
        return self.templates.TemplateResponse(
            request,
            "phone.html",
            {
                "staff": staff,
                "csrf_token": staff.csrf_token,
                "business_name": self.business_name,
                "page": "phone",
                "has_key": request.app.state.runtime.settings.openai_api_key is not None,
            },
        )

    async def start_call(self, request: Request) -> Response:
        """The webhook of a dev call: it is recorded and its greeting is being made."""
        try:
            placed = self.phone(request).start_call(request.state.staff.user_id)
        except Refused as refused:
            return JSONResponse({"error": refused.message}, refused.status)
        return JSONResponse(placed, headers={"Cache-Control": "no-store"})

    async def dial_result(self, request: Request) -> Response:
        """The page's "answered" / "no answer" for a simulated transfer."""
        form = await request.form()
        try:
            result = await self.phone(request).dial_result(
                request.path_params["call_sid"],
                request.state.staff.user_id,
                str(form.get("status", "")),
            )
        except Refused as refused:
            return JSONResponse({"error": refused.message}, refused.status)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    async def stream(self, websocket: WebSocket) -> None:
        await phone_stream(self.phone(websocket), websocket)


async def phone_stream(phone: DevPhone, websocket: WebSocket) -> None:
    """WS /staff/phone/stream: one leg of a dev call, driven like a phone call's stream."""
    runtime = phone.runtime
    settings = runtime.settings
    user_id: int = websocket.state.staff.user_id
    await websocket.accept()
    stream = DevPhoneStream(websocket)
    start = await first_frames(stream, settings.max_frame_bytes)
    if not isinstance(start, E.StreamStarted):
        log.warning("dev_phone_stream_rejected", reason="no_start", code=start)
        await stream.close(start)
        return
    call_sid = start.call_sid
    token = start.parameters.get("token", "")
    if not phone.owns(call_sid, user_id) or not runtime.tokens.redeem(call_sid, token):
        log.warning("dev_phone_stream_rejected", reason="bad_token", user_id=user_id)
        await stream.close(tw.POLICY_VIOLATION)
        return
    info = phone.stream_info(
        call_sid, start.stream_sid, public_base(settings, websocket.headers, websocket.url)
    )
    phone.streams[call_sid] = stream
    try:
        with structlog.contextvars.bound_contextvars(call_sid=call_sid):
            log.info("dev_phone_stream_started", resumed=info.resume is not None)
            await run_call(phone.services, runtime.active_calls, stream, info, stream.watch)
    finally:
        if phone.streams.get(call_sid) is stream:
            del phone.streams[call_sid]
        await keep_tape(runtime.engine, runtime.store, call_sid, stream.tape)


def phone_routes(business_name: str) -> list[BaseRoute]:
    """The dev phone at /staff/phone, for `staff_mount(..., extra=...)`."""
    routes = PhoneRoutes(business_name)
    return [
        Route("/phone", routes.page, name="phone"),
        Route("/phone/calls", routes.start_call, methods=["POST"], name="phone_calls"),
        Route(
            "/phone/calls/{call_sid}/dial",
            routes.dial_result,
            methods=["POST"],
            name="phone_dial",
        ),
        WebSocketRoute("/phone/stream", routes.stream, name="phone_stream"),
        Mount("/phone/static", app=StaticFiles(directory=HERE / "static"), name="phone_static"),
    ]
