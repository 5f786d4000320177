"""The dev phone's routes over HTTP: behind the staff login, CSRF on its posts, a call placed
like a webhook would place it, and a stream upgrade only for this site's signed-in pages."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from phone_kit import TRANSFER_NUMBER, dev_phone_service, signed_in
from websockets.asyncio.client import connect

from app.db.embedded import EmbeddedPostgres
from app.lib.audio import tone_ulaw
from app.staff.secret import secret_key
from app.staff.sessions import COOKIE, Signer, open_session
from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.signin import cookie_header


@pytest.fixture(scope="module")
async def service(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CallHarness]:
    config = FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))
    async with dev_phone_service(postgres, tmp_path_factory.mktemp("data"), config) as h:
        yield h


def _ws_url(service: CallHarness) -> str:
    return service.server.ws_url + "/staff/phone/stream"


async def test_the_phone_page_needs_a_sign_in(service: CallHarness) -> None:
    async with httpx.AsyncClient(base_url=service.base_url) as stranger:
        response = await stranger.get("/staff/phone")
        placed = await stranger.post("/staff/phone/calls", data={"csrf_token": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login?next=/staff/phone")
    assert placed.status_code in (401, 403)


async def test_the_page_has_call_hang_up_and_keypad_under_the_console_csp(
    service: CallHarness,
) -> None:
    async with signed_in(service.base_url) as (http, _csrf):
        page = await http.get("/staff/phone")
        script = await http.get("/staff/phone/static/phone-worklet.js")
    assert 'id="call-button"' in page.text and 'id="hangup-button"' in page.text
    assert len(re.findall(r'class="key" data-digit=', page.text)) == 12
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_placing_a_call_needs_the_csrf_token(service: CallHarness) -> None:
    async with signed_in(service.base_url) as (http, _csrf):
        response = await http.post("/staff/phone/calls", data={})
    assert response.status_code == 403


async def test_a_placed_call_is_a_dev_phone_row_with_its_model_session_open(
    service: CallHarness,
) -> None:
    before = len(service.model.sessions)
    async with signed_in(service.base_url) as (http, csrf):
        response = await http.post("/staff/phone/calls", data={"csrf_token": csrf})
    placed = response.json()
    assert response.status_code == 200
    assert re.fullmatch(r"CA[0-9a-f]{32}", placed["call_sid"])
    assert placed["token"]
    # As for a phone call's webhook: the model is opened now, before any stream.
    sessions = await service.model.wait_for_sessions(before + 1)
    await sessions[-1].wait_for("response.create")
    await service.flush()
    row = await service.fetch_one(
        "SELECT channel, ended_at FROM calls WHERE call_sid = :sid", sid=placed["call_sid"]
    )
    assert row == {"channel": "dev_phone", "ended_at": None}


async def test_the_stream_refuses_an_upgrade_without_a_session(service: CallHarness) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(_ws_url(service), origin=service.base_url):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


async def test_the_stream_refuses_a_signed_in_upgrade_from_another_site(
    service: CallHarness,
) -> None:
    async with signed_in(service.base_url) as (http, _csrf):
        headers = cookie_header(http)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(
                _ws_url(service),
                origin="http://evil.example",  # type: ignore[arg-type]
                additional_headers=headers,
            ):
                pass
        assert refused.value.response.status_code == 403
        # The same upgrade from this site's page is let in.
        async with connect(
            _ws_url(service),
            origin=service.base_url,  # type: ignore[arg-type]
            additional_headers=headers,
        ) as ws:
            await ws.send(orjson.dumps({"event": "connected"}).decode())


async def test_the_stream_refuses_a_start_without_its_calls_token(service: CallHarness) -> None:
    async with signed_in(service.base_url) as (http, csrf):
        placed = (await http.post("/staff/phone/calls", data={"csrf_token": csrf})).json()
        headers = cookie_header(http)
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ" + "1" * 32,
        "start": {
            "streamSid": "MZ" + "1" * 32,
            "callSid": placed["call_sid"],
            "customParameters": {"token": "1.forged"},
        },
    }
    async with connect(
        _ws_url(service),
        origin=service.base_url,  # type: ignore[arg-type]
        additional_headers=headers,
    ) as ws:
        await ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        await ws.send(orjson.dumps(start).decode())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1008


async def test_a_transfer_result_for_a_call_without_a_transfer_is_refused(
    service: CallHarness,
) -> None:
    async with signed_in(service.base_url) as (http, csrf):
        placed = (await http.post("/staff/phone/calls", data={"csrf_token": csrf})).json()
        response = await http.post(
            f"/staff/phone/calls/{placed['call_sid']}/dial",
            data={"csrf_token": csrf, "status": "no-answer"},
        )
    assert response.status_code == 409


async def test_the_page_refuses_calls_without_an_openai_key(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    config = FakeRealtimeConfig()
    async with (
        dev_phone_service(postgres, tmp_path, config, openai_api_key=None) as h,
        signed_in(h.base_url) as (http, csrf),
    ):
        page = await http.get("/staff/phone")
        response = await http.post("/staff/phone/calls", data={"csrf_token": csrf})
    assert "OPENAI_API_KEY is not set" in page.text
    assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["error"]
    assert h.model.sessions == []


async def _caller_asks_for_a_person(ws: Any, call_sid: str, token: str) -> dict[str, Any]:
    """A page's leg: `connected`, `start`, every mark returned as played and, once the greeting
    has played, one sentence (a loud tone, then silence); returns the transfer notice sent."""
    sid = "MZ" + "3" * 32
    await ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    start = {"callSid": call_sid, "streamSid": sid, "customParameters": {"token": token}}
    await ws.send(orjson.dumps({"event": "start", "streamSid": sid, "start": start}).decode())
    spoken = False
    async with asyncio.timeout(10):
        async for text in ws:
            frame = orjson.loads(text)
            if frame["event"] == "mark":
                await ws.send(orjson.dumps({"event": "mark", "mark": frame["mark"]}).decode())
                if not spoken:
                    spoken = True
                    await _speak(ws, tone_ulaw(600, 440.0, 0.5) + bytes([0xFF]) * 8 * 800)
            elif frame["event"] == "devphone" and frame["type"] == "transfer":
                return dict(frame)
    raise AssertionError("no transfer notice")


async def _speak(ws: Any, audio: bytes) -> None:
    for i in range(0, len(audio), 160):  # 20 ms frames, at the pace a microphone gives them
        payload = base64.b64encode(audio[i : i + 160]).decode()
        await ws.send(orjson.dumps({"event": "media", "media": {"payload": payload}}).decode())
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("ending", ["the page says the caller hung up", "nobody settles it"])
async def test_a_transfer_left_ringing_ends_the_call(
    postgres: EmbeddedPostgres, tmp_path: Path, ending: str
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 200),
        caller_transcripts=["A person, please."],
        replies=[FunctionCallReply("transfer_to_human", {"reason": "asked", "summary": "Bo."})],
    )
    async with (
        dev_phone_service(postgres, tmp_path, config, dev_phone_ring_seconds=1.0) as h,
        signed_in(h.base_url) as (http, csrf),
    ):
        placed = (await http.post("/staff/phone/calls", data={"csrf_token": csrf})).json()
        async with connect(
            h.server.ws_url + "/staff/phone/stream",
            origin=h.base_url,  # type: ignore[arg-type]
            additional_headers=cookie_header(http),
        ) as ws:
            notice = await _caller_asks_for_a_person(ws, placed["call_sid"], placed["token"])
        assert notice["number"] == TRANSFER_NUMBER and "Bo." in notice["whisper"]
        dial = f"/staff/phone/calls/{placed['call_sid']}/dial"
        if ending == "the page says the caller hung up":  # the page's beacon as it closes
            closed = await http.post(dial, data={"csrf_token": csrf, "status": "canceled"})
            assert closed.json() == {"resume": False}
        row = await h.wait_call_ended(placed["call_sid"])
        late = await http.post(dial, data={"csrf_token": csrf, "status": "no-answer"})
    assert row["end_reason"] == "caller_hangup"
    assert row["transfer_status"] == "failed" and row["dial_call_status"] == "canceled"
    assert late.status_code == 409  # the ring is over: a late "no answer" finds nothing


async def test_on_an_https_deployment_an_upgrade_from_an_http_page_is_refused(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """The whole origin counts: the site's host over plain http is another origin."""
    config = FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))
    public = "https://rx.example.com"
    async with dev_phone_service(postgres, tmp_path, config, public_base_url=public) as h:
        # Secure cookies do not travel over the test's plain http: the browser's session
        # cookie is made as the sign-in form would make it.
        account = await h.fetch_one("SELECT id FROM staff_users")
        session_id, _ = await open_session(h.engine, account["id"])
        cookie = Signer(secret_key(h.settings), "staff-session").sign(session_id)
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        refused = []
        for page in ("http://rx.example.com", h.base_url, "https://rx.example.com:8443"):
            with pytest.raises(websockets.InvalidStatus) as refusal:
                async with connect(
                    _ws_url(h),
                    origin=page,  # type: ignore[arg-type]
                    additional_headers=headers,
                ):
                    pass
            refused.append(refusal.value.response.status_code)
        async with connect(
            _ws_url(h),
            origin=public,  # type: ignore[arg-type]
            additional_headers=headers,
        ) as ws:
            await ws.send(orjson.dumps({"event": "connected"}).decode())
    assert refused == [403, 403, 403]
