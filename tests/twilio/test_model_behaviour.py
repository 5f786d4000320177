"""The 2.x models' ways, end to end: preambles before the answer, the model chosen per call."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig

ANSWER = (
    "We are open every weekday from eight in the morning to five in the evening, and on "
    "Saturday mornings from nine to one."
)


async def test_barge_in_after_a_preamble_truncates_the_answer_at_the_heard_position(
    db_url: str, tmp_path: Path
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Maple Street Dental, how can I help?", 800),
        caller_transcripts=["When are you open?", "Saturday?"],
        replies=[AudioReply(ANSWER, 5000, preamble="Let me check.")],
    )
    async with CallHarness(db_url, tmp_path, model_config=config) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(800)
            await caller.say_and_wait(600)
            preamble_ms = AudioReply("Let me check.").duration_ms()
            await caller.wait_until_heard(800 + preamble_ms + 1500)
            caller.say(600)
            await caller.wait_for_event("clear")
            session = h.model.sessions[0]
            truncate = await session.wait_for("conversation.item.truncate")
            heard = caller.played_audio_ms
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        assert h.model.violations == []
        turns = await h.turns(caller.call_sid)
    assert session.session_config is not None  # no ladder: no way up is offered
    assert "escalate" not in {t["name"] for t in session.session_config["tools"]}
    _, _, answer = session.sent_audio_ms_by_item  # the assistant items, in order
    assert truncate["item_id"] == answer  # the answer, not the preamble
    assert 1400 <= truncate["audio_end_ms"] <= heard - 800 - preamble_ms + 50
    assert turns[:3] == [
        ("agent", "Maple Street Dental, how can I help?", False),
        ("caller", "When are you open?", False),
        ("agent", "Let me check.", False),
    ]
    speaker, text, interrupted = turns[3]
    assert speaker == "agent" and interrupted and ANSWER.startswith(text) and text


async def test_a_model_the_api_refuses_sends_each_call_to_a_person_and_is_logged_once(
    db_url: str, tmp_path: Path
) -> None:
    human = "+15550009999"
    config = FakeRealtimeConfig(refused_models=("gpt-realtime-2.1",))
    async with CallHarness(db_url, tmp_path, model_config=config, human_transfer_number=human) as h:
        with capture_logs() as logs:
            for _ in range(2):
                async with h.caller() as caller:
                    await caller.call()
                    assert await caller.wait_closed(timeout=10) == 1000
                    row = await h.wait_call_ended(caller.call_sid)
                    _, twiml = await h.post(caller, "/twilio/stream-ended", {})
                assert row["end_reason"] == "model_failure"
                assert twiml is not None and "Dial" in twiml.verbs and human in twiml.xml
        assert h.model.violations == []
    refusals = [e for e in logs if e["event"] == "model_refused"]
    assert len(refusals) == 1
    assert refusals[0]["code"] == "model_not_found"
    assert "OPENAI_REALTIME_MODEL" in refusals[0]["fix"]
