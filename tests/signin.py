"""Signing in to the console as a browser does: the login form's CSRF token, then the form.

Shared by the console's, the dev phone's and the fleet's tests.
"""

from __future__ import annotations

import re

import httpx


def csrf_of(html: str) -> str:
    """A page's CSRF token: a form's hidden field, or the dev phone's `data-csrf`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'data-csrf="([^"]+)"', html
    )
    assert match, "the page has no CSRF token"
    return match[1]


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Post the login form (303 and a session cookie when the account is right)."""
    form = await http.get("/staff/login")
    return await http.post(
        "/staff/login",
        data={"csrf_token": csrf_of(form.text), "email": email, "password": password},
    )


def cookie_header(http: httpx.AsyncClient) -> dict[str, str]:
    """The client's cookies as a header, for a WebSocket upgrade made outside httpx."""
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in http.cookies.items())}
