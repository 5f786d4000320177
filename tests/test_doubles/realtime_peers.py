"""How the fake Realtime API's tests reach it: the official SDK client, a raw socket, a session.

The fake runs with self_check=True in these tests: every event it emits is validated against the
SDK's server event types, so any shape it invents shows up in `server.violations`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent
from websockets.asyncio.client import ClientConnection, connect

from app.lib.audio import silence_ulaw, tone_ulaw
from tests.doubles.realtime.config import FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer

MODEL = "gpt-realtime"

# The GA session the receptionist sends (docs PROTOCOLS.md section 1).
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": MODEL,
    "instructions": "You are the receptionist of a hair salon.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "create_response": True,
                "interrupt_response": True,
            },
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
    "tools": [
        {
            "type": "function",
            "name": "book_appointment",
            "description": "Book an appointment.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        }
    ],
    "tool_choice": "auto",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@asynccontextmanager
async def fake(
    config: FakeRealtimeConfig | None = None, **kwargs: Any
) -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer(
        config or FakeRealtimeConfig(pace=0), self_check=True, **kwargs
    ) as server:
        yield server


@asynccontextmanager
async def sdk(
    server: FakeRealtimeServer, *, update: bool = True
) -> AsyncIterator[AsyncRealtimeConnection]:
    """An official-client connection; with `update`, session.created/updated are consumed."""
    client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.base_url)
    async with client.realtime.connect(model=MODEL) as conn:
        if update:
            assert (await recv(conn)).type == "session.created"
            await conn.session.update(session=SESSION)  # type: ignore[arg-type]
            assert (await recv(conn)).type == "session.updated"
        yield conn


async def recv(conn: AsyncRealtimeConnection, limit: float = 5.0) -> RealtimeServerEvent:
    return await asyncio.wait_for(conn.recv(), limit)


async def until(conn: AsyncRealtimeConnection, event_type: str, limit: float = 5.0) -> list[Any]:
    """Every event (SDK-typed) up to and including the first of `event_type`."""
    events: list[Any] = []
    async with asyncio.timeout(limit):
        while True:
            event = await conn.recv()
            events.append(event)
            if event.type == event_type:
                return events


def of_type(events: list[Any], event_type: str) -> list[Any]:
    return [event for event in events if event.type == event_type]


@asynccontextmanager
async def raw(
    server: FakeRealtimeServer,
    headers: dict[str, str] | None = None,
    query: str = f"?model={MODEL}",
) -> AsyncIterator[ClientConnection]:
    auth = {"Authorization": "Bearer sk-test"} if headers is None else headers
    async with connect(server.url + query, additional_headers=auth, compression=None) as ws:
        yield ws


async def raw_until(ws: ClientConnection, event_type: str, limit: float = 5.0) -> list[Any]:
    events: list[Any] = []
    async with asyncio.timeout(limit):
        while True:
            event = orjson.loads(await ws.recv())
            events.append(event)
            if event["type"] == event_type:
                return events


async def speak(conn: AsyncRealtimeConnection, speech_ms: int, silence_ms: int) -> None:
    """Caller audio as Twilio sends it: 20 ms mu-law frames."""
    for _ in range(speech_ms // 20):
        await conn.input_audio_buffer.append(audio=b64(tone_ulaw(20)))
    for _ in range(silence_ms // 20):
        await conn.input_audio_buffer.append(audio=b64(silence_ulaw(20)))


async def greet(conn: AsyncRealtimeConnection) -> None:
    """Have the greeting spoken and wait for its response.done."""
    await conn.response.create()
    await until(conn, "response.done")
