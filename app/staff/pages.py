"""The console's pages: today, calls (list, one call, its live transcript), messages, bookings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.business.appointments import cancel_appointment
from app.business.hours import local_day_bounds
from app.db.tables import OUTCOMES
from app.logging import get_logger
from app.recording.console import call_recording
from app.staff import desk
from app.staff.calendar_page import calendar_alert
from app.staff.calls import CallFilter, Cursor, get_call, list_calls, number_digits, turns_after
from app.staff.context import Console, engine_of, live_call_sids, safe_next

log = get_logger(__name__)

WEEK = 7
CHECKS_MAX_AGE = 10.0  # seconds: a reload runs them again, but not on every click


def _path(request: Request, name: str, **params: str) -> str:
    return request.url_for(name, **params).path


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console

    @property
    def max_call_seconds(self) -> float:
        return float(self.console.settings.max_call_seconds)

    async def today(self, request: Request) -> Response:
        async with engine_of(request).connect() as conn:
            summary = await desk.today(
                conn,
                datetime.now(UTC),
                self.console.tz,
                live_call_sids(request),
                self.max_call_seconds,
            )
        return self.console.render(
            request,
            "today.html",
            today=summary,
            page="today",
            calendar_alert=await calendar_alert(request.app.state.runtime.calendar),
        )

    async def checks(self, request: Request) -> Response:
        """The doctor's checks (app/doctor.py), the same as the front door's, run afresh."""
        results = await request.app.state.runtime.checkup.results(CHECKS_MAX_AGE)
        ready = all(c.ok for c in results)
        return self.console.render(
            request, "checks.html", page="checks", checks=results, ready=ready
        )

    async def calls(self, request: Request) -> Response:
        params = request.query_params
        outcome = params.get("outcome", "")
        where = CallFilter(
            outcome=outcome if outcome in OUTCOMES else None,
            day=_parse_day(params.get("date", "")),
            number=number_digits(params.get("number", "")),
            query=params.get("q", "").strip()[:200] or None,
        )
        cursor = Cursor.decode(params.get("before"))
        async with engine_of(request).connect() as conn:
            rows, next_cursor = await list_calls(conn, where, self.console.tz, cursor)
        next_url = None
        if next_cursor is not None:
            next_url = request.url.include_query_params(before=next_cursor.encode())
        return self.console.render(
            request,
            "calls.html",
            page="calls",
            calls=rows,
            where=where,
            form={k: params.get(k, "") for k in ("outcome", "date", "number", "q")},
            outcomes=OUTCOMES,
            next_url=str(next_url.path + "?" + next_url.query) if next_url else None,
            first_page=cursor is None,
        )

    async def call(self, request: Request) -> Response:
        call_sid = request.path_params["call_sid"]
        async with engine_of(request).connect() as conn:
            detail = await get_call(conn, call_sid, self.max_call_seconds)
            recording = await call_recording(conn, call_sid) if detail is not None else None
        if detail is None:
            return self.console.render(request, "not_found.html", 404, page="calls")
        live = call_sid in live_call_sids(request) or bool(detail.call["maybe_live"])
        return self.console.render(
            request,
            "call.html",
            page="calls",
            detail=detail,
            live=live,
            recording=recording,
            recording_notice=request.query_params.get("recording", ""),
        )

    async def call_live(self, request: Request) -> Response:
        """New turns of a call in progress, for the call page's poller (static/live.js)."""
        call_sid = request.path_params["call_sid"]
        after = request.query_params.get("after", "-1")
        after_seq = int(after) if after.lstrip("-").isdigit() else -1
        async with engine_of(request).connect() as conn:
            turns = await turns_after(conn, call_sid, after_seq)
            detail_live = call_sid in live_call_sids(request)
            if not detail_live:
                detail = await get_call(conn, call_sid, self.max_call_seconds)
                detail_live = detail is not None and bool(detail.call["maybe_live"])
        return JSONResponse(
            {"turns": [asdict(t) for t in turns], "live": detail_live},
            headers={"Cache-Control": "no-store"},
        )

    async def messages(self, request: Request) -> Response:
        show = "handled" if request.query_params.get("show") == "handled" else "open"
        page_param = request.query_params.get("page", "0")
        page = min(int(page_param), 1000) if page_param.isdigit() else 0
        more = False
        async with engine_of(request).connect() as conn:
            if show == "open":
                rows = await desk.open_messages(conn)
            else:
                rows, more = await desk.handled_messages(conn, page)
            waiting = await desk.count_open_messages(conn)
        return self.console.render(
            request,
            "messages.html",
            page="messages",
            show=show,
            messages=rows,
            waiting=waiting,
            page_number=page,
            more=more,
            done=request.query_params.get("done") == "1",
        )

    async def mark_handled(self, request: Request) -> Response:
        form = await request.form()
        async with engine_of(request).begin() as conn:
            changed = await desk.mark_handled(
                conn, request.path_params["message_id"], request.state.staff.email
            )
        if changed:
            log.info("staff_message_handled", user_id=request.state.staff.user_id)
        back = safe_next(str(form.get("next", "")), _path(request, "staff:messages"))
        return RedirectResponse(back + ("&" if "?" in back else "?") + "done=1", 303)

    async def appointments(self, request: Request) -> Response:
        """A week of upcoming appointments, by day, from ?from= (default: today)."""
        now = datetime.now(UTC)
        today = now.astimezone(self.console.tz).date()
        first = max(_parse_day(request.query_params.get("from", "")) or today, today)
        start = max(local_day_bounds(self.console.tz, first)[0], now)
        until = local_day_bounds(self.console.tz, first + timedelta(days=WEEK - 1))[1]
        async with engine_of(request).connect() as conn:
            rows = await desk.upcoming_appointments(conn, start, until)
        return self.console.render(
            request,
            "appointments.html",
            page="appointments",
            days=desk.by_day(rows, self.console.tz),
            first=first,
            last=first + timedelta(days=WEEK - 1),
            earlier=(first - timedelta(days=WEEK)) if first > today else None,
            later=first + timedelta(days=WEEK),
            cancelled=request.query_params.get("cancelled") == "1",
        )

    async def cancel(self, request: Request) -> Response:
        appointment_id = request.path_params["appointment_id"]
        if request.method == "GET":
            async with engine_of(request).connect() as conn:
                row = await desk.get_appointment(conn, appointment_id)
            if row is None:
                return self.console.render(request, "not_found.html", 404, page="appointments")
            return self.console.render(request, "cancel.html", page="appointments", appointment=row)
        runtime = request.app.state.runtime
        provider = self.console.settings.calendar
        async with engine_of(request).begin() as conn:
            cancelled = await cancel_appointment(
                conn, appointment_id, provider.value if provider else None
            )
        if cancelled:
            log.info("staff_appointment_cancelled", user_id=request.state.staff.user_id)
            if runtime.calendar_writer is not None:
                runtime.calendar_writer.wake()
        return RedirectResponse(_path(request, "staff:appointments") + "?cancelled=1", 303)
