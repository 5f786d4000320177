"""Nobody in who shouldn't be, and no secret or full phone number in any log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import websockets

from app.config import LogFormat
from app.logging import configure_logging
from tests.doubles.harness import AUTH_TOKEN, CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.twilio_caller.frames import CONNECTED_FRAME, start_frame

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
OPENAI_KEY = "sk-test-secret-9f8e7d6c5b4a"
BUSINESS_TOKEN = "biz-secret-0a1b2c3d4e5f"
CALLER = "+15551234567"


@pytest.fixture
async def harness(db_url: str, tmp_path: Path) -> AsyncIterator[CallHarness]:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["When do you open?"],
        replies=[AudioReply("At eight.", 400)],
    )
    async with CallHarness(
        db_url,
        tmp_path,
        model_config=config,
        business_profile=PROFILE,
        openai_api_key=OPENAI_KEY,
        business_api_token=BUSINESS_TOKEN,
        human_transfer_number="+15550009999",
    ) as h:
        yield h


@pytest.mark.parametrize(
    "path",
    [
        "/twilio/incoming",
        "/twilio/status",
        "/twilio/stream-ended",
        "/twilio/transfer/done?call=CA1",
        "/twilio/transfer/whisper?call=CA1",
    ],
)
async def test_every_twilio_route_requires_a_valid_signature(
    harness: CallHarness, path: str
) -> None:
    async with harness.caller() as caller:
        unsigned = await caller.post_webhook(path, sign=False)
        forged = await caller.post_webhook(path, signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        signed = await caller.post_webhook(path)
    assert unsigned.status_code == 403 and forged.status_code == 403
    assert signed.status_code in (200, 204)


async def test_a_replayed_stream_token_is_refused(harness: CallHarness) -> None:
    async with harness.caller() as caller:
        twiml = await caller.call()
        await caller.wait_for_audio(100)
        url = twiml.stream_url
        assert url is not None
        # A second stream presenting the same (already used) token.
        async with websockets.connect(
            url, additional_headers={"X-Twilio-Signature": caller.sign(url)}
        ) as replay:
            await replay.send(orjson.dumps(CONNECTED_FRAME).decode())
            token = {"token": twiml.parameters["token"]}
            start = orjson.dumps(start_frame(caller.call_sid, "MZx", "AC", token)).decode()
            await replay.send(start)
            await replay.wait_closed()
            assert replay.close_code == 1008
        await caller.hangup()


async def test_the_builtin_business_api_needs_its_token(harness: CallHarness) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=harness.base_url) as http:
        anonymous = await http.get("/business/hours")
        wrong = await http.get("/business/hours", headers={"Authorization": "Bearer nope"})
        right = await http.get(
            "/business/hours", headers={"Authorization": f"Bearer {BUSINESS_TOKEN}"}
        )
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)


async def test_no_secret_and_no_full_phone_number_in_any_log_line(
    harness: CallHarness, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", LogFormat.JSON)
    try:
        from tests.doubles.twilio_caller.config import CallerConfig

        async with harness.caller(CallerConfig(from_number=CALLER)) as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.hangup()
            await caller.post_webhook("/twilio/status", {"CallStatus": "completed"})
        await harness.wait_call_ended(caller.call_sid)
    finally:
        logging.getLogger().handlers.clear()
    out, err = capfd.readouterr()
    logs = out + err
    assert "call_ended" in logs and "***4567" in logs  # the lines are there, numbers masked
    for secret in (OPENAI_KEY, AUTH_TOKEN, BUSINESS_TOKEN, CALLER, CALLER[1:]):
        assert secret not in logs, secret
