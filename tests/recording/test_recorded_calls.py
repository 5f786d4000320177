"""Recorded phone calls end to end (CALL_RECORDING=on): consent first, dual channel, through a
warm transfer, status callbacks, refusals that never disturb the call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.doubles.harness import AUTH_TOKEN, CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.twilio_caller.config import CallerConfig

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
HUMAN = "+15550009999"
GREETING = "Thanks for calling. Just so you know, this call is recorded and I'm an AI assistant."
GREETING_MS = 900
Factory = Callable[..., Any]


@pytest.fixture
async def make_harness(db_url: str, tmp_path: Path) -> AsyncIterator[Factory]:
    harnesses: list[CallHarness] = []

    async def make(config: FakeRealtimeConfig, **settings: Any) -> CallHarness:
        values: dict[str, Any] = {
            "business_profile": PROFILE,
            "human_transfer_number": HUMAN,
            "call_recording": True,
            **settings,
        }
        h = CallHarness(db_url, tmp_path, model_config=config, **values)
        harnesses.append(await h.__aenter__())
        return h

    yield make
    for h in harnesses:
        violations = list(h.model.violations)
        problems = h.twilio.problems + h.twilio.recordings.problems
        await h.__aexit__(None, None, None)
        assert violations == []
        assert problems == []


def _creates(h: CallHarness) -> list[Any]:
    return [r for r in h.twilio.requests if r.path.endswith("/Recordings.json")]


async def test_a_ca_caller_hears_the_disclosure_before_the_recording_starts_and_through_a_transfer(
    make_harness: Factory,
) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply(GREETING, GREETING_MS),
            caller_transcripts=["Can I talk to someone about my bill?"],
            replies=[
                FunctionCallReply(
                    "transfer_to_human", {"reason": "billing", "summary": "Jane, a bill."}
                ),
                AudioReply("Connecting you now.", 400),
            ],
        )
    )
    heard_at_start: list[float] = []
    h.twilio.recordings.on_create = lambda: heard_at_start.append(caller.played_audio_ms)
    async with h.caller(CallerConfig(from_state="CA")) as caller:
        await caller.call()
        [session] = await h.model.wait_for_sessions(1)
        await caller.wait_until_heard(GREETING_MS)
        await h.twilio.wait_for_requests(1, timeout=5)
        # Consent before tape: the whole greeting, disclosure included, had been played.
        assert heard_at_start and heard_at_start[0] >= GREETING_MS
        [create] = _creates(h)
        assert create.auth_ok and create.call_sid == caller.call_sid
        assert create.form["RecordingChannels"] == "dual"
        assert create.form["RecordingTrack"] == "both"
        assert create.form["Trim"] == "do-not-trim"
        assert create.form["RecordingStatusCallback"] == f"{h.base_url}/twilio/recording-status"
        assert set(create.form["RecordingStatusCallbackEvent"].split()) == {
            "in-progress",
            "completed",
            "absent",
        }
        await caller.say_and_wait(600)
        redirect = await _wait_for_redirect(h)
        assert "<Dial" in redirect.form["Twiml"]
        await caller.hangup()  # Twilio ends the stream when the call moves to the <Dial>
        # The person who answers hears that the call is recorded.
        status, whisper = await h.post(
            caller, f"/twilio/transfer/whisper?call={caller.call_sid}", {"CallSid": "CAchild"}
        )
        assert status == 200 and whisper is not None and "This call is recorded." in whisper.xml
        # The recording is the caller's call's: it goes on through the transfer, one recording.
        [recording] = h.twilio.recordings.of_call(caller.call_sid)
        assert recording.status == "in-progress" and recording.channels == 2
        await h.post(
            caller, f"/twilio/transfer/done?call={caller.call_sid}", {"DialCallStatus": "completed"}
        )
        await h.twilio.recordings.end_call(caller.call_sid, after=75)
    instructions = session.session_config["instructions"] if session.session_config else ""
    assert "this call is recorded" in instructions
    assert [c[1]["RecordingStatus"] for c in h.twilio.recordings.callbacks] == [
        "in-progress",
        "completed",
    ]
    assert all(c[2] == 204 for c in h.twilio.recordings.callbacks)
    await h.flush()
    [row] = await h.fetch("SELECT * FROM recordings WHERE call_sid = :s", s=caller.call_sid)
    assert row["sid"] == recording.sid and row["status"] == "completed"
    assert row["channels"] == 2 and row["duration_seconds"] == 75
    assert str(row["cost_usd"]) == "0.0050"  # two minutes, rounded up, at $0.0025
    # The start sits on the transcript's clock after the greeting was heard.
    [greeting] = await h.fetch(
        "SELECT offset_ms FROM transcript_turns WHERE call_sid = :s AND seq = 0",
        s=caller.call_sid,
    )
    assert row["start_offset_ms"] >= greeting["offset_ms"] + GREETING_MS - 100


async def _wait_for_redirect(h: CallHarness) -> Any:
    for _ in range(100):
        redirects = [r for r in h.twilio.requests if "Twiml" in r.form]
        if redirects:
            return redirects[0]
        await h.twilio.wait_for_requests(len(h.twilio.requests) + 1, timeout=10)
    raise AssertionError("no transfer")


async def test_a_refused_recording_never_disturbs_the_call(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply(GREETING, 600),
            replies=[AudioReply("Sure, we open at nine tomorrow.", 700)],
        )
    )
    h.twilio.recordings.mode = "refuse"
    async with h.caller(CallerConfig(from_state="TX")) as caller:
        await caller.call()
        await caller.wait_until_heard(600)
        await h.twilio.wait_for_requests(1, timeout=5)
        await caller.say_and_wait(600)
        await caller.wait_until_heard(600 + 700)  # the agent carried on
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    [row] = await h.fetch("SELECT * FROM recordings WHERE call_sid = :s", s=caller.call_sid)
    assert row["status"] == "failed" and row["error_code"] == 21220 and row["sid"] is None
    turns = [t[1] for t in await h.turns(caller.call_sid)]
    assert "Sure, we open at nine tomorrow." in turns


async def test_without_the_disclosure_heard_nothing_is_recorded(make_harness: Factory) -> None:
    """The caller hangs up during the greeting: the disclosure never reached them."""
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(greeting=AudioReply("Hello! " + GREETING, 3000))
    )
    async with h.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(500)
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    assert _creates(h) == []


async def test_status_callbacks_are_signed_and_reach_any_machine(make_harness: Factory) -> None:
    h: CallHarness = await make_harness(FakeRealtimeConfig())
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": "RE" + "2" * 32,
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingChannels": "2",
    }
    async with httpx.AsyncClient(base_url=h.base_url) as http:
        forged = await http.post(
            "/twilio/recording-status", data=form, headers={"X-Twilio-Signature": "forged"}
        )
        assert forged.status_code == 403
        # A callback for a call held by a Machine that is gone is handled where it lands.
        url = f"{h.base_url}/m/0123abcd/twilio/recording-status"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        answered = await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert answered.status_code == 204
    await h.flush()
    [row] = await h.fetch("SELECT * FROM recordings WHERE sid = :s", s=form["RecordingSid"])
    assert row["status"] == "completed" and row["duration_seconds"] == 12


async def test_a_greeting_without_the_disclosure_gets_it_said_before_anything_is_recorded(
    make_harness: Factory,
) -> None:
    h: CallHarness = await make_harness(
        FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            replies=[AudioReply("Just so you know, this call is recorded. We open at nine.", 800)],
        )
    )
    async with h.caller() as caller:
        await caller.call()
        session = (await h.model.wait_for_sessions(1))[0]
        await caller.wait_until_heard(400)
        await session.wait_for("conversation.item.create", count=1)
        assert _creates(h) == []  # the greeting said nothing of recording: nothing started
        await caller.say_and_wait(600)
        await caller.wait_until_heard(400 + 800)
        await h.twilio.wait_for_requests(1, timeout=5)
        await caller.hangup()
    notes = [
        c.get("text", "")
        for e in session.received
        if e["type"] == "conversation.item.create"
        for c in e["item"].get("content", [])
    ]
    assert any("has not heard yet that this call is recorded" in n for n in notes)
    assert len(_creates(h)) == 1
