"""Debian's headless Chromium with a fake microphone that speaks a WAV made by espeak-ng."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import time
import wave
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from playwright.async_api import Browser, ConsoleMessage, Page, WebSocket

from app.lib.audio import pcm16_to_ulaw, resample_pcm16, ulaw_rms
from tests.chromium import MICROPHONE_ARGS, launched, need


def need_tools() -> None:
    """Skip where Chromium or espeak-ng is missing (CI installs both: .ci/run)."""
    need("chromium", "espeak-ng")


@dataclass(frozen=True)
class SpokenWav:
    path: Path
    rate: int
    samples: list[int]  # one period of the loop: lead silence, the sentence, tail silence
    speech_from_ms: int
    speech_to_ms: int

    @property
    def period_ms(self) -> int:
        return len(self.samples) * 1000 // self.rate

    def envelope(self, frame_ms: int = 20) -> list[float]:
        """Level of each 20 ms of one period, at 8 kHz mu-law as the model would get it."""
        ulaw = pcm16_to_ulaw(resample_pcm16(self.samples, self.rate, 8000))
        size = frame_ms * 8
        return [ulaw_rms(ulaw[i : i + size]) for i in range(0, len(ulaw) - size + 1, size)]


def speak_wav(directory: Path, sentence: str, lead_ms: int, tail_ms: int) -> SpokenWav:
    """espeak-ng says the sentence; silence is added before and after (Chromium loops it)."""
    raw = directory / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), sentence], check=True, timeout=30)
    with wave.open(str(raw)) as source:
        assert source.getsampwidth() == 2 and source.getnchannels() == 1
        rate = source.getframerate()
        speech = array("h", source.readframes(source.getnframes()))
    lead = [0] * (rate * lead_ms // 1000)
    samples = lead + list(speech) + [0] * (rate * tail_ms // 1000)
    path = directory / "caller.wav"
    with wave.open(str(path), "wb") as out:  # 16-bit mono PCM: what Chromium's reader takes
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(array("h", samples).tobytes())
    speech_ms = len(speech) * 1000 // rate
    return SpokenWav(path, rate, samples, lead_ms, lead_ms + speech_ms)


def chromium(wav: Path) -> contextlib.AbstractAsyncContextManager[Browser]:
    """Chromium whose microphone speaks `wav` (looping)."""
    return launched(*MICROPHONE_ARGS, f"--use-file-for-fake-audio-capture={wav}")


@dataclass
class Leg:
    """One WebSocket of the page: every frame each way, with when it passed (monotonic s)."""

    url: str
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    sent: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def events(self, direction: str, name: str) -> list[tuple[float, dict[str, Any]]]:
        frames = self.received if direction == "in" else self.sent
        return [(t, f) for t, f in frames if f.get("event") == name]


class WatchedPage:
    """A page whose console errors and WebSocket frames are recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.legs: list[Leg] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("websocket", self._websocket)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def _websocket(self, ws: WebSocket) -> None:
        leg = Leg(ws.url)
        self.legs.append(leg)

        def record(frames: list[tuple[float, dict[str, Any]]], payload: str | bytes) -> None:
            frame = orjson.loads(payload)
            if frame.get("event") == "media":  # keep its size, not its audio
                media = frame["media"]
                media["bytes"] = len(base64.b64decode(media.pop("payload")))
            frames.append((time.monotonic(), frame))

        ws.on("framereceived", lambda payload: record(leg.received, payload))
        ws.on("framesent", lambda payload: record(leg.sent, payload))
