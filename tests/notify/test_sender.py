"""The sender: due rows go out once and are marked; failures are retried or failed for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import load_settings
from app.notify.addresses import parse_smtp_url
from app.notify.channel import Channel
from app.notify.mail import MailChannel
from app.notify.sender import Sender
from app.notify.sms import SmsChannel
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_messages import SentMessage
from tests.notify.smtp import SmtpServer
from tests.notify.support import (
    BUSINESS,
    OWNER_EMAIL,
    OWNER_SMS,
    add_call,
    add_message_rows,
    notification_rows,
    plan,
)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI() as api:
        yield api


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def sms_channel(twilio: FakeTwilioAPI, http: httpx.AsyncClient) -> SmsChannel:
    settings = load_settings(
        _env_file=None,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_phone_number=BUSINESS,
        twilio_api_base=twilio.base_url,
    )
    return SmsChannel(settings, http, timeout=1.0)


def sender(engine: AsyncEngine, channels: dict[str, Channel], wait: float = 0.0) -> Sender:
    return Sender(engine, channels, summary_wait=wait, hold_cap=600, backoff_initial=0.0)


async def test_a_message_notification_goes_out_once_by_sms_and_email_and_is_marked_sent(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    smtp = SmtpServer()
    smtp.start()
    try:
        mail = MailChannel(parse_smtp_url(smtp.url), "rx@example.com", timeout=5)
        await add_call(engine, "CA1")
        await add_message_rows(engine, "CA1")
        await add_message_rows(engine, "CA1")  # the same event written twice: no new rows
        s = sender(engine, {"sms": sms_channel(twilio, http), "email": mail})
        assert await s.send_due() == 2
        assert await s.send_due() == 0
    finally:
        smtp.stop()
    [sms_body] = twilio.messages.bodies_to(OWNER_SMS)
    assert sms_body.startswith("Message from Jane Doe +15551234567: Please call me")
    assert sms_body.endswith("https://rx.example.com/staff/calls/CA1")
    [mail_received] = smtp.received
    assert mail_received.rcpt_tos == [OWNER_EMAIL]
    rows = await notification_rows(engine)
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [
        ("sms", "sent", 1),
        ("email", "sent", 1),
    ]
    assert rows[0]["provider_id"].startswith("SM") and rows[0]["sent_at"] is not None


async def test_a_landline_is_recorded_as_failed_with_the_reason_and_not_retried(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    twilio.messages.modes[OWNER_SMS] = "landline"
    await add_call(engine, "CA2")
    await add_message_rows(engine, "CA2")
    s = sender(engine, {"sms": sms_channel(twilio, http)})
    await s.send_due()
    await s.send_due()
    rows = await notification_rows(engine)
    by_channel = {r["channel"]: r for r in rows}
    assert by_channel["sms"]["status"] == "failed"
    assert "21614" in by_channel["sms"]["last_error"]
    assert by_channel["sms"]["attempts"] == 1
    assert by_channel["email"]["status"] == "failed"  # no mail channel configured here
    assert len([r for r in twilio.requests if r.path.endswith("Messages.json")]) == 1


async def test_a_twilio_500_is_retried_with_backoff_until_it_goes_out(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    twilio.messages.mode = "error"
    await add_call(engine, "CA3")
    await add_message_rows(engine, "CA3", plan(email_to=()))
    s = Sender(
        engine,
        {"sms": sms_channel(twilio, http)},
        summary_wait=0,
        hold_cap=600,
        backoff_initial=60.0,
    )
    await s.send_due()
    [row] = [r for r in await notification_rows(engine) if r["channel"] == "sms"]
    assert row["status"] == "pending" and row["attempts"] == 1 and "20500" in row["last_error"]
    assert await s.send_due() == 0  # the SMS waits out its backoff
    twilio.messages.mode = "ok"
    async with engine.begin() as conn:  # the backoff has passed
        await conn.execute(text("UPDATE notifications SET next_attempt_at = now()"))
    await s.send_due()
    [row] = [r for r in await notification_rows(engine) if r["channel"] == "sms"]
    assert row["status"] == "sent" and row["attempts"] == 2
    assert len(twilio.messages.sent) == 1


async def test_smtp_down_then_up_sends_the_email_once(engine: AsyncEngine) -> None:
    smtp = SmtpServer()  # down: nothing listens yet
    mail = MailChannel(parse_smtp_url(smtp.url), "rx@example.com", timeout=2)
    await add_call(engine, "CA4")
    await add_message_rows(engine, "CA4", plan(sms_to=()))
    s = sender(engine, {"email": mail})
    await s.send_due()
    [row] = await notification_rows(engine)
    assert row["status"] == "pending" and row["attempts"] == 1
    smtp.start()
    try:
        for _ in range(3):  # more passes than needed: a second send would show here
            await s.send_due()
    finally:
        smtp.stop()
    [row] = await notification_rows(engine)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert len(smtp.received) == 1


async def test_a_notification_waits_for_the_summary_and_then_carries_it(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    await add_call(engine, "CA5", ended=False)
    await add_message_rows(engine, "CA5", plan(email_to=()))
    s = sender(engine, {"sms": sms_channel(twilio, http)}, wait=30)
    assert await s.send_due() == 0  # the call goes on: the summary cannot exist yet
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE calls SET ended_at = now() WHERE call_sid = 'CA5'"))
    assert await s.send_due() == 0  # ended just now: the summary has up to 30 s
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE calls SET summary = 'Jane wants her crown fitting moved.', "
                "summary_status = 'done' WHERE call_sid = 'CA5'"
            )
        )
    assert await s.send_due() == 1
    [body] = twilio.messages.bodies_to(OWNER_SMS)
    assert "Jane wants her crown fitting moved." in body
    assert "Please call me" not in body
    [row] = await notification_rows(engine)
    assert row["body"] == body  # the row records what was sent


async def test_a_late_summary_does_not_hold_the_notification_past_the_wait(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    await add_call(engine, "CA6", ended=False)
    await add_message_rows(engine, "CA6", plan(email_to=()))
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE calls SET ended_at = now() - interval '6 seconds' WHERE call_sid = 'CA6'")
        )
    s = sender(engine, {"sms": sms_channel(twilio, http)}, wait=5)
    assert await s.send_due() == 1
    [body] = twilio.messages.bodies_to(OWNER_SMS)
    assert "Please call me about my crown." in body  # the caller's own words


async def test_a_send_in_flight_when_the_sender_stops_is_finished_and_recorded(
    engine: AsyncEngine, twilio: FakeTwilioAPI, http: httpx.AsyncClient
) -> None:
    """A deploy's SIGTERM stops the sender mid-send: the message Twilio accepted is recorded as
    sent, not left to be sent again when its claim lapses."""
    await add_call(engine, "CA7")
    await add_message_rows(engine, "CA7", plan(email_to=()))
    accepted = asyncio.Event()

    async def slow_answer(_: SentMessage) -> None:
        accepted.set()
        await asyncio.sleep(0.5)  # the 201 is still on its way when the stop comes

    twilio.messages.on_accepted = slow_answer
    s = sender(engine, {"sms": sms_channel(twilio, http)})
    s.start()
    async with asyncio.timeout(10):
        await accepted.wait()
    await s.stop()
    [row] = await notification_rows(engine)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert s.sent == 1 and len(twilio.messages.sent) == 1
