"""One background loop for each of notify's workers (the sender, the summarizer).

`step` handles what is due and says how much it handled: while it finds work it runs again at
once; idle, it waits `poll` seconds or until woken; failing (the database is away, or a bug),
it logs, backs off up to 2 s and tries again, so the loop never dies. The cap is short so the
work resumes within seconds of the database's return; one query every 2 s is nothing to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from app.db.faults import root_cause
from app.logging import get_logger

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 2.0


class Poller:
    def __init__(self, name: str, step: Callable[[], Awaitable[int]], poll: float) -> None:
        self._name = name
        self._step = step
        self._poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stopping = False  # a step checks it between items and returns early

    def start(self) -> None:
        self.stopping = False
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop: the item in flight may finish within `grace` seconds (a message the provider
        accepted gets recorded), then whatever is left is cancelled."""
        if self._task is None:
            return
        self.stopping = True
        self._wake.set()
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def wake(self) -> None:
        """Look for due work now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        delay = self._poll
        while not self.stopping:
            try:
                handled = await self._step()
                delay = self._poll
            except Exception as exc:
                log.warning(f"{self._name}_failed", error=type(root_cause(exc)).__name__)
                handled, delay = 0, min(delay * 2, MAX_BACKOFF_SECONDS)
            if handled or self.stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
