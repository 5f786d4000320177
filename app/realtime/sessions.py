"""Opens a call's model sessions: the business's instructions and tools, greeting or not."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.callers.memory import add_caller_note
from app.config import Settings
from app.functions.escalate import NAME as ESCALATE_TOOL
from app.logging import get_logger
from app.realtime.client import ModelSession, PreparedSessions, opening_messages
from app.realtime.session import PromptContext, render_instructions, session_config

log = get_logger(__name__)
MODEL_REFUSED_FIX = (
    "OpenAI will not serve this model to this API key: set OPENAI_REALTIME_MODEL to a model "
    "your OpenAI project can use (GET /v1/models lists them), or give the project access; "
    "until then every call goes to HUMAN_TRANSFER_NUMBER"
)
# Callers' notes kept for the later sessions of their calls (reconnect, ladder, resume), newest
# last; the oldest are dropped beyond this many, long after their calls have ended.
NOTES_KEPT = 1000


@dataclass(frozen=True)
class BusinessPrompt:
    """What the instructions say about the business, fixed at start-up."""

    template: str
    name: str
    facts: str
    timezone: ZoneInfo
    transfer_available: Callable[[datetime], bool]


class ModelSessions:
    """Every model session of every call is opened here, with the same instructions and tools.

    Sessions opened at webhook time wait in `prepared` until their stream adopts them.
    """

    def __init__(
        self,
        settings: Settings,
        prompt: BusinessPrompt,
        tools: list[dict[str, Any]],
        prepared: PreparedSessions,
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._prompt = prompt
        self._tools = tools
        self.prepared = prepared
        self._now = now
        self._refusal_logged = False
        self._notes: OrderedDict[str, str] = OrderedDict()

    def instructions(self, disclose_recording: bool, caller_note: str | None = None) -> str:
        """The call's instructions: the business's prompt, then the caller's note if any."""
        now = self._now()
        prompt = self._prompt
        rendered = render_instructions(
            prompt.template,
            PromptContext(
                business_name=prompt.name,
                business_facts=prompt.facts,
                now=now.astimezone(prompt.timezone),
                transfer_available=prompt.transfer_available(now),
                disclose_recording=disclose_recording,
            ),
        )
        return add_caller_note(rendered, caller_note)

    @property
    def escalation_model(self) -> str | None:
        """The ladder's big model; None when the ladder is off."""
        return self._settings.openai_escalation_model

    def tools_for(self, model: str) -> list[dict[str, Any]]:
        """The same tools for every session, but `escalate` only for the ladder's small model."""
        small = self.escalation_model is not None and model != self.escalation_model
        return [t for t in self._tools if small or t.get("name") != ESCALATE_TOOL]

    def open(
        self,
        call_sid: str,
        *,
        greet: bool,
        disclose_recording: bool = False,
        extra: list[str] | None = None,
        model: str | None = None,
        caller_note: Awaitable[str | None] | None = None,
    ) -> ModelSession:
        """Connect now (in the background); `extra` items go in before any greeting.

        `model` is the ladder's big model when the call moves to it; else OPENAI_REALTIME_MODEL.
        `caller_note`: the returning caller's note, still being looked up (app/callers/): the
        socket connects meanwhile and the instructions are written once it is known.
        """
        model = model or self._settings.openai_realtime_model
        tools = self.tools_for(model)

        def messages(note: str | None) -> list[str]:
            instructions = self.instructions(disclose_recording, note)
            session = session_config(self._settings, instructions, tools, model)
            first = opening_messages(session, greet=False) + (extra or [])
            if greet:
                first += opening_messages(session, greet=True)[1:]
            return first

        async def with_note(note: Awaitable[str | None]) -> Sequence[str]:
            found = await note
            if found:
                self._keep_note(call_sid, found)
            return messages(found)

        if caller_note is None:  # a later session of the call tells what its first was told
            opening: Sequence[str] | Awaitable[Sequence[str]] = messages(self._notes.get(call_sid))
        else:
            opening = asyncio.ensure_future(with_note(caller_note))
        return ModelSession(self._settings, call_sid, opening, model=model)

    def _keep_note(self, call_sid: str, note: str) -> None:
        self._notes[call_sid] = note
        self._notes.move_to_end(call_sid)
        while len(self._notes) > NOTES_KEPT:
            self._notes.popitem(last=False)

    def prepare(
        self,
        call_sid: str,
        *,
        disclose_recording: bool = False,
        extra: list[str] | None = None,
        caller_note: Awaitable[str | None] | None = None,
    ) -> None:
        """Open a session that starts its greeting now, for the stream on its way."""
        self.prepared.add(
            self.open(
                call_sid,
                greet=True,
                disclose_recording=disclose_recording,
                extra=extra,
                caller_note=caller_note,
            )
        )

    def refused(self, code: str, message: str) -> None:
        """The API refused the model: said once per process (every call would say it again)."""
        if self._refusal_logged:
            return
        self._refusal_logged = True
        log.error(
            "model_refused",
            model=self._settings.openai_realtime_model,
            code=code,
            message=message[:200],
            fix=MODEL_REFUSED_FIX,
        )

    def adopt(self, call_sid: str) -> ModelSession | None:
        """The session opened for this call's stream, if this process opened one."""
        return self.prepared.adopt(call_sid)
