"""Function calls in a live call: availability then booking, rows written, barge-in during a tool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.server import serve_app

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")


def tomorrow_at(hour: int) -> datetime:
    day = (datetime.now(UTC).astimezone(NY) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=NY)


async def test_availability_then_booking_writes_tool_calls_appointment_and_outcome(
    db_url: str, tmp_path: Path
) -> None:
    start = tomorrow_at(10)
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Can I get a cleaning tomorrow at ten?", "Yes please, I'm Jane Doe."],
        replies=[
            FunctionCallReply(
                "check_availability",
                {"service": "Cleaning", "date": start.date().isoformat()},
                preamble="Let me check.",
            ),
            AudioReply("Ten is free. Shall I book a cleaning at ten for you?", 800),
            FunctionCallReply(
                "book_appointment",
                {
                    "service": "Cleaning",
                    "start": start.isoformat(),
                    "customer_name": "Jane Doe",
                    "caller_confirmed": True,
                },
            ),
            AudioReply("You're booked for a cleaning tomorrow at ten. See you then!", 900),
        ],
    )
    async with CallHarness(db_url, tmp_path, model_config=config, business_profile=PROFILE) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        assert h.model.violations == []
        tools = await h.fetch(
            "SELECT name, ok, arguments, result FROM tool_calls WHERE call_sid = :s ORDER BY id",
            s=caller.call_sid,
        )
        appointments = await h.fetch(
            "SELECT id, service, customer_name, customer_phone, starts_at FROM appointments"
        )
        outcome = await h.fetch_one(
            "SELECT * FROM call_outcomes WHERE call_sid = :s", s=caller.call_sid
        )
        turns = [t[1] for t in await h.turns(caller.call_sid)]
    assert [(t["name"], t["ok"]) for t in tools] == [
        ("check_availability", True),
        ("book_appointment", True),
    ]
    assert tools[1]["arguments"]["customer_name"] == "Jane Doe"
    assert len(appointments) == 1
    appointment = appointments[0]
    assert appointment["starts_at"] == start
    assert appointment["customer_phone"] == "+15551230000"  # the caller's number by default
    assert outcome is not None and outcome["outcome"] == "booked"
    assert outcome["detail"]["appointment_id"] == appointment["id"]
    assert turns[-1] == "You're booked for a cleaning tomorrow at ten. See you then!"


@pytest.fixture
async def slow_backend() -> AsyncIterator[str]:
    """A business backend that takes 3 s to answer availability."""

    async def availability(request: Request) -> JSONResponse:
        await asyncio.sleep(3.0)
        day = request.query_params["date"]
        return JSONResponse(
            {
                "date": day,
                "service": "Cleaning",
                "timezone": "America/New_York",
                "slots": [{"start": f"{day}T10:00:00-05:00", "end": f"{day}T11:00:00-05:00"}],
            }
        )

    app = Starlette(routes=[Route("/availability", availability)])
    async with serve_app(app) as server:
        yield server.http_url


async def test_slow_tool_is_covered_by_a_hold_cue_and_barge_in_still_works(
    db_url: str, tmp_path: Path, slow_backend: str
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Any cleaning slots tomorrow?", "Hello?", "Okay."],
        replies=[
            FunctionCallReply(
                "check_availability",
                {"service": "Cleaning", "date": tomorrow_at(9).date().isoformat()},
            ),
            AudioReply("Sorry, I'm still checking, one moment please, nearly there.", 2500),
            AudioReply("There is a slot at ten.", 600),
        ],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        business_profile=PROFILE,
        business_api_base=slow_backend,
        tool_timeout_seconds=5,
    ) as h:
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            session = h.model.sessions[0]
            await asyncio.sleep(1.6)
            # Over a second into the tool: the caller hears the hold cue, not dead air.
            assert caller.received_audio_ms > 400
            await caller.say_and_wait(600)  # "Hello?" -> the agent answers while the tool runs
            heard = caller.played_audio_ms
            await caller.wait_until_heard(heard + 400)
            caller.say(600)  # ... and the caller talks over it
            await caller.wait_for_event("clear", timeout=5)
            truncate = await session.wait_for("conversation.item.truncate", timeout=5)
            output = await session.wait_for("conversation.item.create", timeout=5)
            await until_quiet(caller)
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        assert h.model.violations == []
        tools = await h.fetch(
            "SELECT name, ok, duration_ms FROM tool_calls WHERE call_sid = :s", s=caller.call_sid
        )
    assert truncate["audio_end_ms"] >= 400
    assert output["item"]["type"] == "function_call_output"
    assert session.cancels == 1
    assert tools[0]["name"] == "check_availability" and tools[0]["ok"] is True
    assert tools[0]["duration_ms"] >= 2900
