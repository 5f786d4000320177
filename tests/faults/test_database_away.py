"""The database goes away while a caller asks for a person: every Twilio answer is still right
(never a 5xx), the caller comes back to the agent, a message is taken, and every row lands once
PostgreSQL is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.db.embedded import EmbeddedPostgres
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.twilio_caller.config import CallerConfig

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
HUMAN = "+15550009999"
CALLER = "+14155550123"


async def _drained(h: CallHarness) -> None:
    async with asyncio.timeout(30):
        while h.runtime.store.spool_size:
            await asyncio.sleep(0.2)
    await h.flush()


async def test_a_transfer_during_an_outage_never_answers_5xx_and_loses_nothing(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    pg, url = own_postgres
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Can I talk to someone about my bill?", "Yes, it's Jane."],
        replies=[
            FunctionCallReply(
                "transfer_to_human",
                {"reason": "billing question", "summary": "Jane has a question about a bill."},
            ),
            AudioReply("Connecting you now.", 400),
            FunctionCallReply(
                "take_message",
                {
                    "caller_name": "Jane",
                    "message": "Call back about the bill.",
                    "urgency": "normal",
                },
            ),
            AudioReply("Done, they'll call you back. Goodbye!", 500),
        ],
    )
    async with CallHarness(
        url,
        tmp_path / "data",
        model_config=config,
        business_profile=PROFILE,
        human_transfer_number=HUMAN,
    ) as h:
        async with h.caller(CallerConfig(from_number=CALLER)) as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await h.flush()
            await pg.stop()  # the database goes away before the caller asks for a person
            await caller.say_and_wait(600)
            [redirect] = await h.twilio.wait_for_requests(1, timeout=15)
            assert "/twilio/transfer/whisper" in redirect.form["Twiml"]
            await caller.hangup()  # Twilio moves the call off the stream
            status, ended = await h.post(caller, "/twilio/stream-ended", {})
            assert status == 200 and ended is not None and ended.verbs == ()
            # The person who picks up hears the summary this process remembers.
            status, whisper = await h.post(
                caller, f"/twilio/transfer/whisper?call={caller.call_sid}", {"CallSid": "CAkid"}
            )
            assert status == 200 and whisper is not None
            assert "Jane has a question about a bill." in whisper.xml
            assert "1 4 1 5 5 5 5 0 1 2 3" in whisper.xml
            # Nobody answers: the caller goes back to the agent, not to a 500.
            h.model.config.greeting = AudioReply("Sorry, nobody answered. A message?", 600)
            status, back = await h.post(
                caller,
                f"/twilio/transfer/done?call={caller.call_sid}",
                {"DialCallStatus": "no-answer"},
            )
            assert status == 200 and back is not None and back.stream_url is not None
            assert back.parameters.get("resume") == "transfer_failed"
            assert back.parameters.get("from") == CALLER
        async with h.caller(CallerConfig(call_sid=caller.call_sid, from_number=CALLER)) as again:
            await again.connect_stream(back)
            await again.wait_until_heard(600)
            await again.say_and_wait(600)
            await until_quiet(again)
            await again.hangup()
            status, _ = await h.post(again, "/twilio/status", {"CallStatus": "completed"})
            assert status == 204
            # A new call's webhook during the outage is still answered with a stream.
        async with h.caller() as other:
            twiml = await other.call()
            assert twiml.stream_url is not None
            await other.hangup()
        assert h.runtime.store.spool_size > 0  # what could not be written waits on disk
        await pg.start()
        await _drained(h)
        call = await h.fetch_one("SELECT * FROM calls WHERE call_sid = :s", s=caller.call_sid)
        messages = await h.fetch(
            "SELECT caller_name, message FROM messages WHERE call_sid = :s", s=caller.call_sid
        )
        outcome = await h.fetch_one(
            "SELECT outcome FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
        )
        tools = await h.fetch(
            "SELECT name, ok FROM tool_calls WHERE call_sid = :s ORDER BY id",
            s=caller.call_sid,
        )
        turns = await h.turns(caller.call_sid)
        dead_letters = h.runtime.store.dead_letter_size
    assert call is not None
    assert call["transfer_status"] == "failed" and call["transfer_reason"] == "billing question"
    assert call["transfer_requested_at"] is not None
    assert messages == [{"caller_name": "Jane", "message": "Call back about the bill."}]
    assert outcome is not None and outcome["outcome"] == "message_taken"
    assert tools == [
        {"name": "transfer_to_human", "ok": True},
        {"name": "take_message", "ok": True},
    ]
    said = [text for _, text, _ in turns]
    assert said[0] == "Hi, how can I help?" and "Done, they'll call you back. Goodbye!" in said
    assert dead_letters == 0  # every spooled row was written as it was, none refused
