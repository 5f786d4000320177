"""What one call tells the metrics (app/metrics.py): the driver's only link to them.

Labels come from small fixed sets (the call's channel, a tool of the registry, an error code
squeezed by `label`), never from the call's identity. Frames are timed one in FRAME_SAMPLE (the
1st, 17th, ... of each direction), so the audio path pays a counter and a mask per frame.
"""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from app.call import events as E
from app.metrics import FRAME_SAMPLE, Metrics, channel_label, label

_MASK = FRAME_SAMPLE - 1


class CallMeter:
    def __init__(self, metrics: Metrics, channel: str) -> None:
        self.metrics = metrics
        self.channel = channel_label(channel)
        self._sampling = metrics.frame_sampling
        self._frames_in = 0
        self._frames_out = 0
        # One agent audio event being timed from its arrival until its actions are carried out.
        self._probe: E.Event | None = None
        self._probe_since = 0.0

    def started(self, *, cold_start: bool) -> None:
        self.metrics.call_started(self.channel, cold_start)

    # --- the relay (per frame: keep it cheap) ----------------------------------------------

    def caller_frame(self) -> float:
        """A frame came from the caller: perf_counter() if it is one to time, else 0.0."""
        if not self._sampling:
            return 0.0
        self._frames_in += 1
        return time.perf_counter() if self._frames_in & _MASK == 1 else 0.0

    def caller_frame_sent(self, received: float) -> None:
        """The timed frame was forwarded to the model."""
        self._observe("to_model", received)

    def agent_frame(self, event: E.Event) -> None:
        """Agent audio arrived from the model (before the inbox)."""
        if not self._sampling:
            return
        self._frames_out += 1
        if self._frames_out & _MASK == 1:
            self._probe = event
            self._probe_since = time.perf_counter()

    def handled(self, event: E.Event) -> None:
        """The driver has carried out `event`'s actions (its audio is sent to the caller)."""
        if event is self._probe:
            self._probe = None
            self._observe("to_caller", self._probe_since)

    def _observe(self, direction: str, since: float) -> None:
        self.metrics.relay_frame.labels(direction).observe(time.perf_counter() - since)

    # --- per call, turn and tool -----------------------------------------------------------

    def model_error(self, code: str | None) -> None:
        # OpenAI's error codes are short snake_case words; anything else counts as "other".
        self.metrics.model_errors.labels(label(code or "unknown")).inc()

    def model_disconnected(self) -> None:
        self.metrics.model_errors.labels("disconnected").inc()

    def reconnected(self, ok: bool) -> None:
        self.metrics.model_reconnects.labels("ok" if ok else "failed").inc()

    def greeting(self, ms: int) -> None:
        self.metrics.greeting.labels(self.channel).observe(ms / 1000)

    def turn_latency(self, ms: int) -> None:
        self.metrics.turn_latency.labels(self.channel).observe(ms / 1000)

    def tool(self, name: str, seconds: float, ok: bool, output: str) -> None:
        self.metrics.tool_finished(name, seconds, None if ok else tool_error_kind(output))

    def transfer(self, started: bool) -> None:
        self.metrics.transfers.labels("started" if started else "not_started").inc()

    def ended(self, outcome: str, reason: str, seconds: float, model: str, cost: Decimal) -> None:
        self.metrics.call_ended(self.channel, outcome, reason, seconds, model, cost)


def tool_error_kind(output: str) -> str:
    """The `error` of a failed tool's JSON result (app/functions/base.py), as a label."""
    try:
        parsed = orjson.loads(output)
    except orjson.JSONDecodeError:
        return "unreadable"
    return label(parsed.get("error") if isinstance(parsed, dict) else None)
