"""One simulated call of a run: dialled, streamed, spoken to and hung up like Twilio would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from benchmarks.config import AUTH_TOKEN, BenchConfig
from benchmarks.ledger import FrameLedger
from benchmarks.server import ServerUnderTest
from tests.doubles.realtime.config import DEFAULT_REPLY_TEXT, AudioReply
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.realtime.session import FakeSession
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig

__all__ = ["Bench", "CallRecord"]


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
