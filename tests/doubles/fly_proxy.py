"""FlyProxyDouble: Fly's proxy in front of several Machines, honouring `fly-replay` as documented.

A real HTTP and WebSocket reverse proxy on 127.0.0.1 (uvicorn + httpx + websockets). What it does,
from Fly's docs (networking/dynamic-request-routing):
- it picks a Machine for every request on its own (here: a `balance` policy the test chooses,
  by default adversarial: the inbound-call webhook to the first Machine, every other request
  alternating between the Machines);
- a response carrying `fly-replay: instance=<id>` is not returned to the client: the original
  request (method, path, headers, body) is replayed to that Machine, with a `fly-replay-src:
  instance=<from>;region=<r>;t=<microseconds>` header added; a WebSocket upgrade likewise;
- it replays once: a replayed request answered with `fly-replay` again is an error (recorded in
  `loops`), never a second replay;
- requests larger than 1 MB cannot be replayed (recorded in `too_large`, answered 502);
- a replay to a Machine that is not running fails (502, recorded in `unroutable`): Fly's docs
  do not say what the client gets then, only that `instance=` names one Machine.
It also runs Fly's internal DNS for its Machines (FlyDnsDouble) so the service can tell which
are running. `stop(machine_id)` takes a Machine out of both, as a deploy or a crash would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.doubles.fly_dns import FlyDnsDouble
from tests.doubles.server import RunningServer, serve_app

MAX_REPLAY_BYTES = 1024 * 1024  # Fly: "Requests larger than 1MB cannot be replayed"
REGION = "iad"
HOP_BY_HOP = {
    b"host",
    b"connection",
    b"upgrade",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
}
Balance = Callable[[str, list[str]], str]


@dataclass
class Hop:
    """One request as the proxy routed it: first choice, and where a replay sent it."""

    kind: str  # "http" or "websocket"
    path: str
    landed: str
    replayed_to: str | None = None


@dataclass
class Machine:
    id: str
    port: int


@dataclass
class _Counters:
    loops: int = 0
    too_large: int = 0
    unroutable: int = 0
    hops: list[Hop] = field(default_factory=list)


def adversarial() -> Balance:
    """The webhook to the first Machine; every other request to the next one, in turn."""
    turn = itertools.count(1)

    def choose(path: str, running: list[str]) -> str:
        if path == "/twilio/incoming":
            return running[0]
        return running[next(turn) % len(running)]

    return choose


def _replay_target(headers: httpx.Headers | Any) -> str | None:
    value = headers.get("fly-replay")
    if value is None:
        return None
    fields = dict(part.strip().split("=", 1) for part in value.split(";") if "=" in part)
    return fields.get("instance", "").strip('"') or None


class FlyProxyDouble:
    """`async with FlyProxyDouble(app="rx") as fly:` then `fly.add(id, port)`; `fly.url`."""

    def __init__(self, app: str = "receptionist", balance: Balance | None = None) -> None:
        self.app = app
        self.balance = balance or adversarial()
        self.machines: dict[str, Machine] = {}
        self.dns = FlyDnsDouble(app, lambda: set(self.machines))
        self.stats = _Counters()
        self._http = httpx.AsyncClient(timeout=30.0, trust_env=False)
        self._stack = contextlib.AsyncExitStack()
        self.server: RunningServer

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FlyProxyDouble:
        await self._stack.enter_async_context(self.dns)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi(scope, receive, send)

        self.server = await self._stack.enter_async_context(serve_app(app))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        await self._http.aclose()

    @property
    def url(self) -> str:
        return self.server.http_url

    def add(self, machine_id: str, port: int) -> None:
        self.machines[machine_id] = Machine(machine_id, port)

    def stop(self, machine_id: str) -> None:
        """The Machine is gone: no more routing to it, and its DNS record disappears."""
        self.machines.pop(machine_id, None)

    @property
    def hops(self) -> list[Hop]:
        return self.stats.hops

    @property
    def replays(self) -> list[Hop]:
        return [hop for hop in self.stats.hops if hop.replayed_to is not None]

    def _source(self, machine_id: str) -> str:
        return f"instance={machine_id};region={REGION};t={int(time.time() * 1_000_000)}"

    # --- ASGI ------------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            await self._http_request(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _headers(self, scope: Scope, extra: dict[str, str]) -> list[tuple[str, str]]:
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.lower() not in HOP_BY_HOP
        ]
        # What Fly's proxy adds to every request it forwards (networking/request-headers).
        headers += [("x-forwarded-proto", "http"), ("fly-region", REGION)]
        return headers + list(extra.items())

    def _target(self, path: str) -> Machine | None:
        running = list(self.machines)
        return self.machines[self.balance(path, running)] if running else None

    async def _http_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        machine = self._target(scope["path"])
        if machine is None:
            await _plain(send, 503, b"no machines\n")
            return
        hop = Hop("http", scope["path"], machine.id)
        self.stats.hops.append(hop)
        response = await self._forward(scope, machine, path, body, {})
        target = _replay_target(response.headers)
        if target is not None:
            if len(body) > MAX_REPLAY_BYTES:
                self.stats.too_large += 1
                await _plain(send, 502, b"request too large to replay\n")
                return
            replay_to = self.machines.get(target)
            if replay_to is None:
                self.stats.unroutable += 1
                await _plain(send, 502, b"replay target not running\n")
                return
            hop.replayed_to = target
            extra = {"fly-replay-src": self._source(machine.id)}
            response = await self._forward(scope, replay_to, path, body, extra)
            if _replay_target(response.headers) is not None:
                self.stats.loops += 1  # Fly replays once
                await _plain(send, 502, b"replayed request answered fly-replay again\n")
                return
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        ]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": response.content})

    async def _forward(
        self, scope: Scope, machine: Machine, path: str, body: bytes, extra: dict[str, str]
    ) -> httpx.Response:
        return await self._http.request(
            scope["method"],
            f"http://127.0.0.1:{machine.port}{path}",
            headers=self._headers(scope, extra),
            content=body,
        )

    # --- WebSocket -------------------------------------------------------------------------

    async def _upstream(self, scope: Scope) -> ClientConnection | tuple[int, bytes]:
        """Open the upgrade on the chosen Machine, replaying it once if told to."""
        path = scope["path"]
        machine = self._target(path)
        if scope["query_string"]:
            path += f"?{scope['query_string'].decode()}"
        if machine is None:
            return 503, b"no machines\n"
        hop = Hop("websocket", path, machine.id)
        self.stats.hops.append(hop)
        extra: dict[str, str] = {}
        for attempt in range(2):
            try:
                return await connect(
                    f"ws://127.0.0.1:{machine.port}{path}",
                    additional_headers=self._headers(scope, extra),
                    compression=None,
                    max_size=None,
                    ping_interval=None,
                    user_agent_header=None,
                )
            except InvalidStatus as exc:
                target = _replay_target(exc.response.headers)
                if target is None:
                    return exc.response.status_code, bytes(exc.response.body or b"")
                if attempt == 1:
                    self.stats.loops += 1
                    return 502, b"replayed upgrade answered fly-replay again\n"
                replay_to = self.machines.get(target)
                if replay_to is None:
                    self.stats.unroutable += 1
                    return 502, b"replay target not running\n"
                hop.replayed_to = target
                extra = {"fly-replay-src": self._source(machine.id)}
                machine = replay_to
        raise AssertionError("unreachable")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        upstream = await self._upstream(scope)
        if isinstance(upstream, tuple):
            status, body = upstream
            await send({"type": "websocket.http.response.start", "status": status, "headers": []})
            await send({"type": "websocket.http.response.body", "body": body})
            return
        await send({"type": "websocket.accept"})
        async with upstream:
            to_machine = asyncio.create_task(_client_to_upstream(receive, upstream))
            try:
                async for message in upstream:
                    key = "text" if isinstance(message, str) else "bytes"
                    await send({"type": "websocket.send", key: message})
            except ConnectionClosed:
                pass
            finally:
                to_machine.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await to_machine
            code = upstream.close_code or 1000
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code})


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await upstream.close(message.get("code", 1000))
            return
        data = message.get("text")
        await upstream.send(data if data is not None else message.get("bytes") or b"")


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
