"""Calls whose parts misbehave: a caller who hangs up mid-booking or the instant the agent
stops, a backend that fails, and a DEBUG log of it all that leaks no secret and no number."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.config import LogFormat
from app.logging import configure_logging
from tests.doubles.harness import AUTH_TOKEN, CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.server import serve_app
from tests.doubles.twilio_caller.config import CallerConfig

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")
CALLER = "+14155550123"
HUMAN = "+15550009999"
OPENAI_KEY = "sk-test-not-a-real-key"
BUSINESS_TOKEN = "biz-token-do-not-log-0123456789"


def _tomorrow_at_ten() -> datetime:
    day = (datetime.now(UTC).astimezone(NY) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=NY)


@pytest.fixture
async def backend() -> AsyncIterator[str]:
    """A business backend whose bookings take 1.5 s and answer a terse 201; its hours fail."""

    async def book(request: Request) -> Response:
        body = orjson.loads(await request.body())
        await asyncio.sleep(1.5)
        start = datetime.fromisoformat(body["start"])
        answer = {
            "id": "apt_slow_1",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "status": "booked",
        }
        return JSONResponse(answer, status_code=201)

    async def hours(request: Request) -> Response:
        return JSONResponse({"error": {"code": "internal", "message": "down"}}, 500)

    app = Starlette(routes=[Route("/appointments", book, methods=["POST"]), Route("/hours", hours)])
    async with serve_app(app) as server:
        yield server.http_url


async def test_a_booking_in_flight_when_the_caller_hangs_up_is_recorded_as_booked(
    db_url: str, tmp_path: Path, backend: str
) -> None:
    start = _tomorrow_at_ten()
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Book me the cleaning tomorrow at ten, I'm Jane Doe. Yes."],
        replies=[
            FunctionCallReply(
                "book_appointment",
                {
                    "service": "Cleaning",
                    "start": start.isoformat(),
                    "customer_name": "Jane Doe",
                    "caller_confirmed": True,
                },
            ),
            AudioReply("You're booked.", 500),
        ],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        business_profile=PROFILE,
        business_api_base=backend,
        tool_timeout_seconds=4,
    ) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await h.model.sessions[0].wait_for("input_audio_buffer.append", timeout=5)
            await asyncio.sleep(0.6)  # the booking is on its way to the backend
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        async with asyncio.timeout(10):
            while not await h.fetch(
                "SELECT 1 FROM tool_calls WHERE call_sid = :s", s=caller.call_sid
            ):
                await asyncio.sleep(0.1)
                await h.flush()
        tools = await h.fetch(
            "SELECT name, ok, result FROM tool_calls WHERE call_sid = :s", s=caller.call_sid
        )
        outcome = await h.fetch_one(
            "SELECT outcome, detail FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
        )
    [tool] = tools
    assert tool["name"] == "book_appointment" and tool["ok"] is True
    assert tool["result"]["appointment_id"] == "apt_slow_1"
    assert outcome is not None and outcome["outcome"] == "booked"
    assert outcome["detail"]["appointment_id"] == "apt_slow_1"


@pytest.mark.parametrize("attempt", range(3))
async def test_the_last_reply_is_stored_when_the_caller_hangs_up_the_instant_it_has_played(
    db_url: str, tmp_path: Path, attempt: int
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Are you open Saturday?", "Great, bye."],
        replies=[AudioReply("Yes, nine to one.", 600), AudioReply("Goodbye!", 400)],
    )
    async with CallHarness(db_url, tmp_path, model_config=config) as h:
        # Marks take 60 ms to come back, as over a real network: the stop overtakes the last.
        async with h.caller(CallerConfig(mark_delay_ms=60)) as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await asyncio.sleep(0.2)  # its marks are back: no barge-in
            await caller.say_and_wait(600)
            await caller.wait_until_heard(1000)
            await asyncio.sleep(0.2)
            await caller.say_and_wait(600)
            await caller.wait_until_heard(1400)
            await caller.hangup()  # no pause: the stop overtakes the last mark
        await h.wait_call_ended(caller.call_sid)
        turns = await h.turns(caller.call_sid)
    assert [(who, text) for who, text, _ in turns] == [
        ("agent", "Hi, how can I help?"),
        ("caller", "Are you open Saturday?"),
        ("agent", "Yes, nine to one."),
        ("caller", "Great, bye."),
        ("agent", "Goodbye!"),
    ]


async def test_a_debug_log_of_a_failing_tool_and_a_transfer_leaks_no_secret_or_number(
    db_url: str, tmp_path: Path, backend: str, capfd: pytest.CaptureFixture[str]
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["When are you open?", "Then put me through to someone."],
        replies=[
            FunctionCallReply("lookup_hours", {}),
            AudioReply("Sorry, I can't check the hours right now.", 500),
            FunctionCallReply(
                "transfer_to_human",
                {"reason": "hours", "summary": f"Caller at {CALLER} wants the hours."},
            ),
            AudioReply("Connecting you now.", 400),
        ],
    )
    configure_logging("DEBUG", LogFormat.JSON)
    try:
        async with CallHarness(
            db_url,
            tmp_path,
            model_config=config,
            business_profile=PROFILE,
            business_api_base=backend,
            business_api_token=BUSINESS_TOKEN,
            human_transfer_number=HUMAN,
        ) as h:
            async with h.caller(CallerConfig(from_number=CALLER)) as caller:
                await caller.call()
                await caller.wait_until_heard(400)
                await caller.say_and_wait(600)
                await until_quiet(caller)
                await caller.say_and_wait(600)
                await h.twilio.wait_for_requests(1, timeout=10)
                await caller.hangup()
                status, _ = await h.post(
                    caller, f"/twilio/transfer/whisper?call={caller.call_sid}", {"CallSid": "CAk"}
                )
                assert status == 200
            await h.flush()
            tools = await h.fetch(
                "SELECT name, ok FROM tool_calls WHERE call_sid = :s ORDER BY id",
                s=caller.call_sid,
            )
    finally:
        logging.getLogger().handlers.clear()
    out, err = capfd.readouterr()
    logs = out + err
    assert tools == [
        {"name": "lookup_hours", "ok": False},
        {"name": "transfer_to_human", "ok": True},
    ]
    assert "transfer_started" in logs and "***0123" in logs  # the lines are there, masked
    for secret in (OPENAI_KEY, AUTH_TOKEN, BUSINESS_TOKEN, CALLER, CALLER[1:], HUMAN[1:]):
        assert secret not in logs, secret
    assert "(415) 555" not in logs and "415-555-0123" not in logs
