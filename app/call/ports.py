"""What the call driver is given: a Media Streams transport, and the services a call uses.

The driver knows nothing of Starlette routes or Twilio signatures: a route authenticates the
stream, wraps its socket as a `MediaStream` and hands it over with the `CallServices` that
`app.compose` built once at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.call import actions as A
from app.call.info import CallInfo
from app.call.machine import MachineConfig
from app.config import Settings
from app.db.history import CallHistory
from app.db.store import CallStore
from app.metrics import Metrics
from app.realtime.sessions import ModelSessions


class MediaStream(Protocol):
    """One call's Twilio Media Streams socket (Twilio's own, or the dev phone's)."""

    async def receive(self) -> str | bytes | None:
        """The next frame as sent (text, or bytes for a binary frame); None once it is closed."""
        ...

    async def send(self, text: str) -> bool:
        """Send one frame; False when the socket is gone."""
        ...

    async def close(self, code: int) -> None:
        """Close with a WebSocket close code; a no-op when already closed."""
        ...


@dataclass(frozen=True)
class ToolReport:
    """A finished tool call as the driver hands it to the machine."""

    ok: bool
    output: str
    outcome: tuple[str, dict[str, Any]] | None = None
    effect: str | None = None


ToolRunner = Callable[[CallInfo, str, str, str], Awaitable[ToolReport]]
"""(call, tool call id, tool name, JSON arguments) -> the result; never raises."""

TransferStarter = Callable[[CallInfo, str, str], Awaitable[tuple[bool, str]]]
"""(call, reason, summary) -> (started, why not)."""

HangUp = Callable[[str], Awaitable[bool]]
"""Ends a call through Twilio REST by its CallSid."""

RecordingStarter = Callable[[CallInfo, Callable[[], int]], Awaitable[None]]
"""(call, the transcript's clock in ms) -> starts recording the call; never raises
(app/recording/service.py)."""

CallWatcher = Callable[[A.Action], None]
"""Sees a call's turns and tool calls as they are recorded (the dev phone shows them live);
called on the driver's task, so it must return at once and never raise."""
WATCHED = (A.SaveTurn, A.StartTool, A.SaveToolCall)


@dataclass(frozen=True)
class CallServices:
    """Everything a call uses beyond its own stream; one instance serves every call."""

    settings: Settings
    store: CallStore
    sessions: ModelSessions
    history: CallHistory
    run_tool: ToolRunner
    transfer: TransferStarter
    hang_up: HangUp
    metrics: Metrics = field(default_factory=Metrics)
    # CALL_RECORDING=on: started once the caller has heard the disclosure; None: not recorded.
    start_recording: RecordingStarter | None = None

    def machine_config(self) -> MachineConfig:
        """A call's limits (length, silence) as the settings give them."""
        s = self.settings
        max_call_ms = s.max_call_seconds * 1000
        return MachineConfig(
            max_call_ms=max_call_ms,
            wrap_up_before_ms=min(30_000, max_call_ms // 3),
            idle_prompt_ms=int(s.idle_prompt_seconds * 1000),
            idle_hangup_ms=int(s.idle_hangup_seconds * 1000),
            escalation=s.openai_escalation_model is not None,
        )
