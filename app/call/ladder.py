"""The model ladder, sans-I/O: when a call moves from the small model to the big one, and how.

A call starts on the small model. It moves once, when the small model asks for it (the
`escalate` tool) or after two failed tool calls. The move: the big model's session is opened in
the background, seeded with the conversation so far, while the small model says one short
bridge line; when that line has been sent and the new session is ready, the driver switches the
call to it and asks it to answer. The bridge line's audio is already queued at Twilio, so the
big model's first audio follows it with no more gap than its own first-audio latency beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.call.events import Usage

ESCALATE_EFFECT = "escalate"
FAILURES_BEFORE_MOVING = 2
BRIDGE_NOTE = (
    "A senior colleague is taking this call over from you. Say exactly one short line, such as "
    '"Let me bring in a colleague who can help with that, one moment.", and nothing else.'
)
TAKEOVER_NOTE = (
    "You are taking this call over from a colleague who just told the caller you would help. "
    "Carry on from where the conversation is: answer the caller now, without greeting again."
)
STAYED_NOTE = (
    "Your colleague could not join after all. Apologise briefly and carry on helping the caller "
    "yourself."
)


@dataclass
class Ladder:
    """One call's place on the ladder. `enabled` is False when no escalation model is set."""

    enabled: bool = False
    reason: str | None = None  # why it moves (set once: a call moves at most once)
    seeded: int = 0  # history lines the new session was seeded with
    ready: bool = False  # the new session is connected
    bridge_response: str | None = None
    bridge_waiting: bool = False  # the next response created is the bridge line
    bridge_done: bool = False
    switched: bool = False
    failed: bool = False
    usage_before: Usage = field(default_factory=Usage)  # what the small model used
    _failures: int = 0

    def trigger(self, effect: str | None, ok: bool) -> str | None:
        """A tool finished: the reason to move now, if this is the moment (once per call)."""
        if not self.enabled or self.reason is not None:
            return None
        if effect == ESCALATE_EFFECT:
            return "asked"
        if not ok:
            self._failures += 1
            if self._failures >= FAILURES_BEFORE_MOVING:
                return "tool_failures"
        return None

    def start(self, reason: str, seeded: int) -> None:
        self.reason = reason
        self.seeded = seeded
        self.bridge_waiting = True

    @property
    def moving(self) -> bool:
        return self.reason is not None and not self.switched and not self.failed

    def response_created(self, response_id: str) -> None:
        if self.moving and self.bridge_waiting:
            self.bridge_waiting = False
            self.bridge_response = response_id

    def response_done(self, response_id: str) -> None:
        if self.moving and response_id == self.bridge_response:
            self.bridge_done = True

    def can_switch(self) -> bool:
        return self.moving and self.ready and self.bridge_done
