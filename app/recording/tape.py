"""A call recorded by the service itself (the dev phone has no Twilio call to record): two
channels as heard, caller left and agent right, made into a stereo WAV at the end.

Sans-I/O: the stream tells it what passed and when (`at_ms`, its own clock). The caller's
channel is their audio as it arrived. The agent's channel follows the page's playback the way
Twilio's buffer works (PROTOCOLS.md section 2): audio plays in order from when it is sent, and a
`clear` drops what had not played yet, so a barge-in cuts the agent on tape where the caller
stopped hearing it.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field

from app.lib.audio import ulaw_to_pcm16_bytes

RATE = 8000
BYTES_PER_MS = RATE // 1000  # mu-law: one byte a sample
SILENCE = 0xFF  # mu-law's zero


@dataclass
class StereoTape:
    max_ms: int = 3_600_000  # a bound on memory whatever happens: an hour
    started_ms: int | None = None
    offset_ms: int = 0  # where the tape starts on the transcript's clock
    caller: bytearray = field(default_factory=bytearray)
    agent: bytearray = field(default_factory=bytearray)
    _agent_end: int = 0  # where the agent's next audio will play (bytes into the tape)

    def start(self, at_ms: int, offset_ms: int) -> None:
        """Consent was given: record from now (nothing before is kept)."""
        if self.started_ms is None:
            self.started_ms, self.offset_ms = at_ms, offset_ms

    @property
    def running(self) -> bool:
        return self.started_ms is not None

    def _position(self, at_ms: int) -> int:
        assert self.started_ms is not None
        return max(0, at_ms - self.started_ms) * BYTES_PER_MS

    def _room(self, length: int) -> int:
        return max(
            0, min(length, self.max_ms * BYTES_PER_MS - max(len(self.caller), self._agent_end))
        )

    def from_caller(self, audio: bytes) -> None:
        if self.running:
            self.caller += audio[: self._room(len(audio))]

    def to_caller(self, audio: bytes, at_ms: int) -> None:
        """Agent audio sent now: it plays after what is queued, or at once."""
        if not self.running:
            return
        at = max(self._agent_end, self._position(at_ms))
        audio = audio[: self._room(len(audio))]
        if len(self.agent) < at:
            self.agent += bytes([SILENCE]) * (at - len(self.agent))
        self.agent[at : at + len(audio)] = audio
        self._agent_end = at + len(audio)

    def cleared(self, at_ms: int) -> None:
        """The page dropped what it had not played: it was never heard."""
        if not self.running:
            return
        now = self._position(at_ms)
        if self._agent_end > now:
            del self.agent[now:]
            self._agent_end = now

    @property
    def duration_ms(self) -> int:
        return max(len(self.caller), len(self.agent)) // BYTES_PER_MS

    def wav(self) -> bytes:
        """16-bit PCM, 8 kHz, two channels: what every browser plays."""
        frames = max(len(self.caller), len(self.agent))
        left = array("h", ulaw_to_pcm16_bytes(bytes(self.caller.ljust(frames, b"\xff"))))
        right = array("h", ulaw_to_pcm16_bytes(bytes(self.agent.ljust(frames, b"\xff"))))
        both = array("h", bytes(4 * frames))
        both[0::2], both[1::2] = left, right
        data = both.tobytes()
        header = struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            b"RIFF",
            36 + len(data),
            b"WAVE",
            b"fmt ",
            16,
            1,  # PCM
            2,
            RATE,
            RATE * 4,
            4,
            16,
            b"data",
            len(data),
        )
        return header + data
