"""The console's caller pages: one number's calls, messages and bookings; block, unblock,
forget; and the list of blocked numbers (app/callers/)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.callers import console as callers
from app.callers.numbers import is_withheld
from app.logging import get_logger
from app.staff.context import Console, engine_of

log = get_logger(__name__)


class CallerPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _number(self, request: Request) -> str | None:
        """The number in the path; None for one that names nobody (withheld, not a number)."""
        number = str(request.path_params["number"]).strip()
        return None if is_withheld(number) else number

    def _back(self, request: Request, number: str, done: str) -> Response:
        path = request.url_for("staff:caller", number=number).path
        return RedirectResponse(f"{path}?done={done}", 303)

    async def page(self, request: Request) -> Response:
        number = self._number(request)
        if number is None:
            return self.console.render(request, "not_found.html", 404, page="calls")
        async with engine_of(request).connect() as conn:
            found = await callers.caller_page(conn, number)
        return self.console.render(
            request,
            "caller.html",
            page="calls",
            caller=found,
            done=request.query_params.get("done", ""),
        )

    async def block(self, request: Request) -> Response:
        number = self._number(request)
        if number is None:
            return self.console.render(request, "not_found.html", 404, page="calls")
        async with engine_of(request).begin() as conn:
            await callers.block(conn, number, request.state.staff.email)
        log.info("staff_caller_blocked", user_id=request.state.staff.user_id)
        return self._back(request, number, "blocked")

    async def unblock(self, request: Request) -> Response:
        number = self._number(request)
        if number is None:
            return self.console.render(request, "not_found.html", 404, page="calls")
        async with engine_of(request).begin() as conn:
            await callers.unblock(conn, number)
        log.info("staff_caller_unblocked", user_id=request.state.staff.user_id)
        form = await request.form()
        if form.get("next") == "blocked":
            return RedirectResponse(request.url_for("staff:blocked").path + "?done=unblocked", 303)
        return self._back(request, number, "unblocked")

    async def forget(self, request: Request) -> Response:
        number = self._number(request)
        if number is None:
            return self.console.render(request, "not_found.html", 404, page="calls")
        async with engine_of(request).begin() as conn:
            cleared = await callers.forget(conn, number, request.state.staff.email)
        log.info("staff_caller_forgotten", user_id=request.state.staff.user_id, calls=cleared)
        return self._back(request, number, "forgotten")

    async def blocked(self, request: Request) -> Response:
        async with engine_of(request).connect() as conn:
            rows = await callers.blocked_numbers(conn)
        return self.console.render(
            request,
            "blocked.html",
            page="calls",
            blocked=rows,
            done=request.query_params.get("done", ""),
        )
