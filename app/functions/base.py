"""What every tool is made of: its context, its result, the Tool base class and error results."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict

from app.functions.business_client import BusinessClient

__all__ = [
    "MAX_OUTPUT_BYTES",
    "MessageRecord",
    "Tool",
    "ToolArguments",
    "ToolContext",
    "ToolResult",
    "failure",
    "fit_output",
    "message_id",
]

MAX_OUTPUT_BYTES = 1000  # what the model gets back stays well under 1 KB

Urgency = Literal["low", "normal", "urgent"]


@dataclass(frozen=True)
class MessageRecord:
    """A message for staff. `id` is derived from the tool call, so a replayed write is a no-op."""

    id: str
    call_sid: str | None
    caller_name: str
    callback_number: str | None
    message: str
    urgency: Urgency = "normal"


def message_id(call_sid: str, tool_call_id: str) -> str:
    return f"msg_{call_sid}_{tool_call_id}"


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may use; built by the call driver for each model function call."""

    call_sid: str
    tool_call_id: str
    caller_number: str | None  # E.164 from Twilio; None when the caller hides it
    business: BusinessClient
    now: Callable[[], datetime]  # aware UTC clock
    save_message: Callable[[MessageRecord], Awaitable[str]]
    transfer_available: bool  # a human number is configured and it is within transfer hours

    @property
    def idempotency_key(self) -> str:
        """Sent with a booking: a replay of this same model call books nothing new."""
        return f"{self.call_sid}:{self.tool_call_id}"

    def offers(self, exclude: str | None = None) -> list[str]:
        """The fallbacks the agent can offer after a failure (never the tool that failed)."""
        options = ["take_message", "transfer"] if self.transfer_available else ["take_message"]
        names = {"take_message": "take_message", "transfer": "transfer_to_human"}
        return [o for o in options if names[o] != exclude]


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: dict[str, Any]  # what the model gets: small JSON phrased for speaking
    outcome: tuple[str, dict[str, Any]] | None = None  # e.g. ("booked", {"appointment_id": ...})
    effect: Literal["end_call", "transfer", "escalate"] | None = None


class ToolArguments(BaseModel):
    """Base of every tool's arguments: unknown keys are schema violations."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


A = TypeVar("A", bound=ToolArguments)


class Tool(ABC, Generic[A]):
    """One function the model can call. The JSON schema is generated from `Arguments`."""

    name: ClassVar[str]
    description: ClassVar[str]  # written for the model: when to call it, what to say
    Arguments: type[A]

    @abstractmethod
    async def run(self, args: A, ctx: ToolContext) -> ToolResult: ...

    def failure_say(self, code: str, default: str) -> str:
        """What the agent should say when the call fails with `code`; tools may refine it."""
        return default


def failure(
    ctx: ToolContext, code: str, say: str, *, tool: str | None = None, **extra: Any
) -> ToolResult:
    """An error result the model can explain, offering a message or (when possible) a person."""
    output: dict[str, Any] = {"ok": False, "error": code, "say": say, **extra}
    output["offer"] = ctx.offers(exclude=tool)
    return ToolResult(ok=False, output=fit_output(output))


def _size(output: dict[str, Any]) -> int:
    return len(orjson.dumps(output))


def fit_output(output: dict[str, Any], limit: int = MAX_OUTPUT_BYTES) -> dict[str, Any]:
    """Shrink an output under `limit` bytes: drop list items from the end, then cut strings."""
    if _size(output) <= limit:
        return output
    out = dict(output)
    while _size(out) > limit:
        lists = [k for k, v in out.items() if isinstance(v, list) and v]
        if not lists:
            break
        longest = max(lists, key=lambda k: len(orjson.dumps(out[k])))
        out[longest] = out[longest][:-1]
        out["truncated"] = True
    while _size(out) > limit:
        strings = [k for k, v in out.items() if isinstance(v, str) and len(v) > 40]
        if not strings:
            break
        longest = max(strings, key=lambda k: len(out[k]))
        out[longest] = out[longest][: max(40, len(out[longest]) - (_size(out) - limit) - 3)] + "..."
    if _size(out) > limit:
        out = {k: out[k] for k in ("ok", "error", "say") if k in out}
    return out
