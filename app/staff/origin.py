"""Whether a WebSocket upgrade comes from a page of this site: the whole origin, not the host.

Browsers send cookies with cross-site WebSocket upgrades too and no CORS applies to them, so
only the Origin header tells a hijacking page apart. An origin is scheme, host and port (RFC
6454): `http://rx.example.com` is not `https://rx.example.com`, and a page served over plain
http (readable and rewritable by anyone on the path) must not drive the https site's socket.

This site's origins: PUBLIC_BASE_URL's, and the Host the request was made to, with the scheme
the deployment uses (PUBLIC_BASE_URL's when set, else the one the request came in with, as
uvicorn or Fly's proxy vouch for it: app/server.py, app/fleet/client_address.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

Origin = tuple[str, str, int]  # scheme, host, port
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PAGE_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def parse_origin(value: str) -> Origin | None:
    """`https://Host:443` -> ('https', 'host', 443); None for anything that is not an origin
    (`null`, a path, an unknown scheme, a bad port)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def site_origins(connection: HTTPConnection, public_base: str | None) -> set[Origin]:
    """The origins this site's pages have, for this request."""
    public = parse_origin(public_base) if public_base else None
    scheme = public[0] if public else _PAGE_SCHEMES.get(connection.url.scheme, "http")
    allowed = {public} if public else set()
    own = parse_origin(f"{scheme}://{connection.headers.get('host', '')}")
    if own is not None:
        allowed.add(own)
    return allowed


def same_origin(connection: HTTPConnection, public_base: str | None) -> bool:
    """The upgrade comes from a page of this site; a client that sends no Origin is not a
    browser page and is refused."""
    origin = parse_origin(connection.headers.get("origin", ""))
    return origin is not None and origin in site_origins(connection, public_base)
