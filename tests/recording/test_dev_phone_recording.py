"""A dev phone call recorded by the service itself (CALL_RECORDING=on): both directions as
heard, a stereo WAV in PostgreSQL (caller left, agent right), played by the console's route."""

from __future__ import annotations

import asyncio
import base64
import wave
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from app.db.embedded import EmbeddedPostgres
from app.lib.audio import tone_ulaw
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.phone.phone_kit import dev_phone_service, signed_in
from tests.signin import cookie_header

GREETING = "Hello. Just so you know, this call is recorded and I'm an AI assistant."


async def _leg(ws: Any, call_sid: str, token: str) -> None:
    """The page: every mark returned as played; after the greeting, a tone said; until the
    agent's answer has been heard."""
    sid = "MZ" + "4" * 32
    await ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    start = {"callSid": call_sid, "streamSid": sid, "customParameters": {"token": token}}
    await ws.send(orjson.dumps({"event": "start", "streamSid": sid, "start": start}).decode())
    spoke = False
    async with asyncio.timeout(15):
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame["event"] == "mark":
                await ws.send(orjson.dumps({"event": "mark", "mark": frame["mark"]}).decode())
            elif frame["event"] == "devphone" and frame["type"] == "turn":
                if frame["speaker"] == "agent" and not spoke:
                    spoke = True
                    await _speak(ws, tone_ulaw(600, 440.0, 0.5) + bytes([0xFF]) * 8 * 800)
                elif frame["speaker"] == "agent":
                    return


async def _speak(ws: Any, audio: bytes) -> None:
    for i in range(0, len(audio), 160):
        payload = base64.b64encode(audio[i : i + 160]).decode()
        await ws.send(orjson.dumps({"event": "media", "media": {"payload": payload}}).decode())
        await asyncio.sleep(0.02)


def _voiced_ms(samples: list[int]) -> int:
    """How much of a channel holds sound (20 ms blocks louder than a whisper)."""
    blocks = [samples[i : i + 160] for i in range(0, len(samples), 160)]
    loud = [b for b in blocks if (sum(s * s for s in b) / len(b)) ** 0.5 > 500]
    return 20 * len(loud)


async def test_a_dev_call_is_kept_as_a_stereo_wav_from_the_disclosure_on(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply(GREETING, 500),
        replies=[AudioReply("Sure, we open at nine tomorrow.", 700)],
    )
    async with (
        dev_phone_service(postgres, tmp_path, config, call_recording=True) as h,
        signed_in(h.base_url) as (http, csrf),
    ):
        placed = (await http.post("/staff/phone/calls", data={"csrf_token": csrf})).json()
        call_sid = placed["call_sid"]
        async with connect(
            h.server.ws_url + "/staff/phone/stream",
            origin=h.base_url,  # type: ignore[arg-type]
            additional_headers=cookie_header(http),
        ) as ws:
            await _leg(ws, call_sid, placed["token"])
        async with asyncio.timeout(10):
            while not (rows := await h.fetch("SELECT * FROM recordings")):
                await asyncio.sleep(0.1)
        media = await http.get(f"/staff/calls/{call_sid}/recording")
        part = await http.get(f"/staff/calls/{call_sid}/recording", headers={"Range": "bytes=0-99"})
        page = await http.get(f"/staff/calls/{call_sid}")
        [greeting] = await h.fetch(
            "SELECT offset_ms FROM transcript_turns WHERE call_sid = :s AND seq = 0", s=call_sid
        )
    [row] = rows
    assert row["source"] == "service" and row["status"] == "completed" and row["channels"] == 2
    assert h.twilio.requests == []  # no Twilio call, nothing asked of Twilio
    assert row["start_offset_ms"] > greeting["offset_ms"]
    assert media.status_code == 200 and media.content == row["audio"]
    assert media.headers["cache-control"] == "private, no-store"
    assert part.status_code == 206 and part.content == row["audio"][:100]
    assert 'id="recording-player"' in page.text
    with wave.open(BytesIO(row["audio"])) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
        frames = wav.readframes(wav.getnframes())
    samples = list(memoryview(frames).cast("h"))
    left, right = samples[0::2], samples[1::2]
    # Nothing before consent is on tape: of the agent, only the answer (700 ms), not the
    # greeting (500 ms) that carried the disclosure; of the caller, their 600 ms tone.
    assert 600 <= _voiced_ms(right) <= 800
    assert 500 <= _voiced_ms(left) <= 700
    assert row["duration_seconds"] >= 1
