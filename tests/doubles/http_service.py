"""What the calendar doubles share: a Starlette app on real uvicorn, every request recorded,
added latency, and stalls that last until `stall_seconds` pass or the double stops."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from tests.doubles.server import RunningServer, serve_app


@dataclass
class Recorded:
    """One request as the double saw it (headers lower-cased; body parsed JSON or form)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    status_code: int | None = None  # what was answered; None while stalled


class FakeHttpService:
    def __init__(self, routes: list[BaseRoute]) -> None:
        self.latency = 0.0  # seconds added before every answer (benchmarks: e.g. 0.1)
        self.stall_seconds: float | None = None  # a stall lasts this long; None: until stop()
        self.requests: list[Recorded] = []
        self.problems: list[str] = []  # what the real service would reject or we must not send
        self.app = Starlette(routes=routes)
        self._release = asyncio.Event()
        self._running: RunningServer | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> Self:
        if self._stack is None:
            self._release = asyncio.Event()
            stack = contextlib.AsyncExitStack()
            self._running = await stack.enter_async_context(serve_app(self.app))
            self._stack = stack
        return self

    async def stop(self) -> None:
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        self._release.set()  # stalled requests answer now, so uvicorn can shut down at once
        await stack.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._running is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._running.http_url

    def count(self, path_suffix: str) -> int:
        return sum(1 for r in self.requests if r.path.endswith(path_suffix))

    async def record(self, request: Request, *, stall: bool) -> Recorded:
        """Record the request, then wait out the latency and, if asked, the stall."""
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            async with request.form() as form:
                body: Any = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            raw = await request.body()
            try:
                body = await request.json() if raw else None
            except ValueError:
                body = None
        recorded = Recorded(
            request.method,
            request.url.path,
            dict(request.query_params),
            body,
            {k.lower(): v for k, v in request.headers.items()},
        )
        self.requests.append(recorded)
        if self.latency:
            await asyncio.sleep(self.latency)
        if stall:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.stall_seconds)
        return recorded

    @staticmethod
    def done(recorded: Recorded, response: Response) -> Response:
        recorded.status_code = response.status_code
        return response
