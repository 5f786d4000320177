"""The console's door over HTTP: nothing under /staff without a login, and logins are guarded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from console_kit import (
    EMAIL,
    PASSWORD,
    SECRET,
    Console,
    csrf_of,
    running_console,
    sign_in,
    signed_in,
)
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from app.config import load_settings
from app.db.embedded import EmbeddedPostgres
from app.staff.accounts import add_account, set_password
from app.staff.headers import CSP
from app.staff.routes import staff_mount
from app.staff.sessions import COOKIE


@pytest.fixture(scope="module")
async def console(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    async with running_console(postgres, tmp_path_factory.mktemp("data")) as running:
        yield running


def _staff_routes(console: Console) -> list[tuple[str, str]]:
    """(method, path) of every route under /staff, path parameters filled with a dummy."""
    mount = next(r for r in console.app.routes if isinstance(r, Mount) and r.path == "/staff")
    found = []
    for route in mount.routes:
        if isinstance(route, Route):
            path = "/staff" + re.sub(r"\{[^}]+\}", "CAdummy", route.path)
            found += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


async def test_no_staff_route_answers_without_a_login(console: Console) -> None:
    routes = _staff_routes(console)
    assert len(routes) >= 10  # the walk found the console's routes, not an empty list
    async with console.client() as http:
        for method, path in routes:
            if path == "/staff/login":
                continue  # the one open page (tested below)
            response = await http.request(method, path, data={"csrf_token": "x"})
            if method == "GET" and not path.endswith("/live"):
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/staff/login?next="), path
            else:
                assert response.status_code == 401, (method, path)
            assert "CAdummy" not in response.text


async def test_only_the_login_page_and_static_assets_are_open(console: Console) -> None:
    async with console.client() as http:
        login = await http.get("/staff/login")
        css = await http.get("/staff/static/staff.css")
        mount_root = await http.get("/staff/")
    assert login.status_code == 200 and 'type="password"' in login.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert mount_root.status_code == 303


async def test_a_right_password_signs_in_with_a_strict_cookie(console: Console) -> None:
    async with console.client() as http:
        response = await sign_in(http)
        cookie = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith(COOKIE)
        )
        today = await http.get("/staff/")
    assert response.status_code == 303 and response.headers["location"] == "/staff/"
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is unset here: plain http
    assert today.status_code == 200 and "Calls today" in today.text


async def test_cookies_are_secure_when_the_public_url_is_https(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with (
        running_console(postgres, tmp_path, public_base_url="https://desk.example.com") as c,
        c.client() as http,
    ):
        form = await http.get("/staff/login")
        prelogin = form.headers["set-cookie"]
        # httpx keeps Secure cookies off plain http, as a browser would: send it by hand.
        response = await http.post(
            "/staff/login",
            data={"csrf_token": csrf_of(form.text), "email": EMAIL, "password": PASSWORD},
            headers={"cookie": prelogin.split(";")[0]},
        )
    session = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE)
    )
    assert "Secure" in prelogin and "Secure" in session


@pytest.mark.parametrize(
    ("email", "password"),
    [(EMAIL, "wrong password!"), ("nobody@example.com", PASSWORD), (EMAIL, "")],
)
async def test_wrong_credentials_are_refused_alike(
    console: Console, email: str, password: str
) -> None:
    async with console.client() as http:
        response = await sign_in(http, email, password)
        after = await http.get("/staff/")
    assert response.status_code in (401, 422) if not password else response.status_code == 401
    assert "do not match" in response.text
    assert COOKIE not in response.cookies
    assert after.status_code == 303
    await _forget_failures(console)


async def _forget_failures(console: Console) -> None:
    async with console.engine.begin() as conn:
        await conn.execute(text("DELETE FROM staff_login_failures"))


async def test_five_failures_throttle_the_account_from_that_address(console: Console) -> None:
    await add_account(console.engine, "locked@example.com", PASSWORD)
    await add_account(console.engine, "other@example.com", PASSWORD)
    async with console.client() as http:
        for _ in range(5):
            assert (await sign_in(http, "locked@example.com", "guess guess")).status_code == 401
        throttled = await sign_in(http, "locked@example.com", PASSWORD)
        other = await sign_in(http, "other@example.com", PASSWORD)
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text and COOKIE not in throttled.cookies
    assert other.status_code == 303  # another account from the same address is not locked
    async with console.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM staff_login_failures WHERE account = 'locked@example.com'"
                )
            )
        ).scalar_one()
    assert rows == 5  # recorded in Postgres: it holds on every Machine
    await _forget_failures(console)


async def test_a_session_idle_for_too_long_has_expired(console: Console) -> None:
    async with signed_in(console) as http:
        assert (await http.get("/staff/")).status_code == 200
        idle = timedelta(minutes=console.settings.staff_session_idle_minutes + 1)
        async with console.engine.begin() as conn:
            await conn.execute(
                text("UPDATE staff_sessions SET last_seen_at = now() - CAST(:idle AS interval)"),
                {"idle": idle},
            )
        expired = await http.get("/staff/calls")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/staff/login")


async def test_use_keeps_a_session_alive(console: Console) -> None:
    async with signed_in(console) as http:
        almost = timedelta(minutes=console.settings.staff_session_idle_minutes - 1)
        async with console.engine.begin() as conn:
            await conn.execute(
                text("UPDATE staff_sessions SET last_seen_at = now() - CAST(:t AS interval)"),
                {"t": almost},
            )
        assert (await http.get("/staff/")).status_code == 200
        assert (await http.get("/staff/")).status_code == 200


@pytest.mark.parametrize("tamper", ["signature", "session id", "garbage"])
async def test_a_tampered_cookie_is_refused_and_dropped(console: Console, tamper: str) -> None:
    async with signed_in(console) as http:
        value = http.cookies[COOKIE]
        session_id, _, mac = value.rpartition(".")
        forged = {
            "signature": f"{session_id}.{mac[:-2]}AA",
            "session id": f"{session_id[:-2]}AA.{mac}",
            "garbage": "not-a-session",
        }[tamper]
        http.cookies.set(COOKIE, forged, path="/staff")
        response = await http.get("/staff/calls")
    assert response.status_code == 303
    assert f"{COOKIE}=" in response.headers.get("set-cookie", "")  # told to forget it


async def test_logout_ends_the_session_on_the_server(console: Console) -> None:
    async with signed_in(console) as http:
        cookie = http.cookies[COOKIE]
        page = await http.get("/staff/")
        out = await http.post("/staff/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and "notice=signed_out" in out.headers["location"]
    async with console.client() as replay:
        replay.cookies.set(COOKIE, cookie, path="/staff")
        again = await replay.get("/staff/")
    assert again.status_code == 303  # the old cookie is worthless now


async def test_a_new_password_ends_every_session_of_the_account(console: Console) -> None:
    await add_account(console.engine, "reset@example.com", PASSWORD)
    async with console.client() as http:
        assert (await sign_in(http, "reset@example.com")).status_code == 303
        await set_password(console.engine, "reset@example.com", "a brand new password")
        response = await http.get("/staff/")
    assert response.status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_a_form_without_its_csrf_token_is_refused(
    console: Console, token: str | None
) -> None:
    async with signed_in(console) as http:
        data = {} if token is None else {"csrf_token": token}
        handled = await http.post("/staff/messages/msg_x/handled", data=data)
        logout = await http.post("/staff/logout", data=data)
        still_in = await http.get("/staff/")
    assert handled.status_code == 403 and "did not come from this site" in handled.text
    assert logout.status_code == 403
    assert still_in.status_code == 200


async def test_the_login_form_needs_its_csrf_token_too(console: Console) -> None:
    async with console.client() as http:
        await http.get("/staff/login")  # the pre-login cookie is set, but the token not sent
        response = await http.post("/staff/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403 and COOKIE not in response.cookies


async def test_a_json_post_is_refused_even_with_the_token(console: Console) -> None:
    async with signed_in(console) as http:
        page = await http.get("/staff/")
        as_json = await http.post("/staff/logout", json={"csrf_token": csrf_of(page.text)})
    assert as_json.status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/elsewhere"])
async def test_sign_in_never_redirects_off_the_console(console: Console, target: str) -> None:
    async with console.client() as http:
        form = await http.get("/staff/login", params={"next": target})
        response = await http.post(
            "/staff/login",
            data={
                "csrf_token": csrf_of(form.text),
                "email": EMAIL,
                "password": PASSWORD,
                "next": target,
            },
        )
    assert response.headers["location"] == "/staff/"


async def test_sign_in_returns_to_the_page_asked_for(console: Console) -> None:
    async with console.client() as http:
        first = await http.get("/staff/calls", params={"q": "crown"})
        form = await http.get(first.headers["location"])
        response = await http.post(
            "/staff/login",
            data={
                "csrf_token": csrf_of(form.text),
                "email": EMAIL,
                "password": PASSWORD,
                "next": re.search(r'name="next" value="([^"]*)"', form.text)[1],  # type: ignore[index]
            },
        )
    assert response.headers["location"] == "/staff/calls?q=crown"


@pytest.mark.parametrize(
    "path", ["/", "/staff/login", "/staff/", "/staff/calls", "/staff/messages"]
)
async def test_pages_carry_the_security_headers(console: Console, path: str) -> None:
    async with signed_in(console) as http:
        if path == "/staff/login":
            http.cookies.clear()
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"


async def test_the_twilio_and_business_routes_are_not_behind_the_staff_login(
    console: Console,
) -> None:
    async with httpx.AsyncClient(base_url=console.base) as http:
        twilio = await http.post("/twilio/incoming", data={})
        business = await http.get("/business/hours")
        health = await http.get("/healthz")
    assert twilio.status_code == 403  # refused by its signature check, as before
    assert business.status_code == 401  # its own bearer token, as before
    assert health.status_code == 200


def test_a_route_added_to_the_console_later_is_behind_the_sign_in_too(tmp_path: Path) -> None:
    async def phone(request: Request) -> Response:
        return PlainTextResponse("the dev phone")

    settings = load_settings(secret_key=SECRET, data_dir=tmp_path, _env_file=None)
    mount = staff_mount(settings, ZoneInfo("UTC"), "Test", extra=[Route("/phone", phone)])
    with TestClient(Starlette(routes=[mount])) as client:
        response = client.get("/staff/phone", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login?next=/staff/phone"
    assert response.headers["content-security-policy"] == CSP
