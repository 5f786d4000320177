"""Recording retention: old recordings go at Twilio and here, one Machine at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import load_settings
from app.recording.retention import LOCK_KEY, purge_recordings
from app.recording.twilio_api import TwilioRecordings
from tests.doubles.twilio_api import FakeTwilioAPI


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilioAPI, TwilioRecordings]]:
    async with FakeTwilioAPI() as fake, httpx.AsyncClient(trust_env=False) as http:
        settings = load_settings(
            _env_file=None,
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=fake.auth_token,
            twilio_api_base=fake.base_url,
        )
        yield fake, TwilioRecordings(settings, http)


async def _recording(engine: AsyncEngine, call_sid: str, sid: str | None, age_days: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO calls (call_sid) VALUES (:c) ON CONFLICT DO NOTHING"), {"c": call_sid}
        )
        await conn.execute(
            text(
                "INSERT INTO recordings (call_sid, sid, status, created_at) "
                "VALUES (:c, :s, :st, now() - make_interval(days => :d))"
            ),
            {"c": call_sid, "s": sid, "st": "completed" if sid else "failed", "d": age_days},
        )


async def _sids(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT sid FROM recordings ORDER BY id"))).scalars())


async def test_old_recordings_are_deleted_at_twilio_and_here(
    engine: AsyncEngine, twilio: tuple[FakeTwilioAPI, TwilioRecordings]
) -> None:
    fake, api = twilio
    old = fake.recordings.add("CA" + "1" * 32, seconds=1)
    by_hand = fake.recordings.add("CA" + "2" * 32, seconds=1)
    fresh = fake.recordings.add("CA" + "3" * 32, seconds=1)
    fake.recordings.delete_by_hand(by_hand.sid)  # Twilio answers 404: counts as deleted
    await _recording(engine, old.call_sid, old.sid, 31)
    await _recording(engine, by_hand.call_sid, by_hand.sid, 40)
    await _recording(engine, fresh.call_sid, fresh.sid, 3)
    await _recording(engine, "CA" + "4" * 32, None, 90)  # never started: nothing at Twilio
    purged = await purge_recordings(engine, api, 30, datetime.now(UTC))
    assert (purged.deleted, purged.kept, purged.skipped) == (3, 0, False)
    assert await _sids(engine) == [fresh.sid]
    deletes = [r.path for r in fake.requests if r.method == "DELETE"]
    assert sorted(deletes) == sorted(
        f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/{s}.json"
        for s in (old.sid, by_hand.sid)
    )
    assert old.deleted and not fresh.deleted


async def test_a_recording_twilio_cannot_delete_is_kept_for_the_next_pass(
    engine: AsyncEngine, twilio: tuple[FakeTwilioAPI, TwilioRecordings]
) -> None:
    fake, api = twilio
    old = fake.recordings.add("CA" + "1" * 32, seconds=1)
    await _recording(engine, old.call_sid, old.sid, 31)
    await fake.stop()  # Twilio unreachable
    purged = await purge_recordings(engine, api, 30, datetime.now(UTC))
    assert (purged.deleted, purged.kept) == (0, 1)
    assert await _sids(engine) == [old.sid]


async def test_one_machine_at_a_time(
    engine: AsyncEngine, twilio: tuple[FakeTwilioAPI, TwilioRecordings]
) -> None:
    fake, api = twilio
    old = fake.recordings.add("CA" + "1" * 32, seconds=1)
    await _recording(engine, old.call_sid, old.sid, 31)
    async with engine.connect() as other:  # another Machine's pass holds the lock
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        purged = await purge_recordings(engine, api, 30, datetime.now(UTC))
        assert purged.skipped and purged.deleted == 0
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    assert (await purge_recordings(engine, api, 30, datetime.now(UTC))).deleted == 1
