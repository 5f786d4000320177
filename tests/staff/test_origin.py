"""A WebSocket upgrade's Origin must be this site's whole origin: scheme, host and port."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from app.staff.origin import parse_origin, same_origin


def upgrade(origin: str | None, host: str = "rx.example.com", scheme: str = "ws") -> HTTPConnection:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {
        "type": "websocket",
        "scheme": scheme,
        "path": "/staff/phone/stream",
        "headers": headers,
        "query_string": b"",
        "server": ("10.0.0.1", 8080),
    }
    return HTTPConnection(scope)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://rx.example.com", True),
        ("https://RX.example.com:443", True),  # the same origin, spelled out
        ("http://rx.example.com", False),  # a plain-http page of the https site
        ("https://rx.example.com:8443", False),  # another port is another origin
        ("https://evil.example", False),
        ("https://rx.example.com.evil.example", False),
        ("null", False),
        (None, False),  # not a browser page
    ],
)
def test_an_https_deployment_takes_upgrades_from_its_own_https_pages_only(
    origin: str | None, allowed: bool
) -> None:
    connection = upgrade(origin)
    assert same_origin(connection, "https://rx.example.com") is allowed


def test_without_public_base_url_the_scheme_the_request_came_with_counts() -> None:
    """Behind Fly's proxy (or a named proxy) an https request arrives as wss."""
    assert same_origin(upgrade("https://rx.example.com", scheme="wss"), None)
    assert not same_origin(upgrade("http://rx.example.com", scheme="wss"), None)
    assert same_origin(upgrade("http://localhost:5050", "localhost:5050"), None)  # make run
    assert not same_origin(upgrade("http://localhost:5051", "localhost:5050"), None)


def test_an_origin_is_scheme_host_and_port() -> None:
    assert parse_origin("https://Rx.Example.com") == ("https", "rx.example.com", 443)
    assert parse_origin("http://[::1]:5050") == ("http", "::1", 5050)
    assert parse_origin("ftp://rx.example.com") is None
    assert parse_origin("https://rx.example.com:99999") is None
    assert parse_origin("https://rx.example.com/staff") is None
