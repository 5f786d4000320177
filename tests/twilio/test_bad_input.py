"""Bad input on every public route, property-based: no 500s, no crashed tasks, proper close codes,
and a healthy call in the same process carries on unharmed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.doubles.harness import AUTH_TOKEN, CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.frames import start_frame

T = TypeVar("T")
PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
CLOSE_CODES = {1000, 1003, 1008, 1009}
ROUTES = [
    "/twilio/incoming",
    "/twilio/status",
    "/twilio/stream-ended",
    "/twilio/transfer/done?call=CA1",
    "/twilio/transfer/whisper?call=CA1",
]


class Service:
    """The receptionist and its doubles on an event loop of their own, for synchronous fuzzing."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[str] = []
        self._ready: Future[CallHarness] = Future()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._main, args=(db_url, data_dir), daemon=True)
        self._thread.start()
        self.h = self._ready.result(timeout=60)

    def _main(self, db_url: str, data_dir: Path) -> None:
        self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(str(ctx)))
        self.loop.run_until_complete(self._serve(db_url, data_dir))

    async def _serve(self, db_url: str, data_dir: Path) -> None:
        config = FakeRealtimeConfig(
            greeting=AudioReply("Hi, how can I help?", 400),
            caller_transcripts=["What time do you close?"],
            replies=[AudioReply("We close at five.", 600)],
        )
        try:
            async with CallHarness(
                db_url,
                data_dir,
                model_config=config,
                business_profile=PROFILE,
                max_frame_bytes=4096,
            ) as h:
                self._ready.set_result(h)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[Service]:
    import asyncio as _asyncio

    from app.db.engine import upgrade
    from tests.conftest import create_database

    async def make_db() -> str:
        url = await create_database(postgres, "fuzz")
        await upgrade(url)
        return url

    db_url = _asyncio.run(make_db())
    svc = Service(db_url, tmp_path_factory.mktemp("fuzz"))
    yield svc
    svc.close()
    assert svc.errors == []


def _stream_url(svc: Service) -> str:
    return svc.h.server.ws_url + "/twilio/stream"


def _signed_headers(url: str, params: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params or {})}


def _start(call_sid: str = "CA" + "1" * 32, token: str = "1.bad") -> str:
    return orjson.dumps(start_frame(call_sid, "MZ1", "AC1", {"token": token})).decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
events = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "bogus", ""])
frames = st.one_of(
    st.builds(
        lambda e, body: orjson.dumps({"event": e, **body}).decode(),
        events,
        st.dictionaries(
            st.sampled_from(["media", "mark", "start", "dtmf", "streamSid", "x"]),
            json_values,
            max_size=3,
        ),
    ),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.builds(
        lambda n: '{"event":"media","media":{"payload":"' + "A" * n + '"}}', st.integers(3000, 9000)
    ),
    st.builds(
        lambda p: orjson.dumps({"event": "media", "media": {"payload": p}}).decode(),
        st.text(max_size=40),
    ),
    st.just(_start()),
)


def _close_code(svc: Service, sequence: list[str | bytes]) -> int | None:
    url = _stream_url(svc)
    with connect(
        url, additional_headers=_signed_headers(url), open_timeout=5, close_timeout=2
    ) as ws:
        try:
            for frame in sequence:
                ws.send(frame)
            ws.recv(timeout=3)
        except ConnectionClosed:
            pass
        except TimeoutError:
            ws.close()
        return ws.close_code


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(sequence=st.lists(frames, min_size=1, max_size=6))
def test_malformed_stream_frames_close_the_connection_cleanly(
    service: Service, sequence: list[str | bytes]
) -> None:
    code = _close_code(service, sequence)
    assert code in CLOSE_CODES
    assert service.h.runtime.active_calls == {}  # no bogus stream ever became a call


def test_media_before_start_and_oversized_frames_get_proper_codes(service: Service) -> None:
    media = orjson.dumps({"event": "media", "media": {"payload": "//8="}}).decode()
    assert _close_code(service, [media]) == 1008
    assert _close_code(service, [b"\x00\x01"]) == 1008
    assert _close_code(service, ["x" * 10_000]) == 1009


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    fields=st.dictionaries(
        st.sampled_from(
            ["CallSid", "CallStatus", "From", "To", "DialCallStatus", "FromState", "x"]
        ),
        st.text(max_size=30) | st.text(min_size=5000, max_size=40_000),
        max_size=5,
    ),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data",
            "",
        ]
    ),
    sign=st.booleans(),
)
def test_forms_with_missing_huge_or_wrong_fields_never_give_a_500(
    service: Service, route: str, fields: dict[str, str], content_type: str, sign: bool
) -> None:
    url = service.h.base_url + route
    body = httpx.QueryParams(fields).__str__().encode()
    headers = {"Content-Type": content_type} if content_type else {}
    if sign:
        headers |= _signed_headers(url, fields)
    response = httpx.post(url, content=body, headers=headers, timeout=15)
    assert response.status_code in {200, 204, 400, 403}, response.text[:200]
    if not sign or content_type != "application/x-www-form-urlencoded":
        assert response.status_code == 403


def test_a_healthy_call_is_unaffected_by_the_fuzzing_around_it(service: Service) -> None:
    async def conversation() -> FakeTwilioCaller:
        async with FakeTwilioCaller(service.h.base_url, AUTH_TOKEN) as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.hangup()
            return caller

    healthy = asyncio.run_coroutine_threadsafe(conversation(), service.loop)
    for _ in range(30):  # bad streams and forms in the same process, at the same time
        _close_code(service, [b"\xff" * 10])
        _close_code(service, ['{"event":"media","media":{"payload":"!!"}}'])
        httpx.post(service.h.base_url + "/twilio/incoming", content=b"%%%", timeout=10)
    caller = healthy.result(timeout=60)
    assert caller.protocol_errors == []
    turns = service.run(service.h.turns(caller.call_sid))
    assert [t[1] for t in turns] == [
        "Hi, how can I help?",
        "What time do you close?",
        "We close at five.",
    ]
