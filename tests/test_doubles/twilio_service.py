"""A tiny Twilio-facing service for the fake caller's tests: webhook, TwiML, Media Streams socket.

It validates signatures with the official RequestValidator and answers TwiML built with the
official VoiceResponse; its WebSocket side is driven by each test through a `Peer`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

TOKEN = "0123456789abcdef0123456789abcdef"


class Peer:
    """The service's end of one Media Streams WebSocket: every frame with its arrival time."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.disconnect_code: int | None = None
        self.done = asyncio.Event()
        self._changed = asyncio.Event()
        self.stream_sid = ""

    async def read_all(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    self.disconnect_code = message.get("code")
                    return
                self.frames.append((time.perf_counter(), orjson.loads(message["text"])))
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
        finally:
            self.done.set()
            self._changed.set()

    def of(self, event: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame.get("event") == event]

    async def wait_for(
        self,
        event: str,
        count: int = 1,
        timeout: float = 3.0,
    ) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                matching = [(at, f) for at, f in self.frames if f.get("event") == event]
                if len(matching) >= count:
                    return matching[count - 1]
                if self.done.is_set():
                    raise AssertionError(f"socket closed before {count} x {event}")
                await self._changed.wait()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def send_audio(self, audio: bytes) -> None:
        payload = base64.b64encode(audio).decode()
        await self.send(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    async def send_mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})


@dataclass
class Service:
    port: int
    webhooks: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    upgrades: list[bool] = field(default_factory=list)
    peers: dict[str, asyncio.Future[Peer]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peer_future(self, call_sid: str) -> asyncio.Future[Peer]:
        if call_sid not in self.peers:
            self.peers[call_sid] = asyncio.get_running_loop().create_future()
        return self.peers[call_sid]

    async def peer(self, call_sid: str) -> Peer:
        async with asyncio.timeout(3.0):
            return await self.peer_future(call_sid)


def make_app(service: Service) -> Starlette:
    validator = RequestValidator(TOKEN)

    async def incoming(request: Request) -> Response:
        async with request.form() as form:
            params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get("x-twilio-signature", "")
        valid = validator.validate(service.base_url + request.url.path, params, signature)
        service.webhooks.append((params, valid))
        if not valid:
            return Response("bad signature", status_code=403)
        response = VoiceResponse()
        connect = Connect(action=f"{service.base_url}/twilio/stream-ended")
        stream = Stream(url=f"ws://127.0.0.1:{service.port}/twilio/stream")
        stream.parameter(name="token", value="abc")
        connect.append(stream)
        response.append(connect)
        return Response(str(response), media_type="text/xml")

    async def stream(ws: WebSocket) -> None:
        signature = ws.headers.get("x-twilio-signature", "")
        valid = validator.validate(f"ws://127.0.0.1:{service.port}/twilio/stream", {}, signature)
        service.upgrades.append(valid)
        if not valid:
            await ws.close(code=1008)  # before accept(): the upgrade is refused with HTTP 403
            return
        await ws.accept()
        peer = Peer(ws)
        reader = asyncio.create_task(peer.read_all())
        try:
            _, start = await peer.wait_for("start")
            peer.stream_sid = start["streamSid"]
            service.peer_future(start["start"]["callSid"]).set_result(peer)
            await peer.done.wait()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    return Starlette(
        routes=[
            Route("/twilio/incoming", incoming, methods=["POST"]),
            WebSocketRoute("/twilio/stream", stream),
        ]
    )
