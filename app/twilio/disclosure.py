"""When to tell a caller the call is recorded and handled by an AI (RECORDING_DISCLOSURE)."""

from __future__ import annotations

from app.config import RecordingDisclosure, Settings

# States whose wiretap laws require every party's consent to record a call (all-party consent),
# as Twilio reports them in FromState. Oregon and Nevada apply it to some calls; we err on the
# side of telling the caller.
ALL_PARTY_CONSENT_STATES = frozenset(
    {"CA", "CT", "DE", "FL", "IL", "MD", "MA", "MI", "MT", "NV", "NH", "OR", "PA", "WA"}
)


def must_disclose(settings: Settings, from_state: str | None) -> bool:
    """Tell this caller? Always when calls are recorded (CALL_RECORDING=on): the disclosure is
    the consent, and a caller's state says nothing of where they are calling from."""
    if settings.call_recording:
        return True
    policy = settings.recording_disclosure
    if policy is RecordingDisclosure.ALWAYS:
        return True
    if policy is RecordingDisclosure.NEVER:
        return False
    return (from_state or "").strip().upper() in ALL_PARTY_CONSENT_STATES
