"""Benchmarks of the relay (`make bench`): they print numbers; they are not timed tests.

The server under test runs as its own process, `python -m app.cli serve` on the embedded
PostgreSQL (whose processes are separate and not counted), so psutil measures its CPU and memory
alone. The OpenAI double (FakeRealtimeServer) and the simulated Twilio callers run here, in the
bench process, which reports its own load so an overloaded load generator shows.

Scenarios:
  relay  N concurrent calls of S seconds: greeting, then the caller speaks every ~4 s and the
         fake model replies (never over the agent: no barge-in, so every frame must arrive).
         Greeting latency after `start`, added relay latency per frame in each direction,
         frames lost, server CPU per call-minute and memory per call.
  load   the same conversations at 200 calls for two minutes, plus database rows lost.
  soak   waves of mixed calls (talk, drop, refused, never-connected); after each wave the
         server's RSS, file descriptors and TCP connections, and the model sessions left open.

Frames are told apart by stamps written into their first samples (`stamp_ulaw`): the callers
stamp (call, frame number) into every inbound frame and the fake stamps (session, delta number)
into every delta, and hooks in both doubles note perf_counter() times. Both ends live in this
process, so the times compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson
import psutil  # type: ignore[import-untyped]

from app.config import Settings
from tests.doubles.realtime.config import DEFAULT_REPLY_TEXT, AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.realtime.session import FakeSession
from tests.doubles.server import free_port
from tests.doubles.stamps import read_stamp_b64
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig, MediaHook

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("relay", "load", "soak")
GREETING_TEXT = "Thanks for calling Maple Street Dental, how can I help you today?"
SOAK_KINDS = ("talk", "drop", "bad_signature", "bad_token", "no_stream")
FORGED_SIGNATURE = "bm90LWEtc2lnbmF0dXJl"
MB = 1024 * 1024


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run. The model and timing knobs follow the issue's "live call" benchmark."""

    scenario: str = "relay"
    calls: int = 50  # relay/load: concurrent calls; soak: calls per wave
    seconds: float = 20.0  # relay/load: length of each call
    waves: int = 10  # soak only
    # Call starts spread evenly over this; default N x 100 ms, at most 10 s and half a call.
    ramp_seconds: float | None = None
    preconnect_ttl_seconds: float | None = None  # the server's PRECONNECT_TTL_SECONDS (soak)
    connect_delay_ms: int = 150  # fake model: WebSocket handshake latency
    first_audio_delay_ms: int = 300  # fake model: response.create -> first audio
    webhook_gap_seconds: float = 0.4  # Twilio: webhook answered -> Media Stream connects
    speak_every_seconds: float = 4.0
    utterance_ms: int = 800
    greeting_ms: int = 2000

    @property
    def ramp(self) -> float:
        if self.ramp_seconds is not None:
            return max(0.0, self.ramp_seconds)
        return min(10.0, self.seconds / 2, 0.1 * max(self.calls - 1, 0))


