"""What the fake model is told to do: scripted replies, pacing, VAD settings, fault injection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

__all__ = [
    "DEFAULT_CALLER_TRANSCRIPT",
    "DEFAULT_REPLY_TEXT",
    "AudioReply",
    "FakeRealtimeConfig",
    "FunctionCallReply",
    "JsonDict",
    "Reply",
]

DEFAULT_REPLY_TEXT = "Sure, I can help with that."
DEFAULT_CALLER_TRANSCRIPT = "Hello?"

JsonDict: TypeAlias = dict[str, Any]


@dataclass
class AudioReply:
    """One scripted spoken response."""

    text: str  # the transcript of what is "said"
    audio_ms: int | None = None  # length of audio; default: 60 ms per character, min 400
    # Spoken first, as its own assistant item in the same response (a 2.x model's preamble).
    preamble: str | None = None

    def duration_ms(self) -> int:
        if self.audio_ms is not None:
            return max(self.audio_ms, 0)
        return max(400, 60 * len(self.text))


@dataclass
class FunctionCallReply:
    """One scripted response that calls a function (optionally after a spoken preamble)."""

    name: str
    arguments: dict[str, Any] | str  # str lets a test send broken JSON
    call_id: str | None = None  # default generated "call_<n>"
    preamble: str | None = None  # spoken before the call, in the same response
    # More function calls in the same response, each its own item (parallel tool calls).
    parallel: tuple[FunctionCallReply, ...] = ()

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(self.arguments).decode()


Reply: TypeAlias = AudioReply | FunctionCallReply


def _default_greeting() -> AudioReply:
    return AudioReply("Thanks for calling! How can I help you today?")


@dataclass
class FakeRealtimeConfig:
    """Behaviour of the fake model. Mutable: tests may change it between calls."""

    connect_delay_ms: int = 0  # delay before completing the WebSocket handshake
    first_audio_delay_ms: int = 0  # response.create (or auto response) -> first output item
    chunk_ms: int = 100  # audio per output_audio.delta (8 bytes of mu-law per ms)
    pace: float = 1.0  # 1.0 = deltas in real time (one chunk every chunk_ms); 0 = at once
    greeting: AudioReply = field(default_factory=_default_greeting)
    # Consumed (popped) in order, one per response after the greeting, across all sessions.
    replies: list[Reply] = field(default_factory=list)
    # Consumed in order, one per committed caller utterance; default "Hello?".
    caller_transcripts: list[str] = field(default_factory=list)
    vad_threshold_rms: float = 500.0  # energy VAD on decoded mu-law
    vad_min_speech_ms: int = 60  # speech must last this long before speech_started
    vad_silence_ms: int = 400  # silence after speech before speech_stopped + committed
    # audio_start_ms includes this much audio before the detected onset, like the real
    # server's prefix_padding_ms (default 300), clamped to the start of the buffer.
    vad_prefix_padding_ms: int = 300
    create_response_on_commit: bool = True  # like server_vad create_response
    # The real server (interrupt_response=true) cancels the active response on speech_started.
    server_interrupts: bool = True
    # Input transcription runs beside the response on the real server: > 0 sends the
    # transcription.completed this much later (after the reply has started).
    transcription_delay_ms: int = 0
    # Models this "account" may not use: the socket opens (as the real API's does), and each
    # response fails with `model_not_found` (status_details.error), as the real API answers.
    refused_models: tuple[str, ...] = ()
    error_on_connect: JsonDict | None = None  # `error` payload sent right after session.created
    # The real API ends a session after 60 minutes: `error` session_expired, then close.
    # Set this to expire sessions sooner (fault injection for reconnect logic).
    session_max_ms: int | None = None
    rate_limits_events: bool = True  # send rate_limits.updated at the start of each response
    # Benchmarks: stamp each output_audio.delta with (session index, delta number) using the
    # caller double's stamp_ulaw(), so the delta can be recognised when it reaches the caller
    # (deltas shorter than the stamp, under 2 ms of mu-law, go out unstamped).
    stamp_deltas: bool = False
