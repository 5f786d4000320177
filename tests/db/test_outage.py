"""Database outage mid-call: the call goes on, rows are spooled, and all land once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.db.embedded import EmbeddedPostgres
from app.db.engine import upgrade
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig


async def test_postgres_stopped_mid_call_loses_no_turn(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "own-pg")
    url = await pg.start()
    await upgrade(url)
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Are you open today?", "Thanks, bye."],
        replies=[AudioReply("Yes, until five.", 500), AudioReply("Goodbye!", 400)],
    )
    try:
        async with CallHarness(url, tmp_path / "data", model_config=config) as h:
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_until_heard(400)
                await h.flush()
                await pg.stop()  # the database goes away in the middle of the call
                await caller.say_and_wait(600)
                await until_quiet(caller)
                await caller.say_and_wait(600)
                await until_quiet(caller)
                await caller.hangup()
            # The call went on without the database; its rows wait in the spool.
            assert caller.played_audio_ms >= 1300
            for _ in range(100):
                if h.runtime.store.spool_size > 0:
                    break
                await asyncio.sleep(0.1)
            assert h.runtime.store.spool_size > 0
            await pg.start()
            async with asyncio.timeout(30):
                while h.runtime.store.spool_size:
                    await asyncio.sleep(0.2)
            row = await h.wait_call_ended(caller.call_sid, within=30)
            turns = await h.turns(caller.call_sid)
            outcome = await h.fetch_one(
                "SELECT outcome FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
            )
    finally:
        await pg.stop()
    assert row["end_reason"] == "caller_hangup"
    assert [t[1] for t in turns] == [
        "Hi, how can I help?",
        "Are you open today?",
        "Yes, until five.",
        "Thanks, bye.",
        "Goodbye!",
    ]
    assert outcome is not None
