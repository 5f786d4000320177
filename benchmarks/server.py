"""The server under test: `python -m app.cli serve` as a subprocess, watched by psutil."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson
import psutil  # type: ignore[import-untyped]

from app.config import Settings
from benchmarks.config import ACCOUNT_SID, AUTH_TOKEN
from benchmarks.cpu import process_cpu_seconds
from tests.doubles.server import free_port

__all__ = ["ServerUnderTest"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ServerUnderTest:
    """`python -m app.cli serve` in a temp dir, on the embedded database, watched by psutil."""

    def __init__(
        self,
        model_url: str,
        *,
        max_calls: int,
        preconnect_ttl_seconds: float | None = None,
        metrics: bool = True,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="receptionist-bench-"))
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self.port = free_port()
        # Metrics on their own port, or off (METRICS_PORT=0: no frame is timed either).
        self.metrics_port = free_port() if metrics else 0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._model_url = model_url
        self._max_calls = max_calls
        self._ttl = preconnect_ttl_seconds
        self._proc: asyncio.subprocess.Process | None = None
        self._ps: psutil.Process | None = None
        self._sampler: asyncio.Task[None] | None = None
        self.peak_rss = 0
        self.cpu_samples: list[tuple[float, float, float]] = []
        self.started_in_s = 0.0

    def env(self) -> dict[str, str]:
        # The server reads only what we give it: none of this shell's receptionist settings.
        ours = {name.upper() for name in Settings.model_fields}
        env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
        env.update(
            PORT=str(self.port),
            METRICS_PORT=str(self.metrics_port),
            DATA_DIR=str(self.data_dir),
            PUBLIC_BASE_URL=self.base_url,
            OPENAI_API_KEY="sk-bench-not-real",
            OPENAI_REALTIME_URL=self._model_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            MAX_CONCURRENT_CALLS=str(self._max_calls + 10),
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            DRAIN_SECONDS="5",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        )
        if self._ttl is not None:
            env["PRECONNECT_TTL_SECONDS"] = str(self._ttl)
        return env

    @property
    def ps(self) -> psutil.Process:
        assert self._ps is not None, "server not started"
        return self._ps

    async def start(self, timeout: float = 180.0) -> None:
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            # cwd is the temp dir, so a developer's .env in the checkout is not read either.
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                env=self.env(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._ps = psutil.Process(self._proc.pid)
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            while True:
                if self._proc.returncode is not None:
                    raise RuntimeError(f"the server exited during start:\n{self.log_tail()}")
                if time.monotonic() - began > timeout:
                    raise RuntimeError(
                        f"the server was not ready in {timeout} s:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await http.get(f"{self.base_url}/readyz")
                    if response.status_code == 200:
                        break
                await asyncio.sleep(0.2)
        self.started_in_s = time.monotonic() - began
        self.peak_rss = self.rss()
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        """Every 0.5 s: RSS for the peak, and CPU of the server and of this process."""
        me = psutil.Process()
        with contextlib.suppress(psutil.Error):
            while True:
                self.peak_rss = max(self.peak_rss, self.rss())
                self.cpu_samples.append(
                    (time.monotonic(), self.cpu_seconds(), process_cpu_seconds(me))
                )
                await asyncio.sleep(0.5)

    def reset_peak(self) -> None:
        self.peak_rss = self.rss()
        self.cpu_samples.clear()

    def peak_cores(self) -> tuple[float, float]:
        """The busiest second's cores used by the server and by this process since reset_peak."""
        server = bench = 0.0
        samples = self.cpu_samples
        for (t0, s0, b0), (t1, s1, b1) in zip(samples, samples[2:], strict=False):
            if t1 > t0:
                server = max(server, (s1 - s0) / (t1 - t0))
                bench = max(bench, (b1 - b0) / (t1 - t0))
        return round(server, 2), round(bench, 2)

    def rss(self) -> int:
        rss: int = self.ps.memory_info().rss
        return rss

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.ps)

    def database_cpu_seconds(self) -> float:
        """CPU of the embedded PostgreSQL (postmaster and its backends), not in the server's."""
        pid = self._postmaster_pid()
        if pid is None:
            return 0.0
        total = 0.0
        with contextlib.suppress(psutil.Error):
            postmaster = psutil.Process(pid)
            for process in [postmaster, *postmaster.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += process_cpu_seconds(process)
        return total

    def fds(self) -> int:
        return int(self.ps.num_fds())

    def tcp(self) -> Counter[str]:
        return Counter(str(c.status) for c in self.ps.net_connections(kind="tcp"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_counts(self) -> dict[str, int]:
        """Server log lines by "level event" (JSON lines; anything else counts as "other")."""
        counts: Counter[str] = Counter()
        with contextlib.suppress(OSError), self.log_path.open("rb") as log:
            for line in log:
                try:
                    entry = orjson.loads(line)
                    counts[f"{entry.get('level', '?')} {entry.get('event', '?')}"] += 1
                except (orjson.JSONDecodeError, AttributeError):
                    counts["other"] += 1
        return dict(sorted(counts.items()))

    async def db(self) -> asyncpg.Connection:
        # postmaster.pid line 5 is the Unix socket directory of the embedded server.
        pid_file = self.data_dir / "postgres" / "postmaster.pid"
        socket_dir = pid_file.read_text().splitlines()[4]
        conn: asyncpg.Connection = await asyncpg.connect(
            user="postgres", database="postgres", host=socket_dir
        )
        return conn

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = (self.data_dir / "postgres" / "postmaster.pid").read_text()
            return int(text.splitlines()[0])
        return None

    async def stop(self, keep: bool = False) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        postmaster = self._postmaster_pid()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # graceful: the lifespan stops the embedded Postgres
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if postmaster is not None and psutil.pid_exists(postmaster):
            # Only if the server could not stop the database it started (it was killed).
            with contextlib.suppress(psutil.Error):
                pg = psutil.Process(postmaster)
                if "postgres" in pg.name():
                    pg.terminate()
                    pg.wait(10)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
