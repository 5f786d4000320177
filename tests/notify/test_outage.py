"""The database stops just as the provider accepts (or the model answers): what was done is
recorded once it is back, and never done again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine
from app.notify.addresses import parse_smtp_url
from app.notify.mail import MailChannel, message_id
from app.notify.sender import Sender
from app.notify.summarizer import Summarizer
from app.notify.summary_client import SummaryClient
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_messages import SentMessage
from tests.notify.smtp import Received, SmtpServer
from tests.notify.support import StopOnce, add_call, add_message_rows, notification_rows, plan
from tests.notify.test_sender import sms_channel
from tests.notify.test_summary import add_turns, call_row

OUTAGE_SECONDS = 3.0

Outage = tuple[EmbeddedPostgres, AsyncEngine]


@pytest.fixture
async def outage(own_postgres: tuple[EmbeddedPostgres, str]) -> AsyncIterator[Outage]:
    pg, url = own_postgres
    engine = make_engine(url, pool_size=2)
    try:
        yield pg, engine
    finally:
        await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def through_outage(pg: EmbeddedPostgres, stop: StopOnce, work: Awaitable[int]) -> int:
    """Run `work` while the database stops (when `stop` fires) and comes back 3 s later; the work
    must still be waiting when it does (it has something to record)."""
    task = asyncio.ensure_future(work)
    async with asyncio.timeout(20):
        await stop.down.wait()
    await asyncio.sleep(OUTAGE_SECONDS)
    assert not task.done()  # waiting for the database, not given up
    await pg.start()
    async with asyncio.timeout(20):
        return await task


async def test_an_sms_accepted_as_the_database_stops_is_recorded_on_its_return_not_resent(
    outage: Outage, http: httpx.AsyncClient
) -> None:
    pg, engine = outage
    await add_call(engine, "CA_out1")
    await add_message_rows(engine, "CA_out1", plan(email_to=()))
    async with FakeTwilioAPI() as twilio:
        stop = StopOnce(pg)
        on_accepted: Callable[[SentMessage], Awaitable[None]] = stop
        twilio.messages.on_accepted = on_accepted
        s = Sender(engine, {"sms": sms_channel(twilio, http)}, summary_wait=0, hold_cap=600)
        assert await through_outage(pg, stop, s.send_due()) == 1
        assert await s.send_due() == 0
        sent = list(twilio.messages.sent)
    [row] = await notification_rows(engine)
    assert len(sent) == 1
    assert (row["status"], row["attempts"], row["provider_id"]) == ("sent", 1, sent[0].sid)


async def test_an_email_accepted_as_the_database_stops_is_recorded_on_its_return_not_resent(
    outage: Outage,
) -> None:
    pg, engine = outage
    await add_call(engine, "CA_out2")
    await add_message_rows(engine, "CA_out2", plan(sms_to=()))
    stop = StopOnce(pg)
    loop = asyncio.get_running_loop()

    async def stop_from_smtp_thread(_: Received) -> None:  # aiosmtpd runs its own loop
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(stop(), loop))

    smtp = SmtpServer()
    smtp.handler.on_accepted = stop_from_smtp_thread
    smtp.start()
    try:
        mail = MailChannel(parse_smtp_url(smtp.url), "rx@example.com", timeout=5)
        s = Sender(engine, {"email": mail}, summary_wait=0, hold_cap=600)
        assert await through_outage(pg, stop, s.send_due()) == 1
        assert await s.send_due() == 0
    finally:
        smtp.stop()
    [row] = await notification_rows(engine)
    [received] = smtp.received
    assert (row["status"], row["attempts"]) == ("sent", 1)
    # The Message-ID is the row's own, the provider's guard against a copy sent twice.
    expected = message_id(row["idempotency_key"], "example.com")
    assert received.message["Message-ID"] == expected == row["provider_id"]


async def test_a_summary_paid_for_as_the_database_stops_is_stored_on_its_return(
    outage: Outage, http: httpx.AsyncClient
) -> None:
    pg, engine = outage
    await add_call(engine, "CA_out3")
    await add_turns(engine, "CA_out3", "My crown came off, please call me back.")
    stop = StopOnce(pg)
    async with FakeOpenAIText(before_answer=stop) as api:
        client = SummaryClient(http, api.base_url, api.api_key, "gpt-4.1-mini", timeout=10)
        summarizer = Summarizer(engine, client, plan())
        assert await through_outage(pg, stop, summarizer.summarise_due()) == 1
        assert await summarizer.summarise_due() == 0
    assert len(api.requests) == 1  # paid once
    row = await call_row(engine, "CA_out3")
    assert row["summary_status"] == "done" and row["summary"] == "A caller left a message."
    kinds = {r["kind"] for r in await notification_rows(engine)}
    assert kinds == {"callback_needed"}  # written with the summary


async def test_a_claim_the_model_failed_is_released_as_soon_as_the_database_returns(
    outage: Outage, http: httpx.AsyncClient
) -> None:
    pg, engine = outage
    await add_call(engine, "CA_out4")
    await add_turns(engine, "CA_out4", "Hello?")
    stop = StopOnce(pg)
    async with FakeOpenAIText(mode="error", before_answer=stop) as api:
        client = SummaryClient(http, api.base_url, api.api_key, "gpt-4.1-mini", timeout=10)
        summarizer = Summarizer(engine, client, plan(), lease=3600)
        await through_outage(pg, stop, summarizer.summarise_due(limit=1))
        row = await call_row(engine, "CA_out4")
        # Released for another try now, not when the hour-long lease lapses.
        assert (row["summary_status"], row["summary_attempts"]) == (None, 1)
        assert await summarizer.summarise_due() == 1
    assert len(api.requests) == 2
    async with engine.connect() as conn:
        status = (await conn.execute(text("SELECT summary_status FROM calls"))).scalar()
    assert status == "failed"
