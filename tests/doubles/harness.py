"""One real receptionist (uvicorn + Postgres) wired to the protocol doubles, for tests and benches.

async with CallHarness(db_url, data_dir) as h:
    async with h.caller() as caller:
        await caller.call()
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings, load_settings
from app.db.engine import make_engine
from app.main import create_app
from app.runtime import Runtime
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.realtime.config import FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.realtime.validation import validate_client_event
from tests.doubles.server import RunningServer, free_port, serve_app
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.twiml import Twiml, parse_twiml

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32


async def until_quiet(caller: FakeTwilioCaller, quiet: float = 0.6, within: float = 15.0) -> None:
    """Wait until the agent has gone quiet: no audio arrived or played for `quiet` seconds."""
    async with asyncio.timeout(within):
        while True:
            before = (caller.received_audio_ms, caller.played_audio_ms)
            await asyncio.sleep(quiet)
            if (caller.received_audio_ms, caller.played_audio_ms) == before:
                return


class CallHarness:
    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *,
        model_config: FakeRealtimeConfig | None = None,
        validate: bool = True,
        **settings: Any,
    ) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.model = FakeRealtimeServer(model_config, validate=validate)
        self.twilio = FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        self.text = FakeOpenAIText()  # call summaries (Chat Completions)
        self._settings_overrides = settings
        self._stack = AsyncExitStack()
        self.settings: Settings
        self.server: RunningServer
        self.engine: AsyncEngine

    async def __aenter__(self) -> CallHarness:
        # Build the strict validators now: the first build blocks for a second or two, which
        # would otherwise land in the middle of the first call's greeting.
        await asyncio.to_thread(validate_client_event, '{"type":"response.create"}')
        await self._stack.enter_async_context(self.model)
        await self._stack.enter_async_context(self.twilio)
        await self._stack.enter_async_context(self.text)
        port = free_port()
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "data_dir": self.data_dir,
            "public_base_url": f"http://127.0.0.1:{port}",
            "openai_api_key": "sk-test-not-a-real-key",
            "openai_realtime_url": self.model.url,
            "openai_api_base": self.text.base_url,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_phone_number": "+15559870000",
            "twilio_api_base": self.twilio.base_url,
            "port": port,
            "metrics_port": 0,  # a test that scrapes passes a free port
            "_env_file": None,
        }
        values.update(self._settings_overrides)
        self.settings = load_settings(**values)
        app = create_app(self.settings)
        self.server = await self._stack.enter_async_context(serve_app(app, port))
        self.runtime: Runtime = app.state.runtime
        self.engine = make_engine(self.settings.database_url or self.database_url, pool_size=2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        await self.engine.dispose()

    @property
    def base_url(self) -> str:
        return self.server.http_url

    @asynccontextmanager
    async def caller(self, config: CallerConfig | None = None) -> AsyncIterator[FakeTwilioCaller]:
        async with FakeTwilioCaller(self.base_url, AUTH_TOKEN, config) as caller:
            yield caller

    async def flush(self) -> None:
        """Wait until the service has written everything it has queued."""
        assert await self.runtime.store.flush(10), "the store did not drain"

    async def wait_call_ended(self, call_sid: str, within: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                await self.flush()
                row = await self.fetch_one(
                    "SELECT * FROM calls WHERE call_sid = :sid AND ended_at IS NOT NULL",
                    sid=call_sid,
                )
                if row is not None:
                    return row
                await asyncio.sleep(0.05)

    async def fetch(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(sql), params)
            return [dict(r) for r in rows.mappings()]

    async def fetch_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, **params)
        return rows[0] if rows else None

    async def post(
        self, caller: FakeTwilioCaller, path: str, params: dict[str, str]
    ) -> tuple[int, Twiml | None]:
        """A signed Twilio callback for this caller's call; returns the status and TwiML."""
        response = await caller.post_webhook(path, params)
        if response.status_code != 200 or not response.text.startswith("<?xml"):
            return response.status_code, None
        return response.status_code, parse_twiml(response.text)

    async def turns(self, call_sid: str) -> list[tuple[str, str, bool]]:
        rows = await self.fetch(
            "SELECT speaker, text, interrupted FROM transcript_turns WHERE call_sid = :sid "
            "ORDER BY seq",
            sid=call_sid,
        )
        return [(r["speaker"], r["text"], r["interrupted"]) for r in rows]
