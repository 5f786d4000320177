"""The fake Realtime API's sessions: config, client-event checks, handshake, faults, lifecycle.

The official `openai` client is the peer (tests/test_doubles/realtime_peers.py).
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from openai.types.realtime import RealtimeErrorEvent, SessionCreatedEvent, SessionUpdatedEvent
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.test_doubles.realtime_peers import (
    MODEL,
    SESSION,
    fake,
    greet,
    of_type,
    raw,
    raw_until,
    recv,
    sdk,
    until,
)

# ------------------------------------------------------------------------- session


async def test_session_created_and_updated_parse_as_sdk_types_and_echo_the_merged_config() -> None:
    async with fake() as server, sdk(server, update=False) as conn:
        created = await recv(conn)
        assert isinstance(created, SessionCreatedEvent)
        assert created.session.type == "realtime"
        await conn.session.update(session=SESSION)  # type: ignore[arg-type]
        updated = await recv(conn)
        assert isinstance(updated, SessionUpdatedEvent)
        session = updated.session
        assert session.type == "realtime"
        assert session.audio is not None and session.audio.input is not None
        assert session.audio.output is not None
        # pcm -> pcmu replaces the format object (a merged "rate" would fail self_check).
        assert session.audio.input.format is not None
        assert session.audio.input.format.type == "audio/pcmu"
        assert session.audio.output.voice == "marin"
        assert session.instructions == SESSION["instructions"]
        fake_session = (await server.wait_for_sessions(1))[0]
        assert fake_session.session_config == SESSION
        assert fake_session.model == MODEL
        assert fake_session.headers["authorization"] == "Bearer sk-test"
        assert not fake_session.offered_compression
    assert server.violations == []


async def test_session_update_changing_the_model_is_rejected() -> None:
    async with fake() as server, sdk(server) as conn:
        await conn.session.update(session={"type": "realtime", "model": "gpt-realtime-mini"})
        error = await recv(conn)
        assert isinstance(error, RealtimeErrorEvent)
    assert any("model" in v for v in server.violations)


# ------------------------------------------------------------------------- validation


async def test_invalid_client_events_are_recorded_and_answered_with_an_error() -> None:
    async with fake() as server, raw(server) as ws:
        await raw_until(ws, "session.created")
        beta = {
            "type": "session.update",
            "session": {"modalities": ["audio", "text"], "input_audio_format": "g711_ulaw"},
        }
        await ws.send(orjson.dumps(beta).decode())
        error = (await raw_until(ws, "error"))[-1]
        assert error["error"]["type"] == "invalid_request_error"
        extra = {
            "type": "response.create",
            "event_id": "evt_1",
            "response": {"instructions": "x", "modalities": ["audio"]},
        }
        await ws.send(orjson.dumps(extra).decode())
        error = (await raw_until(ws, "error"))[-1]
        assert error["error"]["code"] == "unknown_parameter"
        assert error["error"]["event_id"] == "evt_1"
        await ws.send('{"type": "response.audio.delta", "delta": ""}')
        await raw_until(ws, "error")
        await ws.send("{not json")
        await raw_until(ws, "error")
        session = server.sessions[0]
        assert session.responses_started == 0  # rejected events are not acted on
    assert any("session.update" in v for v in server.violations)
    assert any("response.modalities: unknown key" in v for v in server.violations)
    assert any("response.audio.delta" in v for v in server.violations)
    assert any("invalid JSON" in v for v in server.violations)
    assert all(v.startswith("[session 0] ") for v in server.violations)


async def test_validate_false_skips_schema_checks_but_still_records_unknown_types() -> None:
    server = FakeRealtimeServer(FakeRealtimeConfig(pace=0), validate=False)
    async with server, raw(server) as ws:
        await raw_until(ws, "session.created")
        await ws.send('{"type": "input_audio_buffer.append", "audio": "", "extra": 1}')
        await ws.send('{"type": "response.create", "response": {"modalities": ["audio"]}}')
        await raw_until(ws, "response.done")
        await ws.send('{"type": "nonsense"}')
        await raw_until(ws, "error")
    assert len(server.violations) == 1
    assert "nonsense" in server.violations[0]


async def test_self_check_flags_an_invalid_event_the_fake_is_told_to_emit() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await session.send_event({"type": "response.audio.delta", "delta": ""})  # beta name
        await recv(conn)
    assert any("fake emitted an invalid server event" in v for v in server.violations)


# ------------------------------------------------------------------------- handshake, faults


async def test_missing_auth_and_a_beta_header_are_handshake_violations() -> None:
    async with fake() as server, raw(server, headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        await raw_until(ws, "session.created")
    assert len(server.violations) == 2
    assert any("Authorization" in v for v in server.violations)
    assert any("OpenAI-Beta" in v for v in server.violations)


async def test_missing_model_query_parameter_is_a_violation() -> None:
    async with fake() as server, raw(server, query="") as ws:
        await raw_until(ws, "session.created")
    assert server.sessions[0].model is None
    assert any("model" in v for v in server.violations)


async def test_wrong_path_is_refused_with_404_and_recorded() -> None:
    async with fake() as server:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{server.port}/v1/realtimes?model={MODEL}"):
                pass
        assert refused.value.response.status_code == 404
    assert server.sessions == []
    assert any("wrong path" in v for v in server.violations)


async def test_connect_delay_delays_the_handshake() -> None:
    async with fake(FakeRealtimeConfig(connect_delay_ms=200)) as server:
        started = time.monotonic()
        async with raw(server):
            assert time.monotonic() - started >= 0.18
    assert server.violations == []


async def test_error_on_connect_is_sent_right_after_session_created() -> None:
    error = {"type": "invalid_request_error", "code": "session_expired", "message": "expired"}
    config = FakeRealtimeConfig(error_on_connect=error)
    async with fake(config) as server, sdk(server, update=False) as conn:
        assert (await recv(conn)).type == "session.created"
        event = await recv(conn)
        assert isinstance(event, RealtimeErrorEvent)
        assert event.error.code == "session_expired"
    assert server.violations == []


async def test_session_max_ms_expires_the_session_with_the_real_apis_error_then_closes() -> None:
    config = FakeRealtimeConfig(pace=0, session_max_ms=100)
    async with fake(config) as server, raw(server) as ws:
        events = await raw_until(ws, "error")
        assert events[-1]["error"]["code"] == "session_expired"
        await asyncio.wait_for(ws.wait_closed(), 2)
        session = server.sessions[0]
        await session.wait_closed()
        assert not session.closed_by_client
    assert server.violations == []


async def test_rate_limits_can_be_switched_off() -> None:
    config = FakeRealtimeConfig(pace=0, rate_limits_events=False)
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        events = await until(conn, "response.done")
    assert of_type(events, "rate_limits.updated") == []
    assert "rate_limits.updated" not in server.sessions[0].sent_types


async def test_kill_drops_the_clients_socket_without_a_close_frame() -> None:
    async with fake() as server, raw(server) as ws:
        await raw_until(ws, "session.created")
        session = (await server.wait_for_sessions(1))[0]
        await session.kill()
        with pytest.raises(ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 2)
        assert closed.value.rcvd is None  # abrupt: no close frame
        assert session.closed.is_set()
        assert not session.closed_by_client
        assert server.open_sessions() == []


async def test_client_close_is_recorded_as_closed_by_client() -> None:
    async with fake() as server:
        async with sdk(server):
            session = (await server.wait_for_sessions(1))[0]
        await session.wait_closed()
        assert session.closed_by_client
    assert server.violations == []


async def test_server_close_and_stop_close_the_open_sessions() -> None:
    async with fake() as server, raw(server) as ws1, raw(server) as ws2:
        first, second = await server.wait_for_sessions(2)
        await first.close(1001)
        await first.wait_closed()
        await asyncio.wait_for(ws1.wait_closed(), 2)
        assert ws1.close_code == 1001
        assert not first.closed_by_client
        await server.stop()
        assert second.closed.is_set() and not second.closed_by_client
        await asyncio.wait_for(ws2.wait_closed(), 2)
        assert ws2.close_code == 1001  # going away


async def test_stop_cancels_a_response_in_flight_without_leaking_tasks() -> None:
    config = FakeRealtimeConfig(pace=1.0, greeting=AudioReply("Long", 10_000))
    async with fake(config) as server, sdk(server) as conn:
        await conn.response.create()
        await until(conn, "response.output_audio.delta")
        before = len(asyncio.all_tasks())
        await server.stop()
        assert server.sessions[0].closed.is_set()
        assert len(asyncio.all_tasks()) < before  # the response task is gone


async def test_send_event_and_speak_reply_inject_server_behaviour() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await session.send_event(
            {"type": "error", "error": {"type": "server_error", "message": "boom"}}
        )
        assert isinstance(await recv(conn), RealtimeErrorEvent)
        await session.speak_reply(AudioReply("Are you still there?"))
        with pytest.raises(RuntimeError):
            await session.speak_reply(AudioReply("again"))
        events = await until(conn, "response.done")
        text = "".join(d.delta for d in of_type(events, "response.output_audio_transcript.delta"))
        assert text == "Are you still there?"
        await greet(conn)  # the greeting was not consumed by speak_reply
    assert server.violations == []


async def test_wait_for_returns_the_last_event_and_times_out_with_what_arrived() -> None:
    async with fake() as server, sdk(server) as conn:
        session = (await server.wait_for_sessions(1))[0]
        await conn.response.create(response={"instructions": "one"})
        await until(conn, "response.done")
        await conn.response.create(response={"instructions": "two"})
        last = await session.wait_for("response.create", count=2)
        assert last["response"]["instructions"] == "two"
        with pytest.raises(TimeoutError, match=r"response\.cancel"):
            await session.wait_for("response.cancel", timeout=0.1)
        # Leave nothing unread: websockets stops reading a full queue, and then a client
        # close waits close_timeout for the server's close frame stuck behind the data.
        await until(conn, "response.done")
    assert server.violations == []


async def test_concurrent_sessions_are_independent() -> None:
    async with fake() as server:

        async def call() -> list[str]:
            async with sdk(server) as conn:
                await conn.response.create()
                events = await until(conn, "response.done")
                return [e.response.id for e in events if e.type == "response.done"]

        results = await asyncio.gather(*(call() for _ in range(5)))
    ids = [one for [one] in results]
    assert len(set(ids)) == 5  # unique across sessions, as the real API's ids are
    assert len(server.sessions) == 5
    assert server.violations == []
