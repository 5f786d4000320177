"""Returning callers end to end: a second call's session is told who rings and what came before.

Real uvicorn + Postgres, the OpenAI Realtime and text doubles, the fake Twilio caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.callers.memory import HEADER, MAX_NOTE_CHARS
from app.staff.accounts import add_account
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.twilio_caller.config import CallerConfig
from tests.signin import csrf_of, sign_in

ADA = "+15551237777"
SUMMARY = {
    "summary": "Ada Lovelace asked what a crown costs and left a message for a quote.",
    "reason": "price of a crown",
    "callback_needed": True,
    "callback_reason": "Wants a quote for a crown.",
}


def first_call() -> FakeRealtimeConfig:
    return FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["It's Ada Lovelace, how much is a crown? Can someone call me?"],
        replies=[
            FunctionCallReply(
                "take_message",
                {"caller_name": "Ada Lovelace", "message": "Wants a quote for a crown."},
            ),
            AudioReply("Done, the team will call you back.", 500),
        ],
    )


@pytest.fixture
async def harness(db_url: str, tmp_path: Path) -> AsyncIterator[CallHarness]:
    async with CallHarness(db_url, tmp_path, model_config=first_call()) as h:
        h.text.reply = SUMMARY
        yield h
        assert h.model.violations == []


async def call_and_summarise(h: CallHarness, number: str) -> str:
    """One call from `number` that leaves a message; returns its sid once it is summarised."""
    async with h.caller(CallerConfig(from_number=number)) as caller:
        await caller.call()
        await caller.wait_until_heard(400)
        await caller.say_and_wait(600)
        await until_quiet(caller)
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    async with asyncio.timeout(20):
        while (
            await h.fetch_one(
                "SELECT 1 FROM calls WHERE call_sid = :s AND summary_status = 'done'",
                s=caller.call_sid,
            )
        ) is None:
            await asyncio.sleep(0.1)
    return caller.call_sid


async def instructions_of_a_call(h: CallHarness, number: str) -> tuple[str, float | None]:
    """Ring from `number`; the instructions its model session got, and the greeting latency."""
    before = len(h.model.sessions)
    async with h.caller(CallerConfig(from_number=number)) as caller:
        await caller.call()
        await caller.wait_for_audio(100)
        latency = caller.greeting_latency_ms
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    [session] = h.model.sessions[before:]
    assert session.session_config is not None
    return str(session.session_config["instructions"]), latency


async def test_a_second_call_is_told_the_name_and_the_first_calls_summary(
    harness: CallHarness,
) -> None:
    await call_and_summarise(harness, ADA)
    instructions, latency = await instructions_of_a_call(harness, ADA)
    note = instructions[instructions.index(HEADER) :]
    assert "Name they gave: Ada Lovelace." in note
    assert SUMMARY["summary"] in note
    assert "not yet answered: Wants a quote for a crown." in note
    assert "Welcome back, Ada" in note
    assert len(note) <= MAX_NOTE_CHARS
    # The note is looked up while the model's socket connects: the greeting is as quick as
    # for a new caller (the budget of tests/twilio/test_live_call.py).
    assert latency is not None and latency < 300


async def test_another_number_and_a_withheld_one_get_no_note(harness: CallHarness) -> None:
    await call_and_summarise(harness, ADA)
    stranger, _ = await instructions_of_a_call(harness, "+15559990001")
    assert HEADER not in stranger
    # Every withheld caller shares the "number" Twilio sends: it must never be remembered.
    await call_and_summarise(harness, "+266696687")
    withheld, _ = await instructions_of_a_call(harness, "+266696687")
    assert HEADER not in withheld and "Ada" not in withheld


async def test_memory_off_sends_no_note(db_url: str, tmp_path: Path) -> None:
    async with CallHarness(db_url, tmp_path, model_config=first_call(), caller_memory=False) as h:
        h.text.reply = SUMMARY
        await call_and_summarise(h, ADA)
        instructions, _ = await instructions_of_a_call(h, ADA)
    assert HEADER not in instructions


async def test_forget_from_the_console_removes_the_memory(harness: CallHarness) -> None:
    sid = await call_and_summarise(harness, ADA)
    await add_account(harness.runtime.engine, "desk@example.com", "a long enough password")
    async with httpx.AsyncClient(base_url=harness.base_url) as http:
        assert (
            await sign_in(http, "desk@example.com", "a long enough password")
        ).status_code == 303
        page = await http.get(f"/staff/callers/{ADA}")
        assert page.status_code == 200 and SUMMARY["summary"] in page.text
        refused = await http.post(f"/staff/callers/{ADA}/forget", data={"csrf_token": "x"})
        assert refused.status_code == 403
        forgot = await http.post(
            f"/staff/callers/{ADA}/forget", data={"csrf_token": csrf_of(page.text)}
        )
        assert forgot.status_code == 303
    row = await harness.fetch_one(
        "SELECT summary, summary_status FROM calls WHERE call_sid = :s", s=sid
    )
    assert row == {"summary": None, "summary_status": "skipped"}
    assert await harness.turns(sid) == []
    # The message stays (the business needs it), but the receptionist no longer knows Ada.
    assert await harness.fetch_one("SELECT 1 FROM messages WHERE call_sid = :s", s=sid)
    instructions, _ = await instructions_of_a_call(harness, ADA)
    assert HEADER not in instructions and "Ada" not in instructions


async def test_the_ladders_big_model_is_told_the_note_too(db_url: str, tmp_path: Path) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Can you explain my insurance claim?"],
        replies=[
            FunctionCallReply("escalate", {"reason": "insurance claim"}),
            AudioReply("Let me bring in a colleague.", 600),
        ],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        openai_realtime_model="gpt-realtime-2.1-mini",
        openai_escalation_model="gpt-realtime-2.1",
    ) as h:
        async with h.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calls (call_sid, from_number, started_at, ended_at, summary, "
                    "summary_status) VALUES ('CAada', :n, now() - interval '1 day', "
                    "now() - interval '1 day', 'Ada asked about a crown.', 'done')"
                ),
                {"n": ADA},
            )
        async with h.caller(CallerConfig(from_number=ADA)) as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await h.model.wait_for_sessions(2, timeout=10)
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
    small, big = h.model.sessions
    for session in (small, big):
        assert session.session_config is not None
        assert "Ada asked about a crown." in session.session_config["instructions"]
