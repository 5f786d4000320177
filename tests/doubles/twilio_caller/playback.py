"""Twilio's outbound buffer: audio plays at real time in 20 ms ticks; marks return when reached."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from websockets.exceptions import ConnectionClosed

from app.lib.audio import ULAW_BYTES_PER_MS

__all__ = ["Playback"]

_TICK_MS = 20  # Twilio plays outbound audio in 20 ms frames


class Playback:
    """The audio the service sent, not yet played, and the marks between it, in order."""

    def __init__(
        self, return_mark: Callable[[str], Awaitable[None]], on_played: Callable[[], None]
    ) -> None:
        """`return_mark` sends a reached mark back; `on_played` runs after each tick's audio."""
        self.played_audio_ms = 0.0
        # byte counts of audio not yet played, and mark names, in order
        self._queue: deque[int | str] = deque()
        self._wake = asyncio.Event()
        self._return_mark = return_mark
        self._on_played = on_played

    def add_audio(self, size: int) -> None:
        q = self._queue
        if q and isinstance(q[-1], int):
            q[-1] += size
        else:
            q.append(size)
        self._wake.set()

    def add_mark(self, name: str) -> None:
        self._queue.append(name)
        self._wake.set()

    def clear(self) -> list[str]:
        """Twilio: `clear` empties the buffer at once; returns the pending marks, to return."""
        pending = [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        return pending

    async def run(self) -> None:
        """Play the buffer at real time in 20 ms ticks; return marks as they are reached."""
        loop = asyncio.get_running_loop()
        tick_s = _TICK_MS / 1000
        per_tick = _TICK_MS * ULAW_BYTES_PER_MS
        q = self._queue
        try:
            while True:
                await self._return_head_marks()
                if not q:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                # A run of playback: anchored when audio is first there, ticking until it runs dry.
                anchor = loop.time()
                ticks = 0
                while q:
                    await asyncio.sleep(anchor + (ticks + 1) * tick_s - loop.time())
                    due = max(ticks + 1, int((loop.time() - anchor) / tick_s))
                    budget = (due - ticks) * per_tick
                    ticks = due
                    played = 0
                    while q and budget > 0:
                        head = q[0]
                        if isinstance(head, str):
                            q.popleft()
                            await self._return_mark(head)
                            continue
                        take = min(head, budget)
                        if take == head:
                            q.popleft()
                        else:
                            q[0] = head - take
                        budget -= take
                        played += take
                    self.played_audio_ms += played / ULAW_BYTES_PER_MS
                    await self._return_head_marks()  # all audio before them has played
                    self._on_played()
        except ConnectionClosed:
            pass

    async def _return_head_marks(self) -> None:
        q = self._queue
        while q and isinstance(q[0], str):
            name = q.popleft()
            assert isinstance(name, str)
            await self._return_mark(name)