def default_config(
    scenario: str,
    calls: int | None = None,
    seconds: float | None = None,
    waves: int | None = None,
    **overrides: Any,
) -> BenchConfig:
    """The scenario's defaults (relay 50 x 20 s, load 200 x 120 s, soak 10 waves x 20 calls)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    base_calls, base_seconds = {"relay": (50, 20.0), "load": (200, 120.0), "soak": (20, 0.0)}[
        scenario
    ]
    return BenchConfig(
        scenario=scenario,
        calls=calls if calls is not None else base_calls,
        seconds=seconds if seconds is not None else base_seconds,
        waves=waves if waves is not None else 10,
        **overrides,
    )


# --- small statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of `values` (already sorted), None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
    }


def _ms(value: float | int | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the server under test ---------------------------------------------------------------------


class ServerUnderTest:
    """`python -m app.cli serve` in a temp dir, on the embedded database, watched by psutil."""

    def __init__(
        self,
        model_url: str,
        *,
        max_calls: int,
        preconnect_ttl_seconds: float | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="receptionist-bench-"))
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self.port = free_port()
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
                self.cpu_samples.append((time.monotonic(), self.cpu_seconds(), _cpu(me)))
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
        return _cpu(self.ps)

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
                    total += _cpu(process)
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


# --- frame bookkeeping -------------------------------------------------------------------------


class FrameLedger:
    """perf_counter() times of stamped frames at both ends of the relay, per call and session."""

    def __init__(self) -> None:
        self.sent_at: dict[int, array[float]] = {}  # caller tag -> send time of frame n at [n-1]
        self.appends: Counter[int] = Counter()  # caller tag -> frames the fake received
        self.caller_to_model: array[float] = array("d")  # ms, one per frame
        self.session_of_tag: dict[int, FakeSession] = {}
        self.misrouted = 0  # frames that reached another call: must never happen
        self.unstamped_appends = 0
        self.delta_sent_at: dict[int, dict[int, float]] = {}  # session -> delta number -> time
        # caller tag -> (session index, delta number, receive time) of every media frame received
        self.received: dict[int, list[tuple[int, int, float]]] = {}
        self.unstamped_media = 0

    def sent_hook(self, tag: int) -> MediaHook:
        times = self.sent_at.setdefault(tag, array("d"))
        # The caller calls this once per frame in order: frame n's time lands at times[n - 1].
        return lambda _payload, at: times.append(at)

    def received_hook(self, tag: int) -> MediaHook:
        records = self.received.setdefault(tag, [])

        def hook(payload: str, at: float) -> None:
            stamp = read_stamp_b64(payload)
            if stamp is None:
                self.unstamped_media += 1
            else:
                records.append((stamp[0], stamp[1], at))

        return hook

    def on_append(self, session: FakeSession, audio: str, at: float) -> None:
        stamp = read_stamp_b64(audio)
        if stamp is None:
            self.unstamped_appends += 1
            return
        tag, number = stamp
        known = self.session_of_tag.setdefault(tag, session)
        if known is not session:
            self.misrouted += 1
            return
        self.appends[tag] += 1
        times = self.sent_at.get(tag)
        if times is not None and 0 < number <= len(times):
            self.caller_to_model.append((at - times[number - 1]) * 1000)

    def on_delta_sent(self, session: FakeSession, delta: str, at: float) -> None:
        stamp = read_stamp_b64(delta)
        if stamp is not None:
            self.delta_sent_at.setdefault(session.index, {})[stamp[1]] = at

    def model_to_caller(self, callers: dict[int, FakeTwilioCaller]) -> tuple[list[float], int, int]:
        """Latencies (ms), deltas lost, deltas sent, over the given callers' sessions.

        Deltas sent before the caller had its first audio frame are left out of the latency:
        they waited, by design, in the session opened at webhook time for the stream to start
        (the greeting latency covers them), which is not time spent in the relay.
        """
        latencies: list[float] = []
        lost = sent_total = 0
        for tag, caller in callers.items():
            session = self.session_of_tag.get(tag)
            if session is None:
                continue
            sent = self.delta_sent_at.get(session.index, {})
            sent_total += len(sent)
            heard_from = caller.first_audio_at or math.inf
            arrived = 0
            for index, number, at in self.received.get(tag, []):
                if index != session.index:
                    self.misrouted += 1
                    continue
                arrived += 1
                sent_at = sent.get(number)
                if sent_at is not None and sent_at >= heard_from:
                    latencies.append((at - sent_at) * 1000)
            lost += max(0, len(sent) - arrived)
        return latencies, lost, sent_total


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


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _runqueue_wait(pid: int) -> float | None:
    """Seconds the process's main thread has spent runnable but waiting for a CPU (Linux)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


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
            bench=_cpu(psutil.Process(me)),
            database=server.database_cpu_seconds(),
            machine=_machine_busy(),
            server_wait=_runqueue_wait(server.ps.pid),
            bench_wait=_runqueue_wait(me),
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


# --- one conversation --------------------------------------------------------------------------


@dataclass
class CallRecord:
    tag: int
    caller: FakeTwilioCaller
    utterances: int = 0
    started: float | None = None  # perf_counter at `start`
    ended: float | None = None  # perf_counter at hang-up
    error: str | None = None


