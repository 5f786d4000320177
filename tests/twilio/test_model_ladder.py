"""The model ladder end to end: a call starts on the small model and moves once to the big one.

Over real uvicorn, embedded Postgres and the OpenAI/Twilio doubles: the move is a new session on
the big model, seeded with the conversation, opened while the small model says a bridge line.
"""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from app.call.events import Usage
from app.realtime.pricing import estimate_cost
from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply, Reply
from tests.doubles.twilio_caller.caller import FakeTwilioCaller

SMALL, BIG = "gpt-realtime-2.1-mini", "gpt-realtime-2.1"
GREETING = AudioReply("Maple Street Dental, how can I help?", 800)
BRIDGE = AudioReply("Let me bring in a colleague for that, one moment.", 1500)
ANSWER = AudioReply("Hi, I can walk you through your insurance claim.", 1500)
BROKEN = '{"service": "Clean'  # cut-off JSON: the tool call fails


async def _longest_silence_ms(caller: FakeTwilioCaller, until_heard: float) -> float:
    """Sample what the caller has heard until `until_heard` ms: the longest stretch of silence."""
    longest, last_ms, last_at = 0.0, caller.played_audio_ms, time.monotonic()
    async with asyncio.timeout(15):
        while caller.played_audio_ms < until_heard:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            if caller.played_audio_ms > last_ms:
                last_ms, last_at = caller.played_audio_ms, now
            longest = max(longest, (now - last_at) * 1000)
    return longest


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([FunctionCallReply("escalate", {"reason": "insurance claim"})], "asked"),
        (
            [FunctionCallReply("check_availability", BROKEN)] * 2,
            "tool_failures",
        ),
    ],
)
async def test_the_call_moves_to_the_big_model_once_without_a_gap(
    db_url: str, tmp_path: Path, replies: list[Reply], reason: str
) -> None:
    config = FakeRealtimeConfig(
        greeting=GREETING,
        first_audio_delay_ms=300,  # each response's first audio comes 300 ms after its request
        caller_transcripts=["Can you explain my insurance claim?"],
        replies=[*replies, BRIDGE],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        openai_realtime_model=SMALL,
        openai_escalation_model=BIG,
    ) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(GREETING.duration_ms())
            h.model.config.greeting = ANSWER  # what the big model's session says first
            await caller.say_and_wait(600)
            await caller.wait_until_heard(GREETING.duration_ms() + 200)  # the bridge began
            gap = await _longest_silence_ms(
                caller, GREETING.duration_ms() + BRIDGE.duration_ms() + ANSWER.duration_ms()
            )
            await caller.hangup()
        row = await h.wait_call_ended(caller.call_sid)
        turns = await h.turns(caller.call_sid)
        assert h.model.violations == []
    small, big = h.model.sessions  # exactly two sessions: it moved once
    assert (small.model, big.model) == (SMALL, BIG)
    assert gap <= 700, f"the caller heard {gap:.0f} ms of silence at the move"
    # Same instructions (the same disclosure decision) and tools, less the way up.
    assert small.session_config is not None and big.session_config is not None
    # (The instructions carry the time of day, which may have turned a minute in between.)
    same = [re.sub(r"\d\d:\d\d", "hh:mm", s.session_config["instructions"]) for s in (small, big)]
    assert same[0] == same[1]
    small_tools = {t["name"] for t in small.session_config["tools"]}
    big_tools = {t["name"] for t in big.session_config["tools"]}
    assert small_tools - big_tools == {"escalate"}
    seeded = [
        c.get("text")
        for e in big.received
        if e["type"] == "conversation.item.create"
        for c in e["item"].get("content", [])
    ]
    assert "Can you explain my insurance claim?" in seeded
    assert [t[1] for t in turns][-2:] == [BRIDGE.text, ANSWER.text]
    # The row keeps both models, why and when; the cost adds both sessions.
    assert (row["model"], row["escalated_model"]) == (SMALL, BIG)
    assert row["escalation_reason"] == reason
    assert GREETING.duration_ms() < row["escalated_at_ms"] < 10_000
    usage = Usage(
        row["input_tokens"],
        row["output_tokens"],
        row["input_audio_tokens"],
        row["output_audio_tokens"],
    )
    cost = Decimal(row["estimated_cost_usd"])
    assert estimate_cost(SMALL, usage) < cost < estimate_cost(BIG, usage)


async def test_a_call_that_moved_reconnects_on_the_big_model(db_url: str, tmp_path: Path) -> None:
    config = FakeRealtimeConfig(
        greeting=GREETING,
        caller_transcripts=["Can you explain my insurance claim?"],
        replies=[FunctionCallReply("escalate", {"reason": "insurance claim"}), BRIDGE],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        openai_realtime_model=SMALL,
        openai_escalation_model=BIG,
    ) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(GREETING.duration_ms())
            h.model.config.greeting = ANSWER
            await caller.say_and_wait(600)
            [_, big] = await h.model.wait_for_sessions(2, timeout=10)
            await big.wait_for("response.create")  # the call is on the big model now
            await big.kill()
            [*_, again] = await h.model.wait_for_sessions(3, timeout=10)
            await again.wait_for("session.update")
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
    assert again.model == BIG
