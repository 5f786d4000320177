"""What the driver must do for a call: frozen actions returned by the CallMachine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.call.events import Usage

# --- to Twilio -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Send mu-law audio to the caller (base64, as the model produced it)."""

    payload: str


@dataclass(frozen=True, slots=True)
class SendMark:
    name: str


@dataclass(frozen=True, slots=True)
class ClearAudio:
    """Twilio `clear`: drop the audio the caller has not heard yet."""


# --- to the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardAudio:
    payload: str


@dataclass(frozen=True, slots=True)
class TruncateItem:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class CancelResponse:
    pass


@dataclass(frozen=True, slots=True)
class SendFunctionOutput:
    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class CreateResponse:
    """Ask the model to speak; `note` is added first as a system message to steer this turn."""

    note: str | None = None


@dataclass(frozen=True, slots=True)
class AddSystemNote:
    """Tell the model something without asking it to speak now."""

    text: str


@dataclass(frozen=True, slots=True)
class ReconnectModel:
    """Open a new model session and re-seed it with the conversation so far."""

    history: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class OpenEscalation:
    """Open the big model's session now, seeded with the conversation so far (the ladder)."""

    history: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SwitchModel:
    """Carry the call on in the big model's session from now on (it is ready; the bridge line
    has been sent). `since` is what was said after the session was seeded."""

    reason: str
    offset_ms: int
    since: tuple[tuple[str, str], ...]


# --- to our own tasks and the database -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTool:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class SaveTurn:
    seq: int
    speaker: str
    text: str
    interrupted: bool
    offset_ms: int
    latency_ms: int | None = None  # agent turns: the caller's end of speech to its first audio


@dataclass(frozen=True, slots=True)
class SaveToolCall:
    call_id: str
    name: str
    arguments: str
    output: str
    ok: bool
    duration_ms: int
    offset_ms: int


@dataclass(frozen=True, slots=True)
class RecordGreeting:
    greeting_ms: int


@dataclass(frozen=True, slots=True)
class RecordTurnLatency:
    """An agent turn's first audio went out `latency_ms` after the caller stopped speaking."""

    latency_ms: int


@dataclass(frozen=True, slots=True)
class StartTransfer:
    """Hand the caller to a human through Twilio REST (the agent's announcement has played)."""

    reason: str
    summary: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """Close the media stream (and the model session), then finalise the call row."""

    reason: str
    outcome: str
    outcome_detail: dict[str, Any]
    usage: Usage
    handoff: str | None = None
    # The ladder moved the call: what the first (small) model used; the rest is the big one's.
    usage_before_switch: Usage | None = None


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """A tool that finished after the call ended changed the call's outcome (e.g. booked)."""

    outcome: str
    detail: dict[str, Any]


Action = (
    PlayAudio
    | SendMark
    | ClearAudio
    | ForwardAudio
    | TruncateItem
    | CancelResponse
    | SendFunctionOutput
    | CreateResponse
    | AddSystemNote
    | ReconnectModel
    | OpenEscalation
    | SwitchModel
    | StartTool
    | SaveTurn
    | SaveToolCall
    | RecordGreeting
    | RecordTurnLatency
    | StartTransfer
    | EndCall
    | SaveOutcome
)