@dataclass
class Bench:
    """What a scenario run shares: the config, the fake model, the server, the ledger."""

    config: BenchConfig
    model: FakeRealtimeServer
    server: ServerUnderTest
    ledger: FrameLedger
    http: httpx.AsyncClient | None = None
    reply_ms: int = field(default_factory=lambda: AudioReply(DEFAULT_REPLY_TEXT).duration_ms())

    @property
    def turn_seconds(self) -> float:
        """Speak, VAD silence, first audio, the reply played, a margin."""
        model = self.model.config
        ms = self.config.utterance_ms + model.vad_silence_ms + model.first_audio_delay_ms
        return (ms + self.reply_ms) / 1000 + 0.5

    def caller(self, tag: int, *, stamped: bool = True) -> FakeTwilioCaller:
        return FakeTwilioCaller(
            self.server.base_url,
            AUTH_TOKEN,
            CallerConfig(stamp=tag if stamped else None),
            http=self.http,
            on_media_sent=self.ledger.sent_hook(tag) if stamped else None,
            on_media_received=self.ledger.received_hook(tag) if stamped else None,
        )

    async def conversation(self, record: CallRecord, delay: float, seconds: float) -> None:
        """Dial, wait the webhook gap, stream; greeting; speak every few seconds; hang up at S."""
        await asyncio.sleep(delay)
        caller = record.caller
        loop = asyncio.get_running_loop()
        cfg = self.config
        try:
            twiml = await caller.dial()
            await asyncio.sleep(cfg.webhook_gap_seconds)
            await caller.connect_stream(twiml)
            record.started = caller.start_sent_at
            end_at = loop.time() + seconds
            expected = float(cfg.greeting_ms)
            await caller.wait_for_audio(expected, timeout=30)
            await caller.wait_until_heard(expected, timeout=30)
            last_say: float | None = None
            while True:
                now = loop.time()
                say_at = now if last_say is None else max(now, last_say + cfg.speak_every_seconds)
                if say_at + self.turn_seconds > end_at:
                    break
                await asyncio.sleep(say_at - now)
                last_say = loop.time()
                # Only once the agent has been heard to the end: no barge-in, every delta counts.
                caller.say(cfg.utterance_ms)
                expected += self.reply_ms
                await caller.wait_for_audio(expected, timeout=30)
                await caller.wait_until_heard(expected, timeout=30)
                record.utterances += 1
            await asyncio.sleep(max(0.0, end_at - loop.time()))
            await caller.hangup()
            record.ended = time.perf_counter()
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"[:300]
            record.ended = time.perf_counter()
            with contextlib.suppress(Exception):
                await caller.aclose()

    async def warm_up(self) -> None:
        """One short call first, so one-off costs (imports, caches) stay out of the figures."""
        caller = self.caller(0, stamped=False)
        async with caller:
            twiml = await caller.dial()
            await asyncio.sleep(self.config.webhook_gap_seconds)
            await caller.connect_stream(twiml)
            await caller.wait_until_heard(self.config.greeting_ms, timeout=30)
            await caller.hangup()
        await self.wait_sessions_closed(self.model.sessions, 15)

    async def wait_sessions_closed(self, sessions: Sequence[FakeSession], timeout: float) -> int:
        """Wait until these model sessions are closed; returns how many are still open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.closed.is_set() for s in sessions):
                return 0
            await asyncio.sleep(0.1)
        return sum(1 for s in sessions if not s.closed.is_set())


# --- relay and load ----------------------------------------------------------------------------


async def _rows_check(
    server: ServerUnderTest, expected: dict[str, int], timeout: float = 60.0
) -> dict[str, int]:
    """Every call has a `calls` row with ended_at and the transcript turns the fake produced."""
    sids = list(expected)
    result = {"calls_missing": len(sids), "turns_missing": sum(expected.values()), "turns_extra": 0}
    if not sids:
        return result
    conn = await server.db()
    try:
        deadline = time.monotonic() + timeout
        while True:
            ended = {
                r["call_sid"]
                for r in await conn.fetch(
                    "SELECT call_sid FROM calls WHERE call_sid = ANY($1) AND ended_at IS NOT NULL",
                    sids,
                )
            }
            counts = {
                r["call_sid"]: int(r["n"])
                for r in await conn.fetch(
                    "SELECT call_sid, count(*) AS n FROM transcript_turns "
                    "WHERE call_sid = ANY($1) GROUP BY call_sid",
                    sids,
                )
            }
            result = {
                "calls_missing": sum(1 for sid in sids if sid not in ended),
                "turns_missing": sum(max(0, n - counts.get(sid, 0)) for sid, n in expected.items()),
                "turns_extra": sum(max(0, counts.get(sid, 0) - n) for sid, n in expected.items()),
            }
            # The server writes through a queue: give it until the deadline to flush.
            if not any(result.values()) or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def run_conversations(config: BenchConfig) -> dict[str, Any]:
    """The relay and load scenarios: N concurrent conversations through one server process."""
    ledger = FrameLedger()
    model_config = FakeRealtimeConfig(
        connect_delay_ms=config.connect_delay_ms,
        first_audio_delay_ms=config.first_audio_delay_ms,
        greeting=AudioReply(GREETING_TEXT, config.greeting_ms),
        stamp_deltas=True,
        rate_limits_events=False,
    )
    model = FakeRealtimeServer(
        model_config,
        validate=False,
        on_append=ledger.on_append,
        on_delta_sent=ledger.on_delta_sent,
    )
    load_before = _load_average()
    await model.start()
    server = ServerUnderTest(model.url, max_calls=config.calls)
    try:
        await server.start()
        limits = httpx.Limits(max_connections=config.calls + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30.0, limits=limits, trust_env=False) as http:
            bench = Bench(config, model, server, ledger, http)
            await bench.warm_up()
            await asyncio.sleep(0.5)
            idle_cpu0, idle_wall0 = server.cpu_seconds(), time.monotonic()
            await asyncio.sleep(1.5)
            idle_cores = (server.cpu_seconds() - idle_cpu0) / (time.monotonic() - idle_wall0)
            idle_rss = server.rss()
            server.reset_peak()
            lag = LoopLag()
            records = [CallRecord(tag, bench.caller(tag)) for tag in range(1, config.calls + 1)]
            step = config.ramp / max(config.calls - 1, 1)
            with GcPauses() as gc_pauses:
                lag.start()
                before = Snapshot.take(server)
                await asyncio.gather(
                    *(
                        bench.conversation(r, i * step, config.seconds)
                        for i, r in enumerate(records)
                    )
                )
                sessions = [
                    ledger.session_of_tag[r.tag] for r in records if r.tag in ledger.session_of_tag
                ]
                still_open = await bench.wait_sessions_closed(sessions, 20)
                cpu = before.until(Snapshot.take(server))
                await lag.stop()
            peak_rss = server.peak_rss
            peak_server_cores, peak_bench_cores = server.peak_cores()
        callers = {r.tag: r.caller for r in records}
        m2c, m2c_lost, m2c_sent = ledger.model_to_caller(callers)
        c2m_lost = sum(
            max(0, len(ledger.sent_at.get(r.tag, ())) - ledger.appends[r.tag]) for r in records
        )
        c2m_sent = sum(len(ledger.sent_at.get(r.tag, ())) for r in records)
        expected_turns = {
            r.caller.call_sid: s.responses_started + len(s.caller_transcripts)
            for r in records
            if (s := ledger.session_of_tag.get(r.tag)) is not None
        }
        rows = await _rows_check(server, expected_turns)
        levels = server.log_counts()
    finally:
        await server.stop()
        await model.stop()
    call_minutes = sum(
        (r.ended - r.started) / 60 for r in records if r.started is not None and r.ended is not None
    )
    errors = [r.error for r in records if r.error]
    return {
        "scenario": config.scenario,
        "calls": config.calls,
        "seconds_per_call": config.seconds,
        "ramp_seconds": round(config.ramp, 2),
        "model": {
            "connect_delay_ms": config.connect_delay_ms,
            "first_audio_delay_ms": config.first_audio_delay_ms,
            "webhook_gap_ms": round(config.webhook_gap_seconds * 1000),
        },
        "calls_ok": len(records) - len(errors),
        "calls_failed": len(errors),
        "errors": errors[:5],
        "caller_utterances": sum(r.utterances for r in records),
        "call_minutes": round(call_minutes, 2),
        "greeting_latency_ms": _rounded(
            summary([r.caller.greeting_latency_ms for r in records if r.caller.greeting_latency_ms])
        ),
        "relay_latency_ms": {
            "caller_to_model": _rounded(summary(ledger.caller_to_model)),
            "model_to_caller": _rounded(summary(m2c)),
        },
        "frames": {
            "caller_to_model_sent": c2m_sent,
            "caller_to_model_lost": c2m_lost,
            "model_to_caller_sent": m2c_sent,
            "model_to_caller_lost": m2c_lost,
            "misrouted": ledger.misrouted,
        },
        "rows": {**rows, "lost": rows["calls_missing"] + rows["turns_missing"]},
        "server": {
            "cpu_seconds": cpu["server_cpu_seconds"],
            "cores_used": cpu["server_cores"],
            "busiest_second_cores": peak_server_cores,
            "idle_cores": round(idle_cores, 4),
            "cpu_seconds_per_call_minute": (
                round(float(cpu["server_cpu_seconds"] or 0) / call_minutes, 3)
                if call_minutes
                else None
            ),
            "idle_rss_mb": round(idle_rss / MB, 1),
            "peak_rss_mb": round(peak_rss / MB, 1),
            "rss_per_call_mb": round((peak_rss - idle_rss) / MB / config.calls, 3),
            "started_in_seconds": round(server.started_in_s, 1),
            "log_lines": levels,
        },
        "model_sessions_left_open": still_open,
        "protocol_errors": sum(len(r.caller.protocol_errors) for r in records),
        "cpu": cpu,
        "bench_process": {
            "cores_used": cpu["bench_cores"],
            "busiest_second_cores": peak_bench_cores,
            "gc_pause_max_ms": round(max(gc_pauses.pauses, default=0.0), 1),
            "worst_sender_lag_ms": round(
                max((r.caller.max_send_lag_ms for r in records), default=0), 1
            ),
            "loop_lag_ms": _rounded(summary(lag.lags)),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
    }


def _rounded(stats: dict[str, float | int | None]) -> dict[str, float | int | None]:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in stats.items()}


# --- soak --------------------------------------------------------------------------------------


async def _soak_call(bench: Bench, kind: str, delay: float) -> str | None:
    """One call of the given kind; returns an error text if it did not go as Twilio's would."""
    await asyncio.sleep(delay)
    cfg = bench.config
    async with (
        httpx.AsyncClient(timeout=30.0, trust_env=False) as http,
        FakeTwilioCaller(bench.server.base_url, AUTH_TOKEN, CallerConfig(), http=http) as caller,
    ):
        try:
            if kind == "bad_signature":
                response = await caller.post_webhook(signature=FORGED_SIGNATURE)
                return None if response.status_code == 403 else f"webhook {response.status_code}"
            twiml = await caller.dial()
            if kind == "no_stream":
                return None  # the session opened at webhook time must be closed by its TTL
            await asyncio.sleep(cfg.webhook_gap_seconds)
            if kind == "bad_token":
                forged = dict(twiml.parameters, token="9999999999.forged")
                await caller.connect_stream(twiml, parameters=forged)
                code = await caller.wait_closed(10)
                return None if code == 1008 else f"bad token stream closed with {code}"
            await caller.connect_stream(twiml)
            if kind == "drop":
                await caller.wait_for_audio(300, timeout=30)
                await caller.drop()
                return None
            await caller.wait_until_heard(cfg.greeting_ms, timeout=30)
            caller.say(cfg.utterance_ms)
            await caller.wait_for_audio(cfg.greeting_ms + bench.reply_ms, timeout=30)
            await caller.wait_until_heard(cfg.greeting_ms + bench.reply_ms, timeout=30)
            await caller.hangup()
            return None
        except Exception as exc:
            return f"{kind}: {type(exc).__name__}: {exc}"[:300]


