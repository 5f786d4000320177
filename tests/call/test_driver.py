"""The call driver over a Media Streams transport of its own (no Starlette route, no Twilio
signature), as the dev phone will use it: a crashing tool still gets the caller an answer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from app.business.backend import BusinessBackend
from app.business.profile import load_profile
from app.call.driver import CallDriver
from app.call.info import CallInfo
from app.call.ports import CallServices
from app.call.run import run_call
from app.compose import build_sessions
from app.config import load_settings
from app.db.engine import make_engine
from app.db.history import CallHistory
from app.db.store import CallStore
from app.lib.audio import ULAW_SILENCE, tone_ulaw
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.twilio_caller.frames import media_frame, stop_frame

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
CALL_SID = "CA" + "d" * 32
STREAM_SID = "MZ" + "d" * 32


class QueueStream:
    """A MediaStream over queues, playing instantly: every mark comes straight back."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.outbound: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def receive(self) -> str | bytes | None:
        return await self.inbound.get()

    async def send(self, text: str) -> bool:
        if self.close_code is not None:
            return False
        frame = orjson.loads(text)
        self.outbound.append(frame)
        if frame["event"] == "mark":
            mark = {"event": "mark", "streamSid": STREAM_SID, "mark": frame["mark"]}
            self.inbound.put_nowait(orjson.dumps(mark).decode())
        return True

    async def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            self.inbound.put_nowait(None)

    def played_ms(self) -> int:
        media = [f for f in self.outbound if f["event"] == "media"]
        return sum(len(base64.b64decode(f["media"]["payload"])) for f in media) // 8

    async def speak(self, ms: int) -> None:
        """`ms` of tone, then as much silence, in 20 ms frames at real time."""
        audio = tone_ulaw(ms) + bytes([ULAW_SILENCE]) * (ms * 8)
        for n, at in enumerate(range(0, len(audio), 160)):
            payload = base64.b64encode(audio[at : at + 160]).decode()
            frame = media_frame(str(n + 3), STREAM_SID, n + 1, n * 20, payload)
            self.inbound.put_nowait(orjson.dumps(frame).decode())
            await asyncio.sleep(0.02)


async def crashing_tool(info: CallInfo, call_id: str, name: str, arguments: str) -> Any:
    raise RuntimeError("a bug in a tool")


async def no_transfer(info: CallInfo, reason: str, summary: str) -> tuple[bool, str]:
    return False, "not_here"


async def hung_up(call_sid: str) -> bool:
    return True


@pytest.fixture
async def model() -> AsyncIterator[FakeRealtimeServer]:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 300),
        caller_transcripts=["When are you open?"],
        replies=[
            FunctionCallReply("lookup_hours", {}),
            AudioReply("Sorry, I couldn't check that. Shall I take a message?", 500),
        ],
    )
    async with FakeRealtimeServer(config) as server:
        yield server


async def test_a_tool_that_raises_becomes_an_error_the_agent_speaks_about(
    db_url: str, tmp_path: Path, model: FakeRealtimeServer
) -> None:
    settings = load_settings(
        _env_file=None,
        database_url=db_url,
        data_dir=tmp_path,
        openai_api_key="sk-test-not-a-real-key",
        openai_realtime_url=model.url,
        business_profile=PROFILE,
    )
    engine = make_engine(db_url, pool_size=2)
    store = CallStore(engine, tmp_path / "spool")
    await store.start()
    business = BusinessBackend(settings, load_profile(PROFILE))
    services = CallServices(
        settings=settings,
        store=store,
        sessions=build_sessions(settings, business),
        history=CallHistory(engine, store),
        run_tool=crashing_tool,
        transfer=no_transfer,
        hang_up=hung_up,
    )
    stream = QueueStream()
    live: dict[str, CallDriver] = {}
    info = CallInfo(CALL_SID, STREAM_SID, "+15551230000", "TX", "http://127.0.0.1")
    call = asyncio.create_task(run_call(services, live, stream, info))
    try:
        async with asyncio.timeout(20):
            while stream.played_ms() < 300:  # the greeting
                await asyncio.sleep(0.02)
            await stream.speak(600)
            [session] = model.sessions
            output = await session.wait_for("conversation.item.create", timeout=10)
            while stream.played_ms() < 800:  # the answer after the failed tool
                await asyncio.sleep(0.02)
            stop = stop_frame("99", STREAM_SID, "AC" + "0" * 32, CALL_SID)
            stream.inbound.put_nowait(orjson.dumps(stop).decode())
            await call
        assert await store.flush(5)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT name, ok, result FROM tool_calls WHERE call_sid = :s"),
                    {"s": CALL_SID},
                )
            ).all()
    finally:
        call.cancel()
        await store.stop()
        await business.http.aclose()
        await engine.dispose()
    assert output["item"]["type"] == "function_call_output"
    assert orjson.loads(output["item"]["output"])["error"] == "internal_error"
    [(name, ok, result)] = rows
    assert (name, ok, result["error"]) == ("lookup_hours", False, "internal_error")
    assert live == {} and stream.close_code == 1000
    assert model.violations == []
