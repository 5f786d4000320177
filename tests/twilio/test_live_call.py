"""End to end over real uvicorn + embedded Postgres + the OpenAI and Twilio doubles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.frames import CONNECTED_FRAME, start_frame
from tests.doubles.twilio_caller.twiml import Twiml


@pytest.fixture
async def harness(db_url: str, tmp_path: Path) -> AsyncIterator[CallHarness]:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Thanks for calling Maple Street Dental, how can I help?", 1200),
        caller_transcripts=["Are you open on Saturday?", "Great, thanks."],
        replies=[
            AudioReply("We are open Saturday from nine to one.", 1000),
            AudioReply("Bye!", 400),
        ],
    )
    async with CallHarness(db_url, tmp_path, model_config=config) as h:
        yield h
        assert h.model.violations == []


async def test_greeting_arrives_right_after_start(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        twiml = await caller.call()
        assert twiml.stream_url == harness.base_url.replace("http", "ws") + "/twilio/stream"
        await caller.wait_for_audio(100)
        assert caller.greeting_latency_ms is not None and caller.greeting_latency_ms < 300
        await caller.wait_until_heard(1200)
        await caller.hangup()
    row = await harness.wait_call_ended(caller.call_sid)
    assert row["greeting_ms"] is not None and row["greeting_ms"] < 500
    assert row["end_reason"] == "caller_hangup"
    assert caller.protocol_errors == []


async def test_two_turn_conversation_lands_in_order(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(1200)
        await caller.say_and_wait(600)
        await caller.wait_until_heard(2200)
        await caller.say_and_wait(600)
        await caller.wait_until_heard(2600)
        await asyncio.sleep(0.2)
        await caller.hangup()
    row = await harness.wait_call_ended(caller.call_sid)
    turns = await harness.turns(caller.call_sid)
    assert turns == [
        ("agent", "Thanks for calling Maple Street Dental, how can I help?", False),
        ("caller", "Are you open on Saturday?", False),
        ("agent", "We are open Saturday from nine to one.", False),
        ("caller", "Great, thanks.", False),
        ("agent", "Bye!", False),
    ]
    assert row["output_tokens"] > 0 and row["estimated_cost_usd"] > 0
    review = await harness.fetch_one(
        "SELECT * FROM call_review WHERE call_sid = :s", s=caller.call_sid
    )
    assert review is not None and "Caller: Are you open on Saturday?" in review["transcript"]


async def test_barge_in_clears_and_truncates_at_the_heard_position(harness: CallHarness) -> None:
    harness.model.config.greeting = AudioReply(
        "Thanks for calling Maple Street Dental, we are open every weekday from eight to five "
        "and on Saturday mornings, how can I help you today?",
        5000,
    )
    async with harness.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(1500)
        caller.say(600)
        await caller.wait_for_event("clear")
        session = harness.model.sessions[0]
        truncate = await session.wait_for("conversation.item.truncate")
        heard = caller.played_audio_ms
        await caller.hangup()
    # The truncate point is what the caller had heard (marks), not what was sent (5 s).
    assert 1500 <= truncate["audio_end_ms"] <= heard + 50
    await harness.wait_call_ended(caller.call_sid)
    turns = await harness.turns(caller.call_sid)
    assert turns[0][0] == "agent" and turns[0][2] is True
    assert 0 < len(turns[0][1]) < 60


async def test_caller_hangup_closes_the_model_socket(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        await caller.call()
        await caller.wait_for_audio(100)
        session = harness.model.sessions[0]
        await caller.drop()  # no stop frame: the socket just goes away
        await asyncio.wait_for(session.closed.wait(), 5)
    row = await harness.wait_call_ended(caller.call_sid)
    assert row["end_reason"] == "caller_hangup"


async def test_bad_webhook_signature_is_403_and_writes_nothing(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        response = await caller.post_webhook(signature="bm90LWEtc2lnbmF0dXJl")
        unsigned = await caller.post_webhook(sign=False)
    assert response.status_code == 403 and unsigned.status_code == 403
    await harness.flush()
    assert await harness.fetch("SELECT * FROM calls WHERE call_sid = :s", s=caller.call_sid) == []
    assert harness.model.sessions == []


async def _refused_code(caller: FakeTwilioCaller, twiml: Twiml, **kwargs: Any) -> int | None:
    """Connect as Twilio would; return the close code the service answered with."""
    url = twiml.stream_url
    assert url is not None
    signature = kwargs.get("signature") or caller.sign(url)
    parameters = kwargs.get("parameters", twiml.parameters)
    async with websockets.connect(url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(orjson.dumps(CONNECTED_FRAME).decode())
            start = start_frame(caller.call_sid, caller.stream_sid, caller.account_sid, parameters)
            await ws.send(orjson.dumps(start).decode())
            await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.close_code


async def test_stream_with_bad_signature_or_bad_token_is_refused_with_1008(
    harness: CallHarness,
) -> None:
    async with harness.caller() as caller:
        twiml = await caller.dial()
        assert await _refused_code(caller, twiml, signature="bm9wZQ==") == 1008
    async with harness.caller(CallerConfig()) as other:
        twiml = await other.dial()
        forged = dict(twiml.parameters, token="9999999999.forged")
        assert await _refused_code(other, twiml, parameters=forged) == 1008
    # Neither stream got to use a model session (the pre-opened ones expire unused).
    for session in harness.model.sessions:
        assert session.appended_ms == 0


async def test_without_an_openai_key_callers_hear_a_polite_fallback_and_a_person(
    db_url: str, tmp_path: Path
) -> None:
    async with CallHarness(
        db_url, tmp_path, openai_api_key=None, human_transfer_number="+15550009999"
    ) as h:
        async with h.caller() as caller:
            twiml = await caller.dial()
        await h.flush()
        row = await h.fetch_one("SELECT * FROM calls WHERE call_sid = :s", s=caller.call_sid)
        assert h.model.sessions == []
    assert twiml.verbs[:2] == ("Say", "Dial") and "+15550009999" in twiml.xml
    assert "can't take calls right now" in twiml.xml
    assert row is not None


async def test_a_stream_without_a_pre_opened_session_connects_the_model_then(
    harness: CallHarness,
) -> None:
    async with harness.caller() as caller:
        twiml = await caller.dial()
        # As if the webhook had been answered by another instance: no session waits here.
        session = harness.runtime.prepared.adopt(caller.call_sid)
        assert session is not None
        assert await session.wait_connected(5)
        await session.close()
        await caller.connect_stream(twiml)
        await caller.wait_until_heard(1200)  # the greeting, asked for by the stream's driver
        await caller.hangup()
    assert len(harness.model.sessions) == 2
    cold = harness.model.sessions[1]
    assert cold.types_received()[:2] == ["session.update", "response.create"]


async def test_a_model_error_event_is_logged_and_the_call_goes_on(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(1200)
        session = harness.model.sessions[0]
        await session.send_event(
            {
                "type": "error",
                "event_id": "evt_1",
                "error": {"type": "server_error", "code": "internal", "message": "hiccup"},
            }
        )
        await caller.say_and_wait(600)
        await until_quiet(caller)
        await caller.hangup()
    await harness.wait_call_ended(caller.call_sid)
    turns = [t[1] for t in await harness.turns(caller.call_sid)]
    assert "We are open Saturday from nine to one." in turns


async def test_calls_beyond_capacity_are_handed_to_a_person(db_url: str, tmp_path: Path) -> None:
    async with CallHarness(
        db_url, tmp_path, max_concurrent_calls=1, human_transfer_number="+15550009999"
    ) as h:
        async with h.caller() as first, h.caller() as second:
            await first.call()
            await first.wait_for_audio(100)
            busy = await second.dial()
            await first.hangup()
        assert len(h.model.sessions) == 1  # the second call never cost a model session
    assert "all of our lines are busy" in busy.xml.lower()
    assert "Dial" in busy.verbs


async def test_end_call_says_goodbye_then_hangs_up(db_url: str, tmp_path: Path) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["That's all, thanks, bye."],
        replies=[
            FunctionCallReply("end_call", {"reason": "caller is done"}),
            AudioReply("Thanks for calling, goodbye!", 700),
        ],
    )
    async with CallHarness(db_url, tmp_path, model_config=config) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            assert await caller.wait_closed(timeout=15) == 1000
            heard = caller.played_audio_ms
            row = await h.wait_call_ended(caller.call_sid)
            _, after = await h.post(caller, "/twilio/stream-ended", {})
        hangups = [r for r in h.twilio.requests if r.form.get("Status") == "completed"]
    assert heard >= 1100  # the goodbye was heard before the stream closed
    assert row["end_reason"] == "agent_hangup"
    assert after is not None and after.verbs == ("Hangup",)
    assert len(hangups) == 1
