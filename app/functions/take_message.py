"""take_message: a message for staff to call back, stored in the messages table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from app.functions.base import (
    MessageRecord,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    message_id,
)
from app.functions.speech import clean_phone, phone_ending


class TakeMessageArgs(ToolArguments):
    caller_name: str = Field(min_length=1, max_length=100, description="The caller's name.")
    message: str = Field(
        min_length=1,
        max_length=1000,
        description="What the caller needs, in their words, with any dates, names or details.",
    )
    callback_number: str | None = Field(
        default=None,
        max_length=40,
        description="Where to call back; leave it out to use the number the caller is calling from.",
    )
    urgency: Literal["low", "normal", "urgent"] = Field(
        default="normal",
        description="urgent: needs a call back today (pain, a problem with today's visit).",
    )

    @field_validator("callback_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return clean_phone(value)


class TakeMessage(Tool[TakeMessageArgs]):
    name = "take_message"
    description = (
        "Take a message for the staff to call the caller back: when the caller asks for it, "
        "when something cannot be done on the phone, or when a tool failed. Get the caller's "
        "name and what they need; confirm the callback number if they are not calling from it."
    )
    Arguments = TakeMessageArgs

    async def run(self, args: TakeMessageArgs, ctx: ToolContext) -> ToolResult:
        number = args.callback_number or ctx.caller_number
        if number is None:
            return ToolResult(
                ok=False,
                output={
                    "ok": False,
                    "error": "needs_callback_number",
                    "say": "Ask for a number the team can call back on, then save the message.",
                },
            )
        record = MessageRecord(
            id=message_id(ctx.call_sid, ctx.tool_call_id),
            call_sid=ctx.call_sid,
            caller_name=args.caller_name,
            callback_number=number,
            message=args.message,
            urgency=args.urgency,
        )
        saved = await ctx.save_message(record)
        soon = "as soon as possible" if args.urgency == "urgent" else "soon"
        return ToolResult(
            ok=True,
            output={
                "ok": True,
                "message_id": saved,
                "say": (
                    f"Message saved. Tell {args.caller_name} the team will call back {soon} "
                    f"on {phone_ending(number)}."
                ),
            },
            outcome=("message_taken", {"message_id": saved, "urgency": args.urgency}),
        )
