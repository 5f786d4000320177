"""A running receptionist for the calendar tests: signing in to its console, linking it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from app.staff.accounts import add_account
from tests.calendar.radicale import PASSWORD, USER
from tests.doubles.harness import CallHarness
from tests.signin import csrf_of, sign_in

STAFF = ("owner@example.com", "a long staff password 1")


@contextlib.asynccontextmanager
async def console(h: CallHarness) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in to the console."""
    await add_account(h.engine, *STAFF)
    async with httpx.AsyncClient(base_url=h.base_url, trust_env=False) as http:
        assert (await sign_in(http, *STAFF)).status_code == 303
        yield http


async def post_form(
    http: httpx.AsyncClient, page: str, action: str, **fields: str
) -> httpx.Response:
    """Submit a console form as a browser would: the page's CSRF token with the fields."""
    token = csrf_of((await http.get(page)).text)
    return await http.post(action, data={"csrf_token": token, **fields})


async def cancel(http: httpx.AsyncClient, appointment_id: str) -> None:
    path = f"/staff/appointments/{appointment_id}/cancel"
    assert (await post_form(http, path, path)).status_code == 303


async def link_caldav(h: CallHarness, calendar_url: str, password: str = PASSWORD) -> None:
    """Link the receptionist to a CalDAV calendar as the Calendar page would have."""
    assert h.runtime.calendar is not None
    details = {"url": calendar_url, "calendar_url": calendar_url, "username": USER}
    await h.runtime.calendar.links.link("caldav", details, {"password": password})
    await h.runtime.calendar.forget()


async def nobody(*_: object) -> None:
    """An on_disconnect that tells no one (the tests that build a BusinessCalendar by hand)."""
