"""Who is told about what: outbox rows for an event, from the settings and the business profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.notify.render import render_email, render_sms

# The owner's events (NOTIFY_ON names) and the kind each one's rows carry.
OWNER_KINDS = {
    "message_taken": "message",
    "transfer_unanswered": "transfer_unanswered",
    "callback_needed": "callback",
    "booking": "booking",
}


@dataclass(frozen=True)
class NotifyPlan:
    sms_to: tuple[str, ...]
    email_to: tuple[str, ...]
    events: frozenset[str]
    booking_sms: bool
    public_base_url: str | None
    business: str
    address: str
    business_phone: str | None

    @classmethod
    def from_settings(cls, settings: Settings, business: str, address: str) -> NotifyPlan:
        return cls(
            sms_to=settings.notify_sms_to,
            email_to=settings.notify_email_to,
            events=frozenset(settings.notify_on),
            booking_sms=settings.booking_sms,
            public_base_url=settings.public_base_url,
            business=business,
            address=address,
            business_phone=settings.twilio_phone_number,
        )

    def link(self, call_sid: str | None) -> str | None:
        """The call's page in the staff console."""
        if not call_sid or not self.public_base_url:
            return None
        return f"{self.public_base_url}/staff/calls/{call_sid}"

    def owner_rows(
        self, kind: str, event_id: str, call_sid: str | None, context: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """One row per owner recipient of `kind`, if NOTIFY_ON includes it; they wait for the
        call's summary (a few seconds at most after the call ends, see app/notify/outbox.py)."""
        if OWNER_KINDS[kind] not in self.events:
            return []
        ctx = {**context, "link": self.link(call_sid)}
        rows = [_row(kind, event_id, call_sid, "sms", to, ctx, True) for to in self.sms_to]
        rows += [_row(kind, event_id, call_sid, "email", to, ctx, True) for to in self.email_to]
        return rows

    def alert_rows(self, kind: str, event_id: str, context: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per owner recipient for something the owner must fix (e.g. a calendar that
        was disconnected): sent whatever NOTIFY_ON says, without waiting for any call."""
        ctx = {**context, "business": self.business}
        rows = [_row(kind, event_id, None, "sms", to, ctx, False) for to in self.sms_to]
        rows += [_row(kind, event_id, None, "email", to, ctx, False) for to in self.email_to]
        return rows

    def confirmation_row(
        self, event_id: str, call_sid: str | None, phone: str, context: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The booking confirmation SMS to the caller, when BOOKING_SMS is on."""
        if not self.booking_sms or not phone.startswith("+"):
            return []
        ctx = {
            **context,
            "business": self.business,
            "address": self.address,
            "change_phone": self.business_phone,
        }
        return [_row("booking_confirmation", event_id, call_sid, "sms", phone, ctx, False)]


def _row(
    kind: str,
    event_id: str,
    call_sid: str | None,
    channel: str,
    recipient: str,
    ctx: dict[str, Any],
    wait: bool,
) -> dict[str, Any]:
    if channel == "sms":
        subject, body = None, render_sms(kind, ctx)
    else:
        subject, body = render_email(kind, ctx)
    return {
        # One per event, channel and recipient: a replayed or repeated write adds nothing.
        "idempotency_key": f"{kind}:{event_id}:{channel}:{recipient}",
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
        "call_sid": call_sid,
        "subject": subject,
        "body": body,
        "context": ctx,
        "wait_for_summary": wait,
    }