async def run_soak(config: BenchConfig) -> dict[str, Any]:
    """Waves of mixed calls; after each, what the server still holds."""
    model_config = FakeRealtimeConfig(
        connect_delay_ms=config.connect_delay_ms,
        first_audio_delay_ms=config.first_audio_delay_ms,
        greeting=AudioReply(GREETING_TEXT, config.greeting_ms),
        rate_limits_events=False,
    )
    model = FakeRealtimeServer(model_config, validate=False)
    load_before = _load_average()
    await model.start()
    server = ServerUnderTest(
        model.url, max_calls=config.calls, preconnect_ttl_seconds=config.preconnect_ttl_seconds
    )
    ttl = config.preconnect_ttl_seconds or Settings.model_fields["preconnect_ttl_seconds"].default
    waves: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        await server.start()
        bench = Bench(config, model, server, FrameLedger())
        await bench.warm_up()
        await asyncio.sleep(1.0)
        baseline = {
            "rss_mb": round(server.rss() / MB, 2),
            "fds": server.fds(),
            "tcp": sum(server.tcp().values()),
        }
        began = time.monotonic()
        for wave in range(1, config.waves + 1):
            wave_began = time.monotonic()
            step = 1.0 / max(config.calls - 1, 1)  # a wave arrives within a second
            kinds = [SOAK_KINDS[i % len(SOAK_KINDS)] for i in range(config.calls)]
            results = await asyncio.gather(
                *(_soak_call(bench, kind, i * step) for i, kind in enumerate(kinds))
            )
            errors += [e for e in results if e]
            # Every model session must close: on hang-up, on drop, and by TTL when unused.
            open_left = await bench.wait_sessions_closed(model.sessions, float(ttl) + 20)
            await asyncio.sleep(1.0)  # let the server let go of its sockets
            tcp = server.tcp()
            waves.append(
                {
                    "wave": wave,
                    "calls": config.calls,
                    "seconds": round(time.monotonic() - wave_began, 1),
                    "rss_mb": round(server.rss() / MB, 2),
                    "fds": server.fds(),
                    "tcp": sum(tcp.values()),
                    "tcp_established": tcp.get("ESTABLISHED", 0),
                    "open_model_sessions": open_left,
                    "model_sessions_total": len(model.sessions),
                }
            )
        duration = time.monotonic() - began
        levels = server.log_counts()
    finally:
        await server.stop()
        await model.stop()
    first = waves[1] if len(waves) > 1 else waves[0]
    last = waves[-1]
    return {
        "scenario": "soak",
        "waves": config.waves,
        "calls_per_wave": config.calls,
        "kinds": list(SOAK_KINDS),
        "preconnect_ttl_seconds": ttl,
        "seconds": round(duration, 1),
        "baseline": baseline,
        "per_wave": waves,
        "drift_from_wave_2": {
            "rss_mb": round(last["rss_mb"] - first["rss_mb"], 2),
            "fds": last["fds"] - first["fds"],
            "tcp": last["tcp"] - first["tcp"],
        },
        "leaked_model_sessions": last["open_model_sessions"],
        "errors": errors[:10],
        "calls_failed": len(errors),
        "server_log_lines": levels,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
    }


