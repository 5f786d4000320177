"""Two real `receptionist serve` Machines on one Postgres behind Fly's proxy (the double), which
balances adversarially: the webhook to Machine A, every other request alternating B, A, B, ...

Every request of a call must reach the Machine that holds it (fly-replay), or, when that Machine
is gone, be served correctly where it landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, upgrade
from app.staff.accounts import add_account
from tests.conftest import create_database
from tests.doubles.fleet import FleetOfMachines
from tests.doubles.fly_proxy import adversarial
from tests.doubles.harness import ACCOUNT_SID, AUTH_TOKEN
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_caller.config import CallerConfig
from tests.doubles.twilio_caller.twiml import parse_twiml
from tests.signin import cookie_header, csrf_of, sign_in

# What opening a Realtime session costs before it can speak (TLS, session.update); the fake
# model is otherwise instant, which would hide a cold start.
CONNECT_DELAY_MS = 300
GREETING = AudioReply("Hi, thanks for calling. This call is recorded. How can I help?", 600)
pytestmark = pytest.mark.timeout(180)


class World:
    def __init__(self, fleet: FleetOfMachines, model: FakeRealtimeServer, twilio: FakeTwilioAPI):
        self.fleet, self.model, self.twilio = fleet, model, twilio
        self.a, self.b = fleet.ids

    async def row(self, call_sid: str) -> dict[str, Any]:
        dsn = self.fleet.database_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            row = await conn.fetchrow("SELECT * FROM calls WHERE call_sid = $1", call_sid)
        finally:
            await conn.close()
        return dict(row) if row is not None else {}

    def reset(self, config: FakeRealtimeConfig) -> None:
        """A new call: a fresh model script, and the proxy's adversarial turn from the start."""
        self.model.config = config
        self.model.sessions.clear()
        self.fleet.proxy.balance = adversarial()
        self.fleet.proxy.stats.hops.clear()


async def _fleet_db(postgres: EmbeddedPostgres) -> str:
    url = await create_database(postgres, "fleet")
    await upgrade(url)
    return url


