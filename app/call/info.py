"""What the driver knows about the call it runs: ids, the caller, and where Twilio reaches us."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallInfo:
    call_sid: str
    stream_sid: str
    from_number: str | None
    from_state: str | None
    # The base of this call's URLs as Twilio reaches us, https://host, plus /m/<machine id> on a
    # Fly fleet (app/fleet/): absolute URLs in REST TwiML are built on it.
    public_base: str
    # "transfer_failed": back from a transfer nobody answered; "line_dropped": back after the
    # Machine that held the stream went away mid-call.
    resume: str | None = None
    # Decided once, from the webhook's FromState, and carried in the signed stream token: every
    # model session of the call (pre-opened, cold-started, reconnected, resumed) tells the same.
    disclose_recording: bool = False
    # "phone" for a Twilio call, "dev_phone" for the browser's (calls.channel; a metrics label).
    channel: str = "phone"
