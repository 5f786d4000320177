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


async def test_a_call_the_agent_ended_during_an_outage_is_hung_up_not_handed_on(
    tmp_path: Path,
) -> None:
    """stream-ended cannot read the database, so it decides from this instance's own rows
    that are still waiting in the spool: the agent said goodbye, so the call is hung up."""
    pg = EmbeddedPostgres(tmp_path / "own-pg")
    url = await pg.start()
    await upgrade(url)
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        replies=[AudioReply("Are you still there?", 500), AudioReply("Goodbye!", 400)],
    )
    try:
        async with CallHarness(
            url,
            tmp_path / "data",
            model_config=config,
            idle_prompt_seconds=1,
            idle_hangup_seconds=1,
        ) as h:
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_until_heard(400)
                await h.flush()
                await pg.stop()
                await caller.wait_closed(timeout=15)  # the agent hung up on the silence
                _, twiml = await h.post(caller, "/twilio/stream-ended", {})
                assert h.runtime.store.spool_size > 0  # the end of the call is only on disk
            await pg.start()
            async with asyncio.timeout(30):
                while h.runtime.store.spool_size:
                    await asyncio.sleep(0.2)
            row = await h.wait_call_ended(caller.call_sid, within=30)
    finally:
        await pg.stop()
    assert twiml is not None and twiml.verbs == ("Hangup",)
    assert row["end_reason"] == "idle"
