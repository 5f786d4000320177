"""Call control end to end: transfer, hang-up, length cap, silence, model loss, status, disclosure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.twilio_caller.config import CallerConfig

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
HUMAN = "+15550009999"
Factory = Callable[..., Any]


@pytest.fixture
async def make_harness(db_url: str, tmp_path: Path) -> AsyncIterator[Factory]:
    """A harness with a script for the fake model; settings overridable per test."""
    harnesses: list[CallHarness] = []

    async def make(config: FakeRealtimeConfig, **settings: Any) -> CallHarness:
        values: dict[str, Any] = {
            "business_profile": PROFILE,
            "human_transfer_number": HUMAN,
            **settings,
        }
        h = CallHarness(db_url, tmp_path, model_config=config, **values)
        harnesses.append(await h.__aenter__())
        return h

    yield make
    for h in harnesses:
        violations = list(h.model.violations)
        await h.__aexit__(None, None, None)
        assert violations == []


async def _speak(caller: Any, heard_ms: int) -> None:
    await caller.wait_until_heard(heard_ms)
    await caller.say_and_wait(600)


async def test_transfer_answered_dials_the_human_with_a_spoken_summary(
    make_harness: Factory,
) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            caller_transcripts=["I need to talk to someone about my bill."],
            replies=[
                FunctionCallReply(
                    "transfer_to_human",
                    {"reason": "billing question", "summary": "Jane has a question about a bill."},
                ),
                AudioReply("Connecting you now.", 500),
            ],
        )
    )
    async with h.caller() as caller:
        await caller.call()
        await _speak(caller, 400)
        [redirect] = await h.twilio.wait_for_requests(1, timeout=10)
        assert h.twilio.problems == []
        twiml = redirect.form["Twiml"]
        base = h.base_url
        assert f'action="{base}/twilio/transfer/done?call={caller.call_sid}"' in twiml
        assert 'timeout="20"' in twiml and 'callerId="+15559870000"' in twiml
        assert f'url="{base}/twilio/transfer/whisper?call={caller.call_sid}"' in twiml
        assert f">{HUMAN}</Number>" in twiml
        # "Connecting you now" was heard before the call was moved.
        assert caller.played_audio_ms >= 900
        await caller.hangup()  # Twilio ends the stream when the call is redirected
        status, whisper = await h.post(
            caller, f"/twilio/transfer/whisper?call={caller.call_sid}", {"CallSid": "CAchild"}
        )
        assert status == 200 and whisper is not None
        assert "Jane has a question about a bill." in whisper.xml
        assert "billing question" in whisper.xml
        status, done = await h.post(
            caller, f"/twilio/transfer/done?call={caller.call_sid}", {"DialCallStatus": "completed"}
        )
        assert done is not None and done.verbs == ("Hangup",)
    await h.flush()
    outcome = await h.fetch_one(
        "SELECT * FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
    )
    call = await h.fetch_one("SELECT * FROM calls WHERE call_sid = :s", s=caller.call_sid)
    assert outcome is not None and outcome["outcome"] == "transferred"
    assert call is not None and call["transfer_status"] == "completed"
    calls = await h.fetch("SELECT name, ok FROM tool_calls WHERE call_sid = :s", s=caller.call_sid)
    assert calls == [{"name": "transfer_to_human", "ok": True}]


async def test_transfer_unanswered_returns_to_the_agent_with_context_and_takes_a_message(
    make_harness: Factory,
) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            caller_transcripts=[
                "Put me through to Dr. Okafor please.",
                "Yes, it's Jane, call me back.",
            ],
            replies=[
                FunctionCallReply(
                    "transfer_to_human", {"reason": "wants the dentist", "summary": "Jane."}
                ),
                AudioReply("Connecting you now.", 400),
                # after the failed transfer, in a new model session (its first reply is the
                # "greeting", set below):
                FunctionCallReply(
                    "take_message",
                    {"caller_name": "Jane", "message": "Please call back.", "urgency": "normal"},
                ),
                AudioReply("Done, they'll call you back. Goodbye!", 500),
            ],
        )
    )
    async with h.caller() as caller:
        await caller.call()
        await _speak(caller, 400)
        await h.twilio.wait_for_requests(1, timeout=10)
        await caller.hangup()
        h.model.config.greeting = AudioReply("Sorry, nobody answered. Shall I take a message?", 600)
        _, back = await h.post(
            caller, f"/twilio/transfer/done?call={caller.call_sid}", {"DialCallStatus": "no-answer"}
        )
        assert back is not None and back.stream_url is not None
        assert back.parameters.get("resume") == "transfer_failed"
    async with h.caller(CallerConfig(call_sid=caller.call_sid)) as again:
        await again.connect_stream(back)
        await _speak(again, 600)
        await again.wait_until_heard(1100)
        await again.hangup()
    await h.wait_call_ended(caller.call_sid)
    # The new model session was seeded with the conversation so far.
    second = h.model.sessions[-1]
    seeded = [e for e in second.received if e["type"] == "conversation.item.create"]
    texts = [c.get("text") for e in seeded for c in e["item"].get("content", [])]
    assert "Put me through to Dr. Okafor please." in texts
    outcome = await h.fetch_one(
        "SELECT * FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
    )
    assert outcome is not None and outcome["outcome"] == "message_taken"
    messages = await h.fetch(
        "SELECT caller_name FROM messages WHERE call_sid = :s", s=caller.call_sid
    )
    assert messages == [{"caller_name": "Jane"}]
    turns = await h.turns(caller.call_sid)
    assert [t[1] for t in turns][:2] == [
        "Hi, how can I help?",
        "Put me through to Dr. Okafor please.",
    ]
    assert "Sorry, nobody answered. Shall I take a message?" in [t[1] for t in turns]


async def test_call_length_cap_warns_then_says_goodbye_then_hangs_up(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            replies=[AudioReply("I'm sorry, we have to end the call now. Goodbye!", 700)],
        ),
        max_call_seconds=6,
        idle_prompt_seconds=60,
    )
    async with h.caller() as caller:
        await caller.call()
        closed = await caller.wait_closed(timeout=15)
    row = await h.wait_call_ended(caller.call_sid)
    assert row["end_reason"] == "max_duration"
    session = h.model.sessions[0]
    notes = [
        c["text"]
        for e in session.received
        if e["type"] == "conversation.item.create" and e["item"].get("role") == "system"
        for c in e["item"]["content"]
    ]
    assert any("time limit in 30 seconds" in n or "time limit" in n for n in notes)
    assert caller.played_audio_ms >= 1100  # greeting and goodbye were both heard
    assert closed == 1000
    hangups = [r for r in h.twilio.requests if r.form.get("Status") == "completed"]
    assert len(hangups) == 1
    assert session.closed.is_set()  # the model session never outlives the call


async def test_silence_prompts_then_hangs_up(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            replies=[AudioReply("Are you still there?", 500), AudioReply("Goodbye!", 400)],
        ),
        idle_prompt_seconds=1,
        idle_hangup_seconds=1,
    )
    async with h.caller() as caller:
        await caller.call()
        await caller.wait_closed(timeout=15)
        row = await h.wait_call_ended(caller.call_sid)
        _, twiml = await h.post(caller, "/twilio/stream-ended", {})
    assert row["end_reason"] == "idle"
    assert twiml is not None and twiml.verbs == ("Hangup",)
    turns = await h.turns(caller.call_sid)
    assert [t[1] for t in turns] == ["Hi, how can I help?", "Are you still there?", "Goodbye!"]


async def test_model_socket_killed_once_reconnects_with_context(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            caller_transcripts=["Do you do whitening?", "Whitening, please."],
            replies=[
                AudioReply("Yes, we do whitening, and we also offer take-home kits.", 3000),
                AudioReply("Yes, we offer whitening consultations.", 600),
            ],
        )
    )
    async with h.caller() as caller:
        await caller.call()
        await _speak(caller, 400)
        await caller.wait_until_heard(700)  # the first reply is playing
        h.model.config.greeting = AudioReply("Sorry, the line dropped. Could you repeat?", 600)
        await h.model.sessions[0].kill()
        [_, second] = await h.model.wait_for_sessions(2, timeout=5)
        await second.wait_for("response.create")
        heard = caller.played_audio_ms
        await caller.wait_until_heard(heard + 600)  # the apology, within the 2 s budget
        await _speak(caller, heard + 600)
        await asyncio.sleep(1.2)  # the reply is generated in real time
        await caller.wait_until_heard(caller.received_audio_ms)
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    seeded = [
        c.get("text")
        for e in second.received
        if e["type"] == "conversation.item.create"
        for c in e["item"].get("content", [])
    ]
    assert "Hi, how can I help?" in seeded and "Do you do whitening?" in seeded
    turns = [t[1] for t in await h.turns(caller.call_sid)]
    assert turns[-1] == "Yes, we offer whitening consultations."
    assert "Whitening, please." in turns


async def test_model_socket_killed_twice_hands_the_caller_to_a_human(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))
    )
    async with h.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(400)
        await h.model.sessions[0].kill()
        [_, second] = await h.model.wait_for_sessions(2, timeout=5)
        await second.wait_for("session.update")
        await second.kill()
        assert await caller.wait_closed(timeout=10) == 1000
        row = await h.wait_call_ended(caller.call_sid)
        _, twiml = await h.post(caller, "/twilio/stream-ended", {})
    assert row["end_reason"] == "model_failure"
    assert twiml is not None and "Dial" in twiml.verbs
    assert HUMAN in twiml.xml


async def test_status_callback_finalises_a_call_whose_stream_never_connected(
    make_harness: Factory,
) -> None:
    h: CallHarness = await make_harness(FakeRealtimeConfig())
    async with h.caller() as caller:
        await caller.dial()  # the caller hangs up during the greeting: no stream
        [session] = await h.model.wait_for_sessions(1)
        status, _ = await h.post(
            caller, "/twilio/status", {"CallStatus": "completed", "CallDuration": "2"}
        )
        assert status == 204
        await asyncio.wait_for(session.closed.wait(), 5)
    await h.flush()
    row = await h.fetch_one("SELECT * FROM calls WHERE call_sid = :s", s=caller.call_sid)
    assert row is not None and row["ended_at"] is not None
    assert row["end_reason"] == "caller_hangup" and row["twilio_status"] == "completed"
    outcome = await h.fetch_one(
        "SELECT * FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
    )
    assert outcome is not None and outcome["outcome"] == "abandoned"


@pytest.mark.parametrize(("state", "disclosed"), [("CA", True), ("TX", False)])
async def test_recording_disclosure_for_all_party_consent_states(
    make_harness: Factory, state: str, disclosed: bool
) -> None:
    h: CallHarness = await make_harness(FakeRealtimeConfig())
    async with h.caller(CallerConfig(from_state=state)) as caller:
        await caller.dial()
        [session] = await h.model.wait_for_sessions(1)
        await session.wait_for("session.update")
    instructions = session.session_config["instructions"] if session.session_config else ""
    assert ("this call is recorded" in instructions) is disclosed
    assert ("AI assistant" in instructions) is disclosed


async def test_pressing_zero_offers_a_person_at_once(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help you today with anything at all?", 3000),
            replies=[AudioReply("Would you like me to connect you to a person?", 500)],
        )
    )
    async with h.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(500)
        await caller.send_dtmf("0")
        await caller.wait_for_event("clear")
        session = h.model.sessions[0]
        await session.wait_for("response.create", count=2)
        await caller.hangup()
    notes = [
        c["text"]
        for e in session.received
        if e["type"] == "conversation.item.create"
        for c in e["item"].get("content", [])
    ]
    assert any("pressed 0" in n for n in notes)
