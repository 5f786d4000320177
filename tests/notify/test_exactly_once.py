"""Exactly once: two senders on one database, and a message taken while Postgres is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.config import load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, upgrade
from app.notify.sender import Sender
from app.notify.sms import SmsChannel
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.notify.support import (
    BUSINESS,
    OWNER_SMS,
    add_call,
    add_message_rows,
    notification_rows,
    plan,
)
from tests.notify.test_end_to_end import message_call


async def test_two_senders_on_one_database_send_each_notification_exactly_once(
    db_url: str,
) -> None:
    """Each sender has its own engine (its own connections), as two processes would."""
    engines = [make_engine(db_url, pool_size=2) for _ in range(2)]
    try:
        async with FakeTwilioAPI() as twilio, httpx.AsyncClient(trust_env=False) as http:
            settings = load_settings(
                _env_file=None,
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=twilio.auth_token,
                twilio_phone_number=BUSINESS,
                twilio_api_base=twilio.base_url,
            )
            await add_call(engines[0], "CA_many")
            for n in range(40):
                await add_message_rows(engines[0], "CA_many", plan(email_to=()), event=f"m{n}")
            senders = [
                Sender(e, {"sms": SmsChannel(settings, http)}, summary_wait=0, hold_cap=600)
                for e in engines
            ]
            await asyncio.gather(*(s.send_due(limit=100) for s in senders))
            await asyncio.gather(*(s.send_due(limit=100) for s in senders))  # nothing left
            sent = [m.body for m in twilio.messages.sent]
            rows = await notification_rows(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(sent) == 40
    assert [s.sent for s in senders] != [40, 0] and [s.sent for s in senders] != [0, 40]
    assert sum(s.sent for s in senders) == 40
    # Every row was sent once: one attempt each, and as many SMS as rows.
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 40
    assert len({r["provider_id"] for r in rows}) == 40


async def test_postgres_stopped_while_a_message_is_taken_the_sms_goes_out_once_it_is_back(
    tmp_path: Path,
) -> None:
    pg = EmbeddedPostgres(tmp_path / "own-pg")
    url = await pg.start()
    await upgrade(url)
    try:
        async with (
            FakeOpenAIText() as text_api,
            CallHarness(
                url,
                tmp_path / "data",
                model_config=message_call(),
                notify_sms_to=OWNER_SMS,
                openai_api_base=text_api.base_url,
            ) as h,
        ):
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_until_heard(400)
                await h.flush()
                await pg.stop()  # the database goes away before the message is taken
                await caller.say_and_wait(600)
                await until_quiet(caller)
                await caller.hangup()
            for _ in range(100):
                if h.runtime.store.spool_size > 0:
                    break
                await asyncio.sleep(0.1)
            assert h.runtime.store.spool_size > 0  # the message and its SMS wait on disk
            assert h.twilio.messages.sent == []
            await pg.start()
            async with asyncio.timeout(40):
                while not h.twilio.messages.sent:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # a duplicate would have time to show up
            bodies = h.twilio.messages.bodies_to(OWNER_SMS)
            rows = await h.fetch("SELECT status FROM notifications")
    finally:
        await pg.stop()
    assert len(bodies) == 1 and bodies[0].startswith("Message from Jane Doe")
    assert rows == [{"status": "sent"}]
