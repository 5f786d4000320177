"""FakeRealtimeServer: the fake Realtime endpoint, a real `websockets` server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.doubles.realtime.config import FakeRealtimeConfig
from tests.doubles.realtime.session import AudioHook, FakeSession
from tests.doubles.realtime.validation import warm_up

__all__ = ["REALTIME_PATH", "FakeRealtimeServer"]

REALTIME_PATH = "/v1/realtime"


class FakeRealtimeServer:
    """The fake Realtime endpoint: `async with FakeRealtimeServer(config) as server: ...`."""

    def __init__(
        self,
        config: FakeRealtimeConfig | None = None,
        *,
        validate: bool = True,
        self_check: bool = False,
        host: str = "127.0.0.1",
        on_append: AudioHook | None = None,
        on_delta_sent: AudioHook | None = None,
    ) -> None:
        """`on_append` sees every input_audio_buffer.append's audio as it arrives, and
        `on_delta_sent` every output_audio.delta as it leaves (benchmarks; None costs nothing).
        """
        self.config = config if config is not None else FakeRealtimeConfig()
        self.on_append = on_append
        self.on_delta_sent = on_delta_sent
        self.validate = validate  # check every client event against the SDK types
        self.self_check = self_check  # check every event the fake emits (tests of the fake)
        self.host = host
        self.sessions: list[FakeSession] = []
        self.violations: list[str] = []
        self.id_counters: Counter[str] = Counter()
        self.port = 0
        self._server: Server | None = None
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def url(self) -> str:
        """What the app's OPENAI_REALTIME_URL is set to."""
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    @property
    def base_url(self) -> str:
        """What AsyncOpenAI(websocket_base_url=...) takes."""
        return f"ws://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        if self._server is not None:
            return
        if self.validate or self.self_check:
            warm_up()  # a one-off stall here rather than in the middle of the first call
        self._server = await serve(
            self._handle,
            self.host,
            0,
            compression=None,
            process_request=self._process_request,
            max_size=16 * 2**20,
            close_timeout=2,
        )
        sockets = list(self._server.sockets)
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for session in self.sessions:
            session._server_closing = True
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> FakeRealtimeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def open_sessions(self) -> list[FakeSession]:
        return [session for session in self.sessions if not session.closed.is_set()]

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = 5.0,
    ) -> list[FakeSession]:
        """Wait until `n` connections have been accepted (ever); return the first `n`."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.sessions) < n:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
                    await waiter
        except TimeoutError:
            raise TimeoutError(
                f"waited for {n} realtime sessions, got {len(self.sessions)}"
            ) from None
        return self.sessions[:n]

    def session_changed(self) -> None:
        """Wake whoever waits in wait_for_sessions (a session was accepted or has closed)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.config.connect_delay_ms > 0:
            await asyncio.sleep(self.config.connect_delay_ms / 1000)
        path = urlsplit(request.path).path
        if path != REALTIME_PATH:
            self.violations.append(
                f"[handshake] wrong path {request.path!r}, expected {REALTIME_PATH!r}"
            )
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        session = FakeSession(
            self,
            len(self.sessions),
            connection,
            on_append=self.on_append,
            on_delta_sent=self.on_delta_sent,
        )
        self.sessions.append(session)
        self.session_changed()
        await session.run()
