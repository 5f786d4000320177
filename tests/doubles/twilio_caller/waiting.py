"""Conditions the caller's tests wait on, checked again whenever the caller's state changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["Watchers"]

_Watcher = tuple[Callable[[], bool], asyncio.Future[float], str]


class Watchers:
    """Waiters, each with its condition; `notify` wakes those whose condition now holds."""

    def __init__(self) -> None:
        self._pending: list[_Watcher] = []

    def __bool__(self) -> bool:
        return bool(self._pending)

    async def wait(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until a `notify` finds `ready()` true; returns the time that notify gave."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        watcher = (ready, future, what)
        self._pending.append(watcher)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout} s") from None
        finally:
            with contextlib.suppress(ValueError):
                self._pending.remove(watcher)

    def notify(self, at: float, fail: Callable[[str], Exception] | None = None) -> None:
        """Wake the waiters whose condition holds (at `at`); with `fail`, fail all the others."""
        for watcher in list(self._pending):
            ready, future, what = watcher
            if future.done():
                continue
            if ready():
                future.set_result(at)
            elif fail is not None:
                future.set_exception(fail(what))
            else:
                continue
            self._pending.remove(watcher)
