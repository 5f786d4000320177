"""On Fly.io, the client's address and scheme as Fly's proxy vouches for them.

Every request reaches a Machine through Fly's proxy, which sets `Fly-Client-IP` to the address
it accepted the connection from and `X-Forwarded-Proto` to the scheme the client used (Fly docs,
networking/request-headers). `X-Forwarded-For` is no such proof: the proxy appends to what the
client sent, so its leftmost entry is whatever the client chose to write there. This middleware
puts Fly-Client-IP into scope["client"] and the forwarded scheme into scope["scheme"], so
`request.client` (the sign-in throttle's key) and the origin checks see what the platform saw.

It is installed only on Fly (FLY_APP_NAME set). Elsewhere uvicorn believes forwarded headers
from the proxies in FORWARDED_ALLOW_IPS and from nobody else (app/server.py).
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

CLIENT_IP_HEADER = b"fly-client-ip"
PROTO_HEADER = b"x-forwarded-proto"
_SECURE = {"http": "https", "websocket": "wss"}
_PLAIN = {"http": "http", "websocket": "ws"}


def vouched_address(value: bytes) -> str | None:
    """The address in a Fly-Client-IP value, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(value.decode("latin-1").strip()))
    except ValueError:
        return None


class FlyClientAddress:
    """Rewrites the client address and scheme of each request from Fly's proxy headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            headers = dict(scope["headers"])
            scope = dict(scope)
            address = vouched_address(headers.get(CLIENT_IP_HEADER, b""))
            if address is not None:
                scope["client"] = (address, 0)
            proto = headers.get(PROTO_HEADER, b"").decode("latin-1").split(",")[0].strip()
            if proto in ("https", "wss"):
                scope["scheme"] = _SECURE[kind]
            elif proto in ("http", "ws"):
                scope["scheme"] = _PLAIN[kind]
        await self.app(scope, receive, send)
