"""End to end: a call where the agent takes a message yields a summary, one SMS and one email."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.notify.smtp import SmtpServer

OWNER_SMS = "+15557770001"
OWNER_EMAIL = "owner@example.org"
SUMMARY = {
    "summary": "Jane Doe called to move her crown fitting and left a message.",
    "reason": "reschedule a crown fitting",
    "callback_needed": True,
    "callback_reason": "To agree a new date for the fitting.",
}


def message_call() -> FakeRealtimeConfig:
    return FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["I need to move my crown fitting, can someone call me? It's Jane Doe."],
        replies=[
            FunctionCallReply(
                "take_message",
                {
                    "caller_name": "Jane Doe",
                    "message": "Wants to move her crown fitting; please call back.",
                },
            ),
            AudioReply("Done, the team will call you back. Goodbye!", 500),
        ],
    )


def notify_settings(smtp: SmtpServer, text_api: FakeOpenAIText) -> dict[str, Any]:
    return {
        "notify_sms_to": OWNER_SMS,
        "notify_email_to": OWNER_EMAIL,
        "notify_from_email": "receptionist@example.com",
        "smtp_url": smtp.url,
        "openai_api_base": text_api.base_url,
    }


async def wait_for(predicate: Any, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not await predicate():
            await asyncio.sleep(0.1)


async def test_a_message_call_gets_a_summary_and_exactly_one_sms_and_one_email(
    db_url: str, tmp_path: Path
) -> None:
    smtp = SmtpServer()
    smtp.start()
    try:
        async with FakeOpenAIText(reply=SUMMARY) as text_api:
            settings = notify_settings(smtp, text_api)
            async with CallHarness(db_url, tmp_path, model_config=message_call(), **settings) as h:
                async with h.caller() as caller:
                    await caller.call()
                    await caller.wait_until_heard(400)
                    await caller.say_and_wait(600)
                    await until_quiet(caller)
                    await caller.hangup()
                sid = caller.call_sid
                await h.wait_call_ended(sid)

                async def all_sent() -> bool:
                    rows = await h.fetch(
                        "SELECT status FROM notifications WHERE call_sid = :s", s=sid
                    )
                    return len(rows) == 2 and all(r["status"] == "sent" for r in rows)

                await wait_for(all_sent)
                await asyncio.sleep(1.0)  # a duplicate would have time to show up
                call = await h.fetch_one("SELECT * FROM call_review WHERE call_sid = :s", s=sid)
                cost = await h.fetch_one(
                    "SELECT estimated_cost_usd, summary_status FROM calls WHERE call_sid = :s",
                    s=sid,
                )
                kinds = await h.fetch("SELECT kind FROM notifications WHERE call_sid = :s", s=sid)
                sms = h.twilio.messages.bodies_to(OWNER_SMS)
            assert text_api.violations == []
            assert len(text_api.requests) == 1
    finally:
        smtp.stop()
    assert call is not None and call["summary"] == SUMMARY["summary"]
    assert call["callback_needed"] is True
    assert cost is not None and cost["summary_status"] == "done"
    assert cost["estimated_cost_usd"] > 0
    # The message already tells the owner; no separate "call back" notification for this call.
    assert sorted(k["kind"] for k in kinds) == ["message_taken", "message_taken"]
    [body] = sms
    assert body.startswith("Message from Jane Doe ")
    assert "Jane Doe called to move her crown fitting" in body  # the summary, cut to fit
    assert len(body) <= 160  # one GSM-7 segment
    assert body.endswith(f"/staff/calls/{sid}")
    [mail] = smtp.received
    assert mail.rcpt_tos == [OWNER_EMAIL]
    text = mail.message.get_content()
    assert SUMMARY["summary"] in text
    assert "Wants to move her crown fitting" in text  # the caller's own words too
    assert SUMMARY["callback_reason"] in text
