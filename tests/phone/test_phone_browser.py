"""A call from the dev phone in Debian's headless Chromium, its microphone an espeak-ng WAV.

One scripted call is placed through the page and recorded (the page's WebSocket frames both
ways, what the OpenAI double heard and did, the rows, the page); each test checks one
behaviour of it. The WAV loops: a silence, the sentence, a silence, again and again, so the
caller speaks once after the greeting, then again over the agent's long reply (barge-in),
which the double answers with a transfer; nobody answers it, and the agent comes back.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from browser_kit import Leg, SpokenWav, WatchedPage, chromium, need_tools, speak_wav
from phone_kit import EMAIL, PASSWORD, TRANSFER_NUMBER, dev_phone_service
from playwright.async_api import Page

from app.db.embedded import EmbeddedPostgres
from app.lib.audio import ulaw_rms
from app.twilio.callbacks import TRANSFER_FAILED_NOTE
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply

SENTENCE = "Hello, I would like to book a cleaning for next Tuesday morning."
LONG_REPLY = (
    "Of course. We have openings on Tuesday at nine, at ten thirty and at eleven fifteen, and "
    "in the afternoon at two and at four. Which of those would suit you best?"
)
GREETING = "Thanks for calling Maple Street Dental, how can I help?"
SUMMARY = "Caller wants a Tuesday morning cleaning and asked for a person."
LEAD_MS, TAIL_MS = 3000, 1500
LOUD = 500.0  # the double's VAD threshold


@dataclass
class RecordedCall:
    wav: SpokenWav
    call_sid: str
    legs: list[Leg]
    errors: list[str]
    heard: dict[int, bytearray]  # model session -> the caller audio it was sent
    sessions: list[Any]
    row: dict[str, Any]
    turns: list[dict[str, Any]]
    page_transcript: str
    transfer_number: str
    transfer_whisper: str
    console_page: str
    calls_list: str
    clicked_no_answer_at: float


async def _until(check: Any, within: float, what: str) -> None:
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.05)
    assert check(), what


async def _open_the_phone(page: Page, base_url: str) -> None:
    """Open /staff/phone, signing in on the way as a person would."""
    await page.goto(f"{base_url}/staff/phone")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/staff/phone")


@pytest.fixture(scope="module")
async def call(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RecordedCall]:
    need_tools()
    tmp = tmp_path_factory.mktemp("phone")
    wav = speak_wav(tmp, SENTENCE, LEAD_MS, TAIL_MS)
    config = FakeRealtimeConfig(
        pace=0,  # the model's audio arrives at once: the page alone keeps the pace
        greeting=AudioReply(GREETING, 2000),
        caller_transcripts=[SENTENCE, "Can I speak to a person, please?"],
        replies=[
            AudioReply(LONG_REPLY, 9000),
            FunctionCallReply(
                "transfer_to_human",
                {"reason": "asked for a person", "summary": SUMMARY},
                preamble="Sure.",
            ),
            AudioReply("Connecting you now.", 900),
        ],
    )
    heard: dict[int, bytearray] = {}
    async with dev_phone_service(postgres, tmp / "data", config) as service:
        service.model.on_append = lambda session, audio, _at: heard.setdefault(
            session.index, bytearray()
        ).extend(base64.b64decode(audio))
        async with chromium(wav.path) as browser:
            context = await browser.new_context(permissions=["microphone"])
            watched = WatchedPage(await context.new_page())
            page = watched.page
            await _open_the_phone(page, service.base_url)
            await page.get_by_role("button", name="Call").click()
            await page.locator("#transfer").wait_for(state="visible", timeout=40_000)
            number = await page.locator("#transfer-number").inner_text()
            whisper = await page.locator("#transfer-whisper").inner_text()
            clicked = time.monotonic()
            await page.get_by_role("button", name="No answer").click()
            await _until(lambda: len(watched.legs) == 2, 5, "no second stream")
            back = watched.legs[1]
            await _until(lambda: back.events("out", "mark"), 10, "the agent did not come back")
            call_sid = (await page.locator("#call-link-a").inner_text()).strip()
            await page.locator(".keypad .key[data-digit='5']").click()
            await _until(lambda: back.events("out", "dtmf"), 5, "the keypad sent nothing")
            await page.get_by_role("button", name="Hang up").click()
            row = await service.wait_call_ended(call_sid)
            turns = await service.fetch(
                "SELECT seq, speaker, text, interrupted FROM transcript_turns "
                "WHERE call_sid = :sid ORDER BY seq",
                sid=call_sid,
            )
            transcript = await page.locator("#phone-transcript").inner_text()
            await page.goto(f"{service.base_url}/staff/calls/{call_sid}")
            console_page = await page.locator("main").inner_text()
            await page.goto(f"{service.base_url}/staff/calls")
            calls_list = await page.locator("main").inner_text()
            await context.close()
        yield RecordedCall(
            wav,
            call_sid,
            watched.legs,
            watched.errors,
            heard,
            list(service.model.sessions),
            row,
            turns,
            transcript,
            number,
            whisper,
            console_page,
            calls_list,
            clicked,
        )


def _levels(audio: bytes, frame: int = 160) -> list[float]:
    return [ulaw_rms(audio[i : i + frame]) for i in range(0, len(audio) - frame + 1, frame)]


def test_the_model_hears_the_microphone_where_the_wav_has_speech(call: RecordedCall) -> None:
    """The double's input audio is loud where the sentence is and quiet in the WAV's silences
    (the best alignment of the loop's level pattern with what arrived matches nearly all)."""
    received = [level >= LOUD for level in _levels(bytes(call.heard[0]))]
    expected = [level >= LOUD for level in call.wav.envelope()]
    assert len(received) > len(expected)  # more than one loop of the WAV
    assert any(received) and not all(received)
    period = len(expected)
    best = max(
        sum(r == expected[(i + lag) % period] for i, r in enumerate(received)) / len(received)
        for lag in range(period)
    )
    assert best >= 0.85, best


def test_the_models_vad_fires_on_the_callers_speech(call: RecordedCall) -> None:
    first = call.sessions[0]
    assert "input_audio_buffer.speech_started" in first.sent_types
    assert "input_audio_buffer.speech_stopped" in first.sent_types
    assert first.caller_transcripts[:2] == [SENTENCE, "Can I speak to a person, please?"]


def _mark_returns(leg: Leg) -> list[tuple[str, float, float, float]]:
    """Each mark the server sent and the page gave back: (name, ms of audio sent before it,
    ms after the first audio arrived that it was sent, and that the page gave it back)."""
    audio_ms = 0.0
    first: float | None = None
    placed: dict[str, tuple[float, float]] = {}
    for at, frame in leg.received:
        if frame["event"] == "media":
            first = at if first is None else first
            audio_ms += frame["media"]["bytes"] / 8
        elif frame["event"] == "mark" and first is not None:
            placed[frame["mark"]["name"]] = (audio_ms, (at - first) * 1000)
    assert first is not None
    returned = {f["mark"]["name"]: at for at, f in leg.events("out", "mark")}
    return [
        (name, audio, sent, (returned[name] - first) * 1000)
        for name, (audio, sent) in placed.items()
        if name in returned
    ]


def test_the_page_returns_every_mark_in_order(call: RecordedCall) -> None:
    first, back = call.legs
    sent = [f["mark"]["name"] for _, f in first.events("in", "mark")]
    returned = [f["mark"]["name"] for _, f in first.events("out", "mark")]
    assert sent and returned == sent  # the first leg ran to the transfer: every mark came back
    sent = [f["mark"]["name"] for _, f in back.events("in", "mark")]
    returned = [f["mark"]["name"] for _, f in back.events("out", "mark")]
    assert returned and returned == sent[: len(returned)]  # the hang-up ends the second leg


def test_a_mark_comes_back_only_once_the_audio_before_it_has_played(call: RecordedCall) -> None:
    """Played at the real pace: the greeting (2 s, sent at once) takes 2 s to give its last mark
    back, and no mark returns before the audio sent ahead of it could have played (but for
    those a clear returns at once)."""
    leg = call.legs[0]
    first_audio = leg.events("in", "media")[0][0]
    clear_ms = (leg.events("in", "clear")[0][0] - first_audio) * 1000
    returns = _mark_returns(leg)
    for name, audio_ms, _sent_ms, back_ms in returns:
        if back_ms < clear_ms:
            assert back_ms >= audio_ms - 40, (name, audio_ms, back_ms)  # 40 ms: clock slack
    greeting = [r for r in returns if r[2] < 500]  # the greeting, sent at once
    _name, audio_ms, _sent_ms, back_ms = greeting[-1]
    assert audio_ms >= 1900
    assert audio_ms - 40 <= back_ms <= audio_ms + 600


def test_speaking_over_the_agent_clears_the_page_and_keeps_only_the_heard_part(
    call: RecordedCall,
) -> None:
    leg = call.legs[0]
    clears = leg.events("in", "clear")
    assert clears, "the caller's second sentence did not interrupt the long reply"
    clear_at = clears[0][0]
    # Twilio: the marks still pending come back at once.
    pending = [
        f["mark"]["name"]
        for at, f in leg.events("in", "mark")
        if at < clear_at
        and all(
            r["mark"]["name"] != f["mark"]["name"]
            for t, r in leg.events("out", "mark")
            if t < clear_at
        )
    ]
    assert pending
    back = {f["mark"]["name"]: at for at, f in leg.events("out", "mark")}
    assert all(back[name] - clear_at < 0.3 for name in pending)
    truncate = call.sessions[0].truncates[0]
    assert 0 < truncate["audio_end_ms"] < 9000
    replies = [t for t in call.turns if LONG_REPLY.startswith(t["text"])]
    assert [(t["speaker"], t["interrupted"]) for t in replies] == [("agent", True)]
    heard = replies[0]["text"]
    assert 0 < len(heard) < len(LONG_REPLY)
    assert heard in call.page_transcript and "you heard only this much" in call.page_transcript


def test_a_transfer_shows_who_would_be_rung_and_no_answer_brings_the_agent_back(
    call: RecordedCall,
) -> None:
    assert call.transfer_number == TRANSFER_NUMBER
    assert SUMMARY in call.transfer_whisper
    assert call.row["transfer_status"] == "failed"
    assert call.row["dial_call_status"] == "no-answer"
    back = call.legs[1]
    start = back.events("out", "start")[0][1]["start"]
    assert start["callSid"] == call.call_sid
    assert start["customParameters"]["resume"] == "transfer_failed"
    # A new model session, seeded with the call so far and told nobody answered.
    resumed = call.sessions[-1]
    seeded = [e for e in resumed.received if e["type"] == "conversation.item.create"]
    texts = [c.get("text", "") for e in seeded for c in e["item"]["content"]]
    assert SENTENCE in texts
    assert TRANSFER_FAILED_NOTE.format(status="no answer") in texts
    assert sum(f["media"]["bytes"] for _, f in back.events("in", "media")) > 0
    assert back.events("out", "start")[0][0] > call.clicked_no_answer_at


def test_the_page_shows_the_live_transcript_and_each_tool_call(call: RecordedCall) -> None:
    text = call.page_transcript
    assert SENTENCE in text
    assert "Tool transfer_to_human: done" in text
    assert [t["speaker"] for t in call.turns].count("caller") >= 2


def test_the_call_is_a_dev_phone_call_in_the_database_and_the_console(
    call: RecordedCall,
) -> None:
    assert call.row["channel"] == "dev_phone"
    assert call.row["end_reason"] == "caller_hangup"
    assert "Dev phone call" in call.console_page and "dev phone" in call.console_page
    assert "Dev phone" in call.calls_list and "unknown number" not in call.calls_list


def test_the_keypad_sends_dtmf_and_hang_up_sends_stop_as_twilio_does(call: RecordedCall) -> None:
    back = call.legs[1]
    dtmf = back.events("out", "dtmf")[0][1]
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    stop = back.events("out", "stop")[0][1]
    assert stop["stop"]["callSid"] == call.call_sid
    numbers = [int(f["sequenceNumber"]) for _, f in back.sent if "sequenceNumber" in f]
    assert numbers == list(range(1, len(numbers) + 1))  # Twilio numbers every frame in order
    media = back.events("out", "media")
    assert {f["media"]["bytes"] for _, f in media} == {160}  # 20 ms of mu-law each


def test_the_browser_console_shows_no_errors(call: RecordedCall) -> None:
    assert call.errors == []


async def test_closing_the_page_while_a_transfer_rings_ends_the_call(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The page's `pagehide` beacon says the caller hung up during the ring (the server's own
    limit, DEV_PHONE_RING_SECONDS, is far off here: only the beacon can end the call)."""
    need_tools()
    tmp = tmp_path_factory.mktemp("closed")
    wav = speak_wav(tmp, "Can I speak to a person, please?", 1500, 1500)
    config = FakeRealtimeConfig(
        pace=0,
        greeting=AudioReply(GREETING, 600),
        caller_transcripts=["Can I speak to a person, please?"],
        replies=[FunctionCallReply("transfer_to_human", {"reason": "asked", "summary": SUMMARY})],
    )
    async with (
        dev_phone_service(postgres, tmp / "data", config) as service,
        chromium(wav.path) as browser,
    ):
        context = await browser.new_context(permissions=["microphone"])
        page = await context.new_page()
        await _open_the_phone(page, service.base_url)
        await page.get_by_role("button", name="Call").click()
        await page.locator("#transfer").wait_for(state="visible", timeout=40_000)
        call_sid = (await page.locator("#call-link-a").inner_text()).strip()
        await page.close()
        row = await service.wait_call_ended(call_sid)
        await context.close()
    assert row["transfer_status"] == "failed" and row["dial_call_status"] == "canceled"
    assert row["end_reason"] == "caller_hangup"