# --- entry points ------------------------------------------------------------------------------


async def run(config: BenchConfig) -> dict[str, Any]:
    """Run one scenario; the figures as a JSON-ready dict."""
    _raise_fd_limit()
    if config.scenario == "soak":
        return await run_soak(config)
    return await run_conversations(config)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def format_report(result: dict[str, Any]) -> str:
    """The human-readable report of one run."""
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, load average {machine['load_average_before']} before, "
        f"{machine['load_average_after']} after"
    ]
    if result["scenario"] == "soak":
        return "\n".join([_soak_header(result), *lines, *_soak_lines(result)]) + "\n"
    model = result["model"]
    header = (
        f"benchmark: {result['scenario']}, {result['calls']} calls x "
        f"{result['seconds_per_call']:g} s (starts spread over {result['ramp_seconds']:g} s); "
        f"fake model connect {model['connect_delay_ms']} ms, first audio "
        f"{model['first_audio_delay_ms']} ms; webhook->stream {model['webhook_gap_ms']} ms"
    )
    greet = result["greeting_latency_ms"]
    c2m = result["relay_latency_ms"]["caller_to_model"]
    m2c = result["relay_latency_ms"]["model_to_caller"]
    frames = result["frames"]
    rows = result["rows"]
    server = result["server"]
    cpu = result["cpu"]
    me = result["bench_process"]
    lost = frames["caller_to_model_lost"] + frames["model_to_caller_lost"] + frames["misrouted"]
    worst_p99 = max((x for x in (c2m["p99"], m2c["p99"]) if x is not None), default=None)
    lines += [
        f"calls: {result['calls_ok']} ok, {result['calls_failed']} failed; "
        f"{result['caller_utterances']} caller utterances; {result['call_minutes']} call-minutes",
        f"greeting latency after start: p50 {_ms(greet['p50'])}, p99 {_ms(greet['p99'])}, "
        f"max {_ms(greet['max'])}  [target p99 <= 100 ms: "
        f"{_verdict(None if greet['p99'] is None else greet['p99'] <= 100)}]",
        f"added relay latency caller->model: p50 {_ms(c2m['p50'])}, p99 {_ms(c2m['p99'])}, "
        f"max {_ms(c2m['max'])} ({c2m['count']} frames)",
        f"added relay latency model->caller: p50 {_ms(m2c['p50'])}, p99 {_ms(m2c['p99'])}, "
        f"max {_ms(m2c['max'])} ({m2c['count']} frames)  [target p99 <= 5 ms: "
        f"{_verdict(None if worst_p99 is None else worst_p99 <= 5)}]",
        f"frames lost caller->model: {frames['caller_to_model_lost']} of "
        f"{frames['caller_to_model_sent']}; model->caller: {frames['model_to_caller_lost']} of "
        f"{frames['model_to_caller_sent']}; misrouted: {frames['misrouted']}  "
        f"[target 0: {_verdict(lost == 0)}]",
        f"rows lost: {rows['lost']} (calls without ended_at: {rows['calls_missing']}, "
        f"transcript turns missing: {rows['turns_missing']}, extra: {rows['turns_extra']})  "
        f"[target 0: {_verdict(rows['lost'] == 0)}]",
        f"server CPU: {server['cpu_seconds']} s over {cpu['wall_seconds']} s = "
        f"{server['cores_used']} cores (busiest second {server['busiest_second_cores']}, "
        f"idle {server['idle_cores']}); "
        f"{server['cpu_seconds_per_call_minute']} CPU s per call-minute "
        "(the embedded Postgres processes are not counted)",
        f"machine during the calls: {cpu['machine_busy_cores']} cores busy = server "
        f"{cpu['server_cores']} + load generator {cpu['bench_cores']} + Postgres "
        f"{cpu['database_cores']} + other {cpu['other_cores']}; waiting for a CPU: server "
        f"{cpu['server_runqueue_wait_seconds']} s, load generator "
        f"{cpu['bench_runqueue_wait_seconds']} s",
        f"server memory: idle RSS {server['idle_rss_mb']} MB, peak {server['peak_rss_mb']} MB; "
        f"{server['rss_per_call_mb']} MB per call",
        f"load generator (this process: fake model + callers): {me['cores_used']} cores "
        f"(busiest second {me['busiest_second_cores']}); "
        f"worst sender lag {me['worst_sender_lag_ms']} ms; event loop lag p99 "
        f"{_ms(me['loop_lag_ms']['p99'])}, max {_ms(me['loop_lag_ms']['max'])}; "
        f"longest GC pause {me['gc_pause_max_ms']} ms",
        f"model sessions left open: {result['model_sessions_left_open']}; caller protocol "
        f"errors: {result['protocol_errors']}; server log lines: {server['log_lines'] or 'none'}",
    ]
    lines += [f"error: {e}" for e in result["errors"]]
    return "\n".join([header, *lines]) + "\n"


