"""Health of the load generator and CPU snapshots: loop lag, GC pauses, cores used."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from array import array
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]

from benchmarks.cpu import machine_busy, process_cpu_seconds, runqueue_wait
from benchmarks.server import ServerUnderTest

__all__ = ["GcPauses", "LoopLag", "Snapshot"]


class LoopLag:
    """How late this process's event loop wakes up (a busy load generator shows here)."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.lags: array[float] = array("d")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.every)
            self.lags.append((loop.time() - before - self.every) * 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(frozen=True)
class Snapshot:
    """CPU counters at one moment: the server, this process, the database, the whole machine."""

    at: float
    server: float
    bench: float
    database: float
    machine: float
    server_wait: float | None
    bench_wait: float | None

    @classmethod
    def take(cls, server: ServerUnderTest) -> Snapshot:
        me = os.getpid()
        return cls(
            at=time.monotonic(),
            server=server.cpu_seconds(),
            bench=process_cpu_seconds(psutil.Process(me)),
            database=server.database_cpu_seconds(),
            machine=machine_busy(),
            server_wait=runqueue_wait(server.ps.pid),
            bench_wait=runqueue_wait(me),
        )

    def until(self, end: Snapshot) -> dict[str, float | None]:
        """Average cores used between the two snapshots, and run-queue waits in seconds."""
        wall = max(end.at - self.at, 1e-9)

        def wait(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 2)

        server, bench, database = (
            end.server - self.server,
            end.bench - self.bench,
            end.database - self.database,
        )
        machine = end.machine - self.machine
        return {
            "wall_seconds": round(wall, 2),
            "server_cpu_seconds": round(server, 2),
            "server_cores": round(server / wall, 3),
            "bench_cores": round(bench / wall, 3),
            "database_cores": round(database / wall, 3),
            "machine_busy_cores": round(machine / wall, 3),
            "other_cores": round(max(0.0, machine - server - bench - database) / wall, 3),
            "server_runqueue_wait_seconds": wait(self.server_wait, end.server_wait),
            "bench_runqueue_wait_seconds": wait(self.bench_wait, end.bench_wait),
        }


class GcPauses:
    """Garbage-collector pauses of this process (a long one stalls every simulated call)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        # Everything allocated so far (imports, the SDK types the fake can validate with)
        # lives for the whole run: keep it out of every collection.
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)
        gc.unfreeze()
