"""What a call leaves in the database: the machine's record actions as rows for the writer.

Every method only queues a row (`CallStore.put` never waits), so the audio path never waits on
the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from app.call import actions as A
from app.db.store import CallStore
from app.realtime.pricing import estimate_ladder_cost


class CallRecords:
    def __init__(self, store: CallStore, call_sid: str, model: str) -> None:
        self._store = store
        self._call_sid = call_sid
        self._model = model
        self._escalated_to: str | None = None

    def stream_started(self, stream_sid: str) -> None:
        self._store.call(self._call_sid, stream_sid=stream_sid)

    def turn(self, action: A.SaveTurn) -> None:
        self._store.turn(
            self._call_sid,
            action.seq,
            action.speaker,
            action.text,
            action.interrupted,
            action.offset_ms,
            action.latency_ms,
        )

    def tool_call(self, action: A.SaveToolCall) -> None:
        self._store.tool_call(
            self._call_sid,
            action.call_id,
            action.name,
            _json_or_text(action.arguments),
            _json_or_text(action.output),
            action.ok,
            action.duration_ms,
            action.offset_ms,
        )

    def greeting(self, action: A.RecordGreeting, disclosed: bool) -> None:
        self._store.call(
            self._call_sid,
            greeting_ms=action.greeting_ms,
            answered_at=datetime.now(UTC),
            recording_disclosed=disclosed,
        )

    def escalated(self, model: str, reason: str, offset_ms: int) -> None:
        """The ladder moved the call to `model` at `offset_ms` into the call, for `reason`."""
        self._escalated_to = model
        self._store.call(
            self._call_sid,
            escalated_model=model,
            escalation_reason=reason,
            escalated_at_ms=offset_ms,
        )

    def outcome(self, action: A.SaveOutcome) -> None:
        self._store.outcome(self._call_sid, action.outcome, action.detail)

    def ended(self, action: A.EndCall) -> Decimal:
        """The call's end, token usage and estimated cost (returned); its outcome unless the
        call was handed to a person (Twilio's callbacks record how that ends)."""
        usage = action.usage
        cost = estimate_ladder_cost(
            self._model, self._escalated_to, usage, action.usage_before_switch
        )
        handed_off = action.reason == "transferred"
        ending: dict[str, Any] = {} if handed_off else {"ended_at": datetime.now(UTC)}
        self._store.call(
            self._call_sid,
            **ending,
            end_reason=action.reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            input_audio_tokens=usage.input_audio_tokens,
            output_audio_tokens=usage.output_audio_tokens,
            cached_tokens=usage.cached_tokens,
            estimated_cost_usd=cost,
        )
        if not handed_off:
            self._store.outcome(self._call_sid, action.outcome, action.outcome_detail)
        return cost

    def crashed(self) -> None:
        """A bug of ours ended the call: no normal end reason was written."""
        self._store.call(self._call_sid, ended_at=datetime.now(UTC), end_reason="internal_error")


def _json_or_text(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return {"raw": value[:2000]}