def _soak_header(result: dict[str, Any]) -> str:
    return (
        f"benchmark: soak, {result['waves']} waves x {result['calls_per_wave']} calls "
        f"({', '.join(result['kinds'])}); prepared-session TTL "
        f"{result['preconnect_ttl_seconds']:g} s; {result['seconds']} s"
    )


def _soak_lines(result: dict[str, Any]) -> list[str]:
    base = result["baseline"]
    lines = [
        f"after warm-up: RSS {base['rss_mb']} MB, {base['fds']} fds, {base['tcp']} TCP",
        "wave  seconds  rss_mb  fds  tcp  tcp_estab  open_model_sessions  sessions_total",
    ]
    for w in result["per_wave"]:
        lines.append(
            f"{w['wave']:>4}  {w['seconds']:>7}  {w['rss_mb']:>6}  {w['fds']:>3}  {w['tcp']:>3}  "
            f"{w['tcp_established']:>9}  {w['open_model_sessions']:>19}  "
            f"{w['model_sessions_total']:>14}"
        )
    drift = result["drift_from_wave_2"]
    lines += [
        f"drift from wave 2 to wave {result['waves']}: RSS {drift['rss_mb']:+} MB, "
        f"fds {drift['fds']:+}, TCP {drift['tcp']:+}",
        f"leaked model sessions: {result['leaked_model_sessions']}",
        f"calls that did not go as expected: {result['calls_failed']}",
        f"server log lines: {result['server_log_lines'] or 'none'}",
    ]
    lines += [f"error: {e}" for e in result["errors"]]
    return lines


def main(args: argparse.Namespace, write: Callable[[str], object] = sys.stdout.write) -> int:
    """Run the scenario of the parsed options and print its report (or JSON)."""
    if (args.calls is not None and args.calls < 1) or (args.waves is not None and args.waves < 1):
        sys.stderr.write("benchmarks: --calls and --waves must be at least 1\n")
        return 2
    config = default_config(
        args.scenario,
        calls=args.calls,
        seconds=args.seconds,
        waves=args.waves,
        ramp_seconds=args.ramp,
        preconnect_ttl_seconds=args.preconnect_ttl,
    )
    result = asyncio.run(run(config))
    if args.json:
        write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        write(format_report(result))
    return 0
