"""On Fly the client's address is Fly-Client-IP and its scheme X-Forwarded-Proto, never what the
client wrote into X-Forwarded-For."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.fleet.client_address import FlyClientAddress
from tests.doubles.server import serve_app


async def _seen(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"client": client, "scheme": request.url.scheme})


async def test_the_address_and_scheme_are_the_ones_fly_vouches_for() -> None:
    app = Starlette(routes=[Route("/", _seen)])
    app.add_middleware(FlyClientAddress)
    # As `serve` runs it: no forwarded header is believed by uvicorn itself.
    async with (
        serve_app(app, proxy={"proxy_headers": False}) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        proxied = await http.get(
            "/",
            headers={
                "Fly-Client-IP": "198.51.100.7",
                "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
                "X-Forwarded-Proto": "https",
            },
        )
        garbled = await http.get("/", headers={"Fly-Client-IP": "not an address"})
        direct = await http.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.json() == {"client": "198.51.100.7", "scheme": "https"}
    assert garbled.json() == {"client": "127.0.0.1", "scheme": "http"}  # the socket's own
    assert direct.json() == {"client": "127.0.0.1", "scheme": "http"}
