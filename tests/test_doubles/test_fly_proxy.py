"""The Fly proxy double behaves as Fly documents fly-replay (networking/dynamic-request-routing)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.doubles.fly_dns import FlyDnsDouble
from tests.doubles.fly_proxy import FlyProxyDouble
from tests.doubles.server import serve_app

A, B = "e784079b449483", "3d8d9e7ae62548"


def machine_app(me: str) -> Starlette:
    """A Machine that says who it is, and asks for a replay to /go/<target> when not it."""

    def replay_to(target: str) -> Response:
        return Response("elsewhere", 409, headers={"fly-replay": f"instance={target}"})

    async def go(request: Request) -> Response:
        target = request.path_params["target"]
        body = await request.body()
        if target != me and "fly-replay-src" not in request.headers:
            return replay_to(target)
        return JSONResponse(
            {"machine": me, "src": request.headers.get("fly-replay-src"), "bytes": len(body)}
        )

    async def loop(request: Request) -> Response:
        return replay_to(request.path_params["target"])

    async def ws(websocket: WebSocket) -> None:
        target = websocket.path_params["target"]
        if target != me and "fly-replay-src" not in websocket.headers:
            await websocket.send_denial_response(replay_to(target))
            return
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{me}:{text}:{websocket.headers.get('fly-replay-src', '')}")
        await websocket.close(4001)

    return Starlette(
        routes=[
            Route("/go/{target}", go, methods=["GET", "POST"]),
            Route("/loop/{target}", loop, methods=["POST"]),
            WebSocketRoute("/ws/{target}", ws),
        ]
    )


def always(machine: str) -> object:
    return lambda path, running: machine if machine in running else running[0]


@pytest.fixture
async def fly() -> AsyncIterator[FlyProxyDouble]:
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(FlyProxyDouble("rx", always(A)))  # type: ignore[arg-type]
        for machine in (A, B):
            server = await stack.enter_async_context(serve_app(machine_app(machine)))
            proxy.add(machine, server.port)
        yield proxy


async def test_a_request_is_passed_through_when_not_replayed(fly: FlyProxyDouble) -> None:
    async with httpx.AsyncClient() as http:
        answer = (await http.get(f"{fly.url}/go/{A}")).json()
    assert answer == {"machine": A, "src": None, "bytes": 0}
    assert fly.replays == []


async def test_fly_replay_instance_replays_the_request_there_once_with_fly_replay_src(
    fly: FlyProxyDouble,
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fly.url}/go/{B}", content=b"x" * 1000)
    answer = response.json()
    assert response.status_code == 200 and answer["machine"] == B and answer["bytes"] == 1000
    assert answer["src"].startswith(f"instance={A};region=iad;t=")
    assert [(h.landed, h.replayed_to) for h in fly.replays] == [(A, B)]


async def test_a_replayed_request_answered_with_fly_replay_again_is_not_replayed_twice(
    fly: FlyProxyDouble,
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fly.url}/loop/{B}")
    assert response.status_code == 502 and fly.stats.loops == 1


async def test_a_request_over_1_mb_is_not_replayed(fly: FlyProxyDouble) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fly.url}/go/{B}", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 502 and fly.stats.too_large == 1
    assert fly.replays == []


async def test_a_replay_to_a_machine_that_is_gone_fails(fly: FlyProxyDouble) -> None:
    fly.stop(B)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fly.url}/go/{B}")
    assert response.status_code == 502 and fly.stats.unroutable == 1


async def test_a_websocket_upgrade_is_replayed_before_it_is_accepted(fly: FlyProxyDouble) -> None:
    async with connect(f"ws://127.0.0.1:{fly.server.port}/ws/{B}") as ws:
        await ws.send("hi")
        echoed = await ws.recv()
        with contextlib.suppress(Exception):
            await ws.recv()
    assert isinstance(echoed, str) and echoed.startswith(f"{B}:hi:instance={A};region=iad;t=")
    assert ws.close_code == 4001  # the Machine's close code reaches the client
    assert [(h.kind, h.replayed_to) for h in fly.replays] == [("websocket", B)]


async def test_an_upgrade_refused_by_the_machine_reaches_the_client(fly: FlyProxyDouble) -> None:
    fly.stop(B)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{fly.server.port}/ws/{B}"):
            pass
    assert refused.value.response.status_code == 502


async def test_fly_dns_answers_aaaa_only_for_running_machines(fly: FlyProxyDouble) -> None:
    from app.fleet.dns import has_aaaa

    dns: FlyDnsDouble = fly.dns
    assert await has_aaaa(dns.server, f"{A}.vm.rx.internal", 1.0)
    fly.stop(A)
    assert not await has_aaaa(dns.server, f"{A}.vm.rx.internal", 1.0)
    assert not await has_aaaa(dns.server, "nobody.vm.rx.internal", 1.0)
