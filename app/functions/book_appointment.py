"""book_appointment: book a free slot, only after the caller confirmed the read-back."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field, StrictBool, TypeAdapter, ValidationError, field_validator

from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult, failure
from app.functions.business_client import CALENDAR_UNAVAILABLE, CANT_SEE_DIARY, BusinessError, Slot
from app.functions.speech import clean_phone, relative_when

_SLOTS = TypeAdapter(list[Slot])


class BookAppointmentArgs(ToolArguments):
    service: str = Field(min_length=1, max_length=80, description="The service to book.")
    start: AwareDatetime = Field(
        description="The exact `start` value of a free slot from check_availability."
    )
    customer_name: str = Field(
        min_length=1, max_length=100, description="The caller's full name, as they confirmed it."
    )
    customer_phone: str | None = Field(
        default=None,
        max_length=40,
        description="A phone number for the booking; leave it out to use the caller's number.",
    )
    notes: str | None = Field(
        default=None, max_length=300, description="Anything staff should know (optional)."
    )
    caller_confirmed: StrictBool = Field(
        description=(
            "true only after you read back the service, day, time and name and the caller "
            "said yes to exactly these details."
        )
    )

    @field_validator("customer_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return clean_phone(value)


class BookAppointment(Tool[BookAppointmentArgs]):
    name = "book_appointment"
    description = (
        "Book an appointment in a free slot found with check_availability. Nothing is booked "
        "without the caller's yes: first read back the service, the day and time, and the "
        "name, ask the caller to confirm, and call this only after they say yes, with "
        "caller_confirmed true. If the slot was just taken, offer the returned alternatives."
    )
    Arguments = BookAppointmentArgs

    async def run(self, args: BookAppointmentArgs, ctx: ToolContext) -> ToolResult:
        if not args.caller_confirmed:
            return ToolResult(
                ok=False,
                output={
                    "ok": False,
                    "error": "needs_confirmation",
                    "say": "Read the details back and ask the caller to confirm first.",
                },
            )
        phone = args.customer_phone or ctx.caller_number
        if phone is None:
            return ToolResult(
                ok=False,
                output={
                    "ok": False,
                    "error": "needs_phone",
                    "say": "Ask for a phone number for the booking, then book again.",
                },
            )
        payload = {
            "service": args.service,
            "start": args.start.isoformat(),
            "customer_name": args.customer_name,
            "customer_phone": phone,
            "notes": args.notes,
            "call_sid": ctx.call_sid,
        }
        try:
            booked = await ctx.business.book(payload, ctx.idempotency_key)
        except BusinessError as err:
            if err.kind == "http" and err.status == 409:
                return self._taken(err, ctx)
            if err.kind == "http" and err.status == 422:
                say = f"The booking system refused it: {err.message or 'invalid details'}."
                return failure(ctx, err.code or "rejected", say[:300], tool=self.name)
            if err.code == CALENDAR_UNAVAILABLE:  # nothing was booked: never book blind
                return failure(ctx, CALENDAR_UNAVAILABLE, CANT_SEE_DIARY, tool=self.name)
            raise
        today = ctx.now().astimezone(booked.start.tzinfo).date()
        when = relative_when(booked.start, today)
        return ToolResult(
            ok=True,
            output={
                "ok": True,
                "appointment_id": booked.id,
                "service": booked.service,
                "when": when,
                "start": booked.start.isoformat(),
                "say": f"Booked: {booked.service} {when} for {args.customer_name}.",
            },
            outcome=(
                "booked",
                {
                    "appointment_id": booked.id,
                    "service": booked.service,
                    "start": booked.start.isoformat(),
                },
            ),
        )

    def _taken(self, err: BusinessError, ctx: ToolContext) -> ToolResult:
        raw = err.body.get("alternatives", []) if isinstance(err.body, dict) else []
        try:
            slots = _SLOTS.validate_python(raw)[:3]
        except ValidationError:
            slots = []
        now = ctx.now()
        alternatives: list[dict[str, Any]] = [
            {
                "when": relative_when(s.start, now.astimezone(s.start.tzinfo).date()),
                "start": s.start.isoformat(),
            }
            for s in slots
        ]
        if alternatives:
            options = "; ".join(a["when"] for a in alternatives)
            say = f"That time was just taken. Offer these instead: {options}."
        else:
            say = "That time was just taken and nothing close is free. Offer another day."
        return failure(ctx, "slot_taken", say, tool=self.name, alternatives=alternatives)

    def failure_say(self, code: str, default: str) -> str:
        if code == "timeout":
            # The booking may have been made: booking again could double-book the caller.
            return (
                "Sorry, the booking system didn't confirm in time, so I can't be sure it "
                "went through. Do not book again; offer a message so staff confirm it."
            )
        return default
