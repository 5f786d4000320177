"""The console's door: every /staff request needs a live session, every POST its CSRF token.

Default-deny, as middleware on the whole /staff mount, so a route added later is protected
without anyone remembering to protect it. Only the sign-in page and the static assets (a
stylesheet, a script, an icon: nothing about calls) are open. A WebSocket upgrade (the dev
phone's stream) needs a session too, and must come from a page of this site.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import get_logger
from app.staff.context import engine_of
from app.staff.origin import same_origin
from app.staff.sessions import COOKIE, COOKIE_PATH, Signer, StaffSession, touch_session

log = get_logger(__name__)

LOGIN_PATH = "/login"
PUBLIC_PREFIXES = ("/static/",)
PRELOGIN_COOKIE = "staff_prelogin"
MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class GuardConfig:
    session_signer: Signer
    prelogin_signer: Signer
    idle: timedelta
    public_base: str | None = None  # PUBLIC_BASE_URL: an origin WebSockets may come from


def route_path(scope: Scope) -> str:
    """The path inside the mount (/staff/calls -> /calls)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def is_public(path: str) -> bool:
    return path == LOGIN_PATH or path.startswith(PUBLIC_PREFIXES)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it is larger than any console form."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class StaffGuard:
    """Puts the signed-in StaffSession in scope["state"]["staff"], or refuses the request."""

    def __init__(self, app: ASGIApp, config: GuardConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = route_path(scope)
        session = await self._session(request)
        if session is None and not is_public(path):
            await self._refuse(request, path)(scope, receive, send)
            return
        scope.setdefault("state", {})["staff"] = session
        if request.method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        # Every other method must be a form post (urlencoded: the console has no uploads)
        # carrying this session's (or, for the sign-in form, this browser's pre-login) token.
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await _read_body(receive)
        if body is None:
            await PlainTextResponse("This form is too large.", 413)(scope, receive, send)
            return
        supplied = ""
        if content_type == "application/x-www-form-urlencoded":
            supplied = parse_qs(body.decode("latin-1")).get("csrf_token", [""])[0]
        expected = self._expected_csrf(request, session)
        if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
            log.warning("staff_csrf_refused", path=path)
            response = PlainTextResponse(
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again.",
                403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        session = await self._session(connection)
        if session is None or not same_origin(connection, self.config.public_base):
            reason = "no_session" if session is None else "cross_origin"
            log.warning("staff_websocket_refused", path=route_path(scope), reason=reason)
            # ASGI: a close before the accept refuses the upgrade (the browser sees HTTP 403).
            await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})["staff"] = session
        await self.app(scope, receive, send)

    async def _session(self, request: HTTPConnection) -> StaffSession | None:
        signed = request.cookies.get(COOKIE)
        if not signed:
            return None
        session_id = self.config.session_signer.unsign(signed)
        if session_id is None:
            log.warning("staff_cookie_tampered")
            return None
        return await touch_session(engine_of(request), session_id, self.config.idle)

    def _expected_csrf(self, request: Request, session: StaffSession | None) -> str | None:
        if session is not None:
            return session.csrf_token
        signed = request.cookies.get(PRELOGIN_COOKIE)
        return self.config.prelogin_signer.unsign(signed) if signed else None

    def _refuse(self, request: Request, path: str) -> Response:
        login = request.url_for("staff:login").path
        if request.method in ("GET", "HEAD") and not path.endswith("/live"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(f"{login}?next={quote(target)}", 303)
        else:
            response = PlainTextResponse("Sign in first.", 401)
        # A stale or forged cookie is dropped, so the browser stops sending it.
        if COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
        return response
