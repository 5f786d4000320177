"""CPU readers: a process's CPU seconds and run-queue wait, the machine's busy time and load."""

from __future__ import annotations

import os
from pathlib import Path

import psutil  # type: ignore[import-untyped]

__all__ = ["load_average", "machine_busy", "process_cpu_seconds", "runqueue_wait"]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def process_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of `process` so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


def runqueue_wait(pid: int) -> float | None:
    """Seconds the process's main thread has spent runnable but waiting for a CPU (Linux)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting on I/O)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
