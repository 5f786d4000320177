"""What the driver knows about the call it runs: ids, the caller, and where Twilio reaches us."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallInfo:
    call_sid: str
    stream_sid: str
    from_number: str | None
    from_state: str | None
    public_base: str  # https://host as Twilio reaches us, for absolute URLs in REST TwiML
    resume: str | None = None  # "transfer_failed": the caller is back from an unanswered transfer
