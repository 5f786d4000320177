"""A database that stalls or is stopped never costs a returning caller the greeting: the memory
and the block check give up in time and the call is answered as for a new caller."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from app.callers.memory import HEADER
from app.db.embedded import EmbeddedPostgres
from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.twilio_caller.config import CallerConfig

ADA = "+15551237777"


def greeting_only() -> FakeRealtimeConfig:
    return FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))


async def remember_ada(h: CallHarness) -> None:
    """Ada rang yesterday (a summarised call)."""
    async with h.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, started_at, ended_at, summary, "
                "summary_status) VALUES ('CAada', :n, now() - interval '1 day', "
                "now() - interval '1 day', 'Ada asked about a crown.', 'done')"
            ),
            {"n": ADA},
        )


async def ring(h: CallHarness) -> tuple[tuple[str, ...], float, float | None, str]:
    """Call as Ada: the TwiML's verbs, the webhook's time (ms), the greeting latency, and the
    instructions the model session got."""
    before = len(h.model.sessions)
    async with h.caller(CallerConfig(from_number=ADA)) as caller:
        started = time.perf_counter()
        twiml = await caller.dial()
        webhook_ms = (time.perf_counter() - started) * 1000
        await caller.connect_stream(twiml)
        await caller.wait_for_audio(100)
        latency = caller.greeting_latency_ms
        await caller.hangup()
    [session] = h.model.sessions[before:]
    assert session.session_config is not None
    return twiml.verbs, webhook_ms, latency, str(session.session_config["instructions"])


async def test_a_stalled_database_greets_as_for_a_new_caller(db_url: str, tmp_path: Path) -> None:
    async with CallHarness(db_url, tmp_path, model_config=greeting_only()) as h:
        await remember_ada(h)
        _, _, _, instructions = await ring(h)
        assert HEADER in instructions  # the database answers: she is remembered
        async with h.engine.begin() as conn:  # and, since, blocked
            await conn.execute(
                text("INSERT INTO callers (number, blocked_at) VALUES (:n, now())"), {"n": ADA}
            )
        async with h.engine.connect() as locker:
            # Every read of `callers` (the block check, the memory's cut-off) now waits.
            await locker.execute(text("BEGIN"))
            await locker.execute(text("LOCK TABLE callers IN ACCESS EXCLUSIVE MODE"))
            verbs, webhook_ms, latency, instructions = await ring(h)
            await locker.execute(text("ROLLBACK"))
    print(f"stalled database: webhook {webhook_ms:.0f} ms, greeting after start {latency} ms")
    # Answered, not rejected: a database that cannot say in time lets the caller through.
    assert verbs == ("Connect",)
    assert HEADER not in instructions
    assert webhook_ms < 1000
    assert latency is not None and latency < 600


async def test_a_stopped_database_still_greets(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    pg, url = own_postgres
    async with CallHarness(url, tmp_path / "data", model_config=greeting_only()) as h:
        await remember_ada(h)
        await h.flush()
        await pg.stop()
        verbs, webhook_ms, latency, instructions = await ring(h)
        await pg.start()
    print(f"stopped database: webhook {webhook_ms:.0f} ms, greeting after start {latency} ms")
    assert verbs == ("Connect",)
    assert HEADER not in instructions
    assert latency is not None and latency < 600
