"""Signing in and out: the throttled login form and logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.logging import get_logger
from app.staff.accounts import authenticate, normalise_email
from app.staff.context import Console, engine_of, safe_next
from app.staff.guard import PRELOGIN_COOKIE
from app.staff.sessions import COOKIE, close_session, new_token, open_session
from app.staff.throttle import Limits, clear_failures, record_failure, throttled

log = get_logger(__name__)

_PRELOGIN_MAX_AGE = 2 * 3600


class LoginPages:
    def __init__(self, console: Console, limits: Limits) -> None:
        self.console = console
        self.limits = limits

    def _form(
        self, request: Request, *, status: int = 200, error: str = "", email: str = ""
    ) -> Response:
        """The sign-in form, with this browser's pre-login CSRF token (kept if it has one)."""
        signed = request.cookies.get(PRELOGIN_COOKIE)
        token = self.console.prelogin_signer.unsign(signed) if signed else None
        token = token or new_token()
        response = self.console.render(
            request,
            "login.html",
            status,
            login_csrf=token,
            error=error,
            email=email,
            next=safe_next(request.query_params.get("next"), ""),
            notice=request.query_params.get("notice", ""),
        )
        self.console.set_cookie(
            response, PRELOGIN_COOKIE, self.console.prelogin_signer.sign(token), _PRELOGIN_MAX_AGE
        )
        return response

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            if request.state.staff is not None:
                return RedirectResponse(request.url_for("staff:today").path, 303)
            return self._form(request)
        form = await request.form()
        email = normalise_email(str(form.get("email", "")))[:254]
        password = str(form.get("password", ""))[:1024]
        # The address uvicorn or Fly's proxy vouches for (app/server.py), never a client's header.
        address = request.client.host if request.client else "unknown"
        engine = engine_of(request)
        refused = await throttled(engine, email, address, self.limits)
        if refused is not None:
            log.warning("staff_login_throttled", account_slowed=refused.account_slowed)
            if refused.account_slowed:
                wait = f"{refused.retry_after} seconds"
                error = f"Too many failed sign-ins for this account. Wait {wait}, then try again."
            else:
                minutes = refused.retry_after // 60
                error = f"Too many failed sign-ins. Wait {minutes} minutes, then try again."
            response = self._form(request, status=429, email=email, error=error)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        account = await authenticate(engine, email, password) if email and password else None
        if account is None:
            await record_failure(engine, email, address)
            log.info("staff_login_failed")
            return self._form(
                request, status=401, email=email, error="That email and password do not match."
            )
        await clear_failures(engine, email, address)
        session_id, _ = await open_session(engine, account.id)
        old = request.cookies.get(COOKIE)
        old_id = self.console.session_signer.unsign(old) if old else None
        if old_id:
            await close_session(engine, old_id)
        log.info("staff_login", user_id=account.id)
        target = safe_next(str(form.get("next", "")), str(request.url_for("staff:today").path))
        response = RedirectResponse(target, 303)
        self.console.set_cookie(
            response, COOKIE, self.console.session_signer.sign(session_id), None
        )
        response.delete_cookie(PRELOGIN_COOKIE, path="/staff")
        return response

    async def logout(self, request: Request) -> Response:
        signed = request.cookies.get(COOKIE, "")
        session_id = self.console.session_signer.unsign(signed)
        if session_id:
            await close_session(engine_of(request), session_id)
        log.info("staff_logout", user_id=request.state.staff.user_id)
        # Relative: behind a proxy whose scheme is not believed, an absolute URL would say http.
        login = request.url_for("staff:login").include_query_params(notice="signed_out")
        response = RedirectResponse(f"{login.path}?{login.query}", 303)
        response.delete_cookie(COOKIE, path="/staff")
        return response
