"""What can happen to a call: frozen events fed to the CallMachine, each stamped by the driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one model response (OpenAI `response.done` usage)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    cached_tokens: int = 0  # a part of input_tokens; of which, where the usage says:
    cached_audio_tokens: int = 0
    cached_text_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.input_audio_tokens + other.input_audio_tokens,
            self.output_audio_tokens + other.output_audio_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cached_audio_tokens + other.cached_audio_tokens,
            self.cached_text_tokens + other.cached_text_tokens,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens - other.input_tokens,
            self.output_tokens - other.output_tokens,
            self.input_audio_tokens - other.input_audio_tokens,
            self.output_audio_tokens - other.output_audio_tokens,
            self.cached_tokens - other.cached_tokens,
            self.cached_audio_tokens - other.cached_audio_tokens,
            self.cached_text_tokens - other.cached_text_tokens,
        )


# --- from Twilio -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamStarted:
    at_ms: int
    stream_sid: str
    call_sid: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """One inbound media frame; the base64 payload is forwarded untouched."""

    at_ms: int
    payload: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    at_ms: int
    name: str


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    at_ms: int
    digit: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """Twilio sent `stop`, or the media socket closed."""

    at_ms: int


# --- from the model --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class CallerTranscript:
    at_ms: int
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    at_ms: int
    response_id: str


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """An `response.output_audio.delta`: base64 mu-law and its decoded length in bytes."""

    at_ms: int
    response_id: str
    item_id: str
    payload: str
    nbytes: int


@dataclass(frozen=True, slots=True)
class AgentAudioDone:
    """`response.output_audio.done`: no more audio of this item (other items may follow it in
    the same response: a 2.x model's preamble comes before its function calls or its answer)."""

    at_ms: int
    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class AgentTranscriptDelta:
    at_ms: int
    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class AgentTranscriptDone:
    at_ms: int
    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class FunctionCallRequested:
    """A complete function call item (`response.output_item.done`, status completed)."""

    at_ms: int
    response_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    at_ms: int
    response_id: str
    status: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class ModelError:
    at_ms: int
    code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ModelRefused:
    """The voice engine will not serve this model to this account (it does not exist, or the
    key has no access): no retry can help, the caller goes to a person."""

    at_ms: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ModelDisconnected:
    at_ms: int


@dataclass(frozen=True, slots=True)
class ModelReconnected:
    at_ms: int


@dataclass(frozen=True, slots=True)
class EscalationReady:
    """The big model's session of the ladder is connected and seeded (app/call/ladder.py)."""

    at_ms: int


@dataclass(frozen=True, slots=True)
class EscalationFailed:
    """The big model's session could not be opened: the call stays on the small model."""

    at_ms: int


# --- from our own tasks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolFinished:
    at_ms: int
    call_id: str
    name: str
    ok: bool
    output: str
    outcome: tuple[str, dict[str, Any]] | None = None
    effect: str | None = None


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """The Twilio REST update that should start the transfer did not go through."""

    at_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A deadline the machine asked for (next_deadline) has passed."""

    at_ms: int


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The process is draining: wrap the call up politely."""

    at_ms: int


TwilioEvent = StreamStarted | CallerAudio | MarkPlayed | DtmfPressed | StreamStopped
ModelEvent = (
    SpeechStarted
    | SpeechStopped
    | CallerTranscript
    | ResponseCreated
    | AgentAudio
    | AgentAudioDone
    | AgentTranscriptDelta
    | AgentTranscriptDone
    | FunctionCallRequested
    | ResponseDone
    | ModelError
    | ModelRefused
    | ModelDisconnected
    | ModelReconnected
    | EscalationReady
    | EscalationFailed
)
Event = TwilioEvent | ModelEvent | ToolFinished | TransferFailed | Tick | Shutdown