@pytest.fixture(scope="module")
async def world(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with (
        FakeRealtimeServer(FakeRealtimeConfig(connect_delay_ms=CONNECT_DELAY_MS)) as model,
        FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio,
        FleetOfMachines(
            await _fleet_db(postgres),
            tmp_path_factory.mktemp("fleet"),
            realtime_url=model.url,
            twilio_api_base=twilio.base_url,
        ) as fleet,
    ):
        yield World(fleet, model, twilio)
        assert model.violations == []
        assert fleet.proxy.stats.loops == 0 and fleet.proxy.stats.unroutable == 0


def _config(**kwargs: Any) -> FakeRealtimeConfig:
    return FakeRealtimeConfig(connect_delay_ms=CONNECT_DELAY_MS, greeting=GREETING, **kwargs)


async def test_a_call_greets_as_fast_as_on_one_machine_with_one_session_and_the_disclosure(
    world: World,
) -> None:
    world.reset(_config())
    fleet = world.fleet
    async with fleet.caller(CallerConfig(from_state="CA")) as caller:
        twiml = await caller.dial()
        assert twiml.stream_url == f"{fleet.url.replace('http', 'ws')}/m/{world.a}/twilio/stream"
        assert twiml.connect_action == f"{fleet.url}/m/{world.a}/twilio/stream-ended"
        await caller.connect_stream(twiml)
        greeting_s = await caller.wait_for_audio(1, timeout=5)
        await caller.wait_until_heard(600)
        await caller.hangup()
        status, after = await _post(caller, twiml.connect_action or "", {})
    assert caller.protocol_errors == []
    # The stream landed on B and was replayed to A, where the greeting was already waiting.
    stream_hops = [h for h in fleet.proxy.hops if h.kind == "websocket"]
    assert [(h.landed, h.replayed_to) for h in stream_hops] == [(world.b, world.a)]
    # The greeting was waiting on A: no session was cold-started (which would cost the model's
    # connect delay). The time itself is measured by `make bench ARGS="--scenario two-machines"`,
    # not asserted here, where a loaded machine would make it flake.
    assert greeting_s > 0
    assert len(world.model.sessions) == 1  # exactly one model session for the call
    instructions = (world.model.sessions[0].session_config or {}).get("instructions", "")
    assert "this call is recorded" in instructions
    assert fleet.events(world.b, "model_session_cold_start") == 0
    assert status == 200 and after is not None and "Hangup" in after
    await asyncio.sleep(0.5)
    row = await world.row(caller.call_sid)
    assert row["machine_id"] == world.a and row["recording_disclosed"] is True


async def test_a_status_callback_on_the_other_machine_closes_the_preopened_session(
    world: World,
) -> None:
    world.reset(_config())
    async with world.fleet.caller() as caller:
        await caller.dial()  # the caller hangs up during the greeting: no stream ever comes
        [session] = await world.model.wait_for_sessions(1, timeout=5)
        await asyncio.sleep(0.5)  # a caller hangs up after a ring at least
        status, _ = await _post(caller, "/twilio/status", {"CallStatus": "completed"})
        posted = asyncio.get_running_loop().time()
        assert status == 204
        await asyncio.wait_for(session.closed.wait(), 2.0)
        closed_after = asyncio.get_running_loop().time() - posted
    hops = [h for h in world.fleet.proxy.hops if h.path == "/twilio/status"]
    assert [(h.landed, h.replayed_to) for h in hops] == [(world.b, world.a)]
    assert closed_after < 2.0
    await asyncio.sleep(0.5)
    row = await world.row(caller.call_sid)
    assert row["end_reason"] == "caller_hangup" and row["ended_at"] is not None


async def test_a_recording_callback_that_lands_on_the_other_machine_is_handled(
    world: World,
) -> None:
    """Twilio posts a recording's status to the call-scoped URL of the Machine that started it;
    landing elsewhere, it is replayed there and written (app/recording/callbacks.py)."""
    world.reset(_config())
    sid = "RE" + "5" * 32
    async with world.fleet.caller() as caller:
        await caller.dial()
        form = {
            "RecordingSid": sid,
            "RecordingStatus": "completed",
            "RecordingDuration": "61",
            "RecordingChannels": "2",
        }
        url = f"{world.fleet.url}/m/{world.a}/twilio/recording-status"
        status, _ = await _post(caller, url, form)
        assert status == 204
        await _post(caller, "/twilio/status", {"CallStatus": "completed"})
    hops = [h for h in world.fleet.proxy.hops if h.path.endswith("/recording-status")]
    assert [(h.landed, h.replayed_to) for h in hops] == [(world.b, world.a)]
    await asyncio.sleep(0.5)
    dsn = world.fleet.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM recordings WHERE sid = $1", sid)
    finally:
        await conn.close()
    assert row is not None and row["call_sid"] == caller.call_sid
    assert row["status"] == "completed" and row["duration_seconds"] == 61
    assert world.fleet.events(world.a, "recording_status") == 1


async def test_an_unanswered_transfer_comes_back_to_the_agent_on_the_machine_holding_the_call(
    world: World,
) -> None:
    world.reset(
        _config(
            caller_transcripts=["Put me through to Dr. Okafor please."],
            replies=[
                FunctionCallReply(
                    "transfer_to_human", {"reason": "wants the dentist", "summary": "Jane."}
                ),
                AudioReply("Connecting you now.", 400),
            ],
        )
    )
    fleet, a = world.fleet, world.a
    async with fleet.caller(CallerConfig(from_state="CA")) as caller:
        await caller.call()
        await caller.wait_until_heard(600)
        await caller.say_and_wait(600)
        [redirect] = await world.twilio.wait_for_requests(1, timeout=10)
        twiml = redirect.form["Twiml"]
        done = f"{fleet.url}/m/{a}/twilio/transfer/done?call={caller.call_sid}&disclose=1"
        whisper = f"{fleet.url}/m/{a}/twilio/transfer/whisper?call={caller.call_sid}"
        assert f'action="{done.replace("&", "&amp;")}"' in twiml
        assert f'url="{whisper}"' in twiml
        await caller.hangup()  # Twilio ends the stream when the call is redirected
        world.model.config.greeting = AudioReply("Sorry, nobody answered. A message?", 600)
        status, said = await _post(caller, whisper, {"CallSid": "CAchild"})
        assert status == 200 and "Jane." in (said or "")
        status, back = await _post(caller, done, {"DialCallStatus": "no-answer"})
        assert status == 200 and back is not None
    again_twiml = parse_twiml(back)
    assert again_twiml.stream_url is not None and f"/m/{a}/" in again_twiml.stream_url
    async with fleet.caller(CallerConfig(call_sid=caller.call_sid, from_state="CA")) as again:
        await again.connect_stream(again_twiml)
        await again.wait_until_heard(600)
        await again.hangup()
    # The <Dial action> landed on B and was replayed to A; so was something of every leg.
    done_hops = [h for h in fleet.proxy.hops if h.path.endswith("/transfer/done")]
    assert [(h.landed, h.replayed_to) for h in done_hops] == [(world.b, a)]
    sessions = world.model.sessions
    assert len(sessions) == 2  # one model session per call leg
    second = sessions[1]
    assert "this call is recorded" in (second.session_config or {}).get("instructions", "")
    seeded = [
        c.get("text")
        for e in second.received
        if e["type"] == "conversation.item.create"
        for c in e["item"].get("content", [])
    ]
    assert "Put me through to Dr. Okafor please." in seeded
    assert fleet.events(world.b, "model_session_cold_start") == 0
    assert fleet.events(a, "model_session_cold_start") == 0


async def _post(caller: Any, url: str, params: dict[str, str]) -> tuple[int, str | None]:
    response = await caller.post_webhook(url, params)
    return response.status_code, response.text if response.status_code == 200 else None


async def test_a_stream_whose_machine_is_gone_is_served_where_it_lands(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with (
        FakeRealtimeServer(_config()) as model,
        FleetOfMachines(await _fleet_db(postgres), tmp_path, realtime_url=model.url) as fleet,
    ):
        a, b = fleet.ids
        async with fleet.caller(CallerConfig(from_state="CA")) as caller:
            twiml = await caller.dial()  # answered by A, which is then replaced
            fleet.stop(a)
            await caller.connect_stream(twiml)
            await caller.wait_until_heard(600, timeout=10)  # the agent still speaks first
            await caller.hangup()
            status, after = await _post(caller, twiml.connect_action or "", {})
        assert caller.protocol_errors == []
        assert status == 200 and after is not None and "Hangup" in after
        assert fleet.proxy.replays == [] and fleet.proxy.stats.unroutable == 0
        assert fleet.events(b, "call_machine_gone") >= 1
        assert fleet.events(b, "model_session_cold_start") == 1
        cold = model.sessions[-1]
        # Told the same as the session A had opened: the decision came in the stream token.
        assert "this call is recorded" in (cold.session_config or {}).get("instructions", "")
        await asyncio.sleep(0.5)
        dsn = fleet.database_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            disclosed = await conn.fetchval(
                "SELECT recording_disclosed FROM calls WHERE call_sid = $1", caller.call_sid
            )
        finally:
            await conn.close()
        assert disclosed is True


async def test_a_call_whose_machine_dies_mid_call_comes_back_to_the_agent_with_its_history(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    config = _config(
        caller_transcripts=["I'd like to move my appointment."],
        replies=[AudioReply("Sure, which day suits you?", 600)],
    )
    async with (
        FakeRealtimeServer(config) as model,
        FleetOfMachines(await _fleet_db(postgres), tmp_path, realtime_url=model.url) as fleet,
    ):
        a, b = fleet.ids
        async with fleet.caller(CallerConfig(from_state="CA")) as caller:
            twiml = await caller.call()  # webhook and stream on A (the stream replayed there)
            await caller.wait_until_heard(600, timeout=10)
            await caller.say_and_wait(600)
            await caller.wait_until_heard(1200, timeout=10)
            await asyncio.sleep(0.5)  # A has written the turns
            fleet.stop(a)  # A dies mid-call; Twilio asks the <Connect action> what comes next
            await caller.wait_closed(timeout=10)
            status, after = await _post(caller, twiml.connect_action or "", {})
        assert status == 200 and after is not None
        back = parse_twiml(after)
        assert back.stream_url is not None and f"/m/{b}/twilio/stream" in back.stream_url
        assert back.parameters.get("resume") == "line_dropped"
        async with fleet.caller(CallerConfig(call_sid=caller.call_sid, from_state="CA")) as again:
            await again.connect_stream(back)
            await again.wait_until_heard(300, timeout=10)  # the agent speaks first, on B
            await again.hangup()
        assert again.protocol_errors == []
        resumed = model.sessions[-1]
        instructions = (resumed.session_config or {}).get("instructions", "")
        assert "this call is recorded" in instructions  # the same disclosure as on A
        seeded = [
            item["item"]
            for item in resumed.received
            if item.get("type") == "conversation.item.create"
        ]
        said = orjson.dumps(seeded).decode()
        assert "I'd like to move my appointment." in said and "line dropped" in said
        assert fleet.events(b, "model_session_cold_start") == 0  # B pre-opened it


async def test_a_dev_phone_call_stays_on_the_machine_that_placed_it(world: World) -> None:
    """The page pins its stream and transfer result to the placing Machine (`?machine=`)."""
    world.reset(_config())
    fleet, a, b = world.fleet, world.a, world.b
    engine = make_engine(fleet.database_url, pool_size=1)
    try:
        await add_account(engine, "owner@example.com", "correct horse battery")
    finally:
        await engine.dispose()
    # The call is placed on A; everything else of the call lands on B first.
    fleet.proxy.balance = lambda path, running: a if path == "/staff/phone/calls" else b
    async with httpx.AsyncClient(base_url=fleet.url) as http:
        assert (await sign_in(http, "owner@example.com", "correct horse battery")).is_redirect
        csrf = csrf_of((await http.get("/staff/phone")).text)
        placed = (await http.post("/staff/phone/calls", data={"csrf_token": csrf})).json()
        assert placed["machine"] == a
        pinned = f"?machine={a}"
        async with connect(
            f"{fleet.url.replace('http', 'ws')}/staff/phone/stream{pinned}",
            origin=fleet.url,  # type: ignore[arg-type]
            additional_headers=cookie_header(http),
        ) as ws:
            stream_sid = "MZ" + "2" * 32
            await ws.send(orjson.dumps({"event": "connected", "protocol": "Call"}).decode())
            start = {
                "callSid": placed["call_sid"],
                "streamSid": stream_sid,
                "customParameters": {"token": placed["token"]},
            }
            await ws.send(
                orjson.dumps(
                    {
                        "event": "start",
                        "sequenceNumber": "1",
                        "streamSid": stream_sid,
                        "start": start,
                    }
                ).decode()
            )
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["event"] == "media" and first["streamSid"] == stream_sid
            await ws.send(orjson.dumps({"event": "stop", "streamSid": stream_sid}).decode())
        dial = await http.post(
            f"/staff/phone/calls/{placed['call_sid']}/dial{pinned}",
            data={"csrf_token": csrf, "status": "no-answer"},
        )
        assert dial.status_code == 409  # A knows the call, and that no transfer is ringing
    hops = [h for h in fleet.proxy.hops if h.path.startswith("/staff/phone/")]
    assert [(h.path.split("?")[0], h.landed, h.replayed_to) for h in hops] == [
        ("/staff/phone/calls", a, None),
        ("/staff/phone/stream", b, a),
        (f"/staff/phone/calls/{placed['call_sid']}/dial", b, a),
    ]
    assert len(world.model.sessions) == 1  # the greeting waiting on A was the one played
    assert fleet.events(b, "model_session_cold_start") == 0
    await asyncio.sleep(0.5)
    row = await world.row(placed["call_sid"])
    assert row["channel"] == "dev_phone" and row["machine_id"] == a
