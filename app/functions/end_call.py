"""end_call: the conversation is over; the agent says goodbye and the call ends."""

from __future__ import annotations

from pydantic import Field

from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult


class EndCallArgs(ToolArguments):
    reason: str = Field(
        min_length=1,
        max_length=200,
        description="Why the call is ending, in a few words (e.g. 'caller said goodbye').",
    )


class EndCall(Tool[EndCallArgs]):
    name = "end_call"
    description = (
        "End the call when the conversation is finished: the caller said goodbye or has "
        "nothing else, or the call is abusive or silent. After calling it, say one short "
        "goodbye; the line closes when you finish speaking."
    )
    Arguments = EndCallArgs

    async def run(self, args: EndCallArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult(
            ok=True,
            output={"ok": True, "say": "Say a brief, warm goodbye now; the call ends after it."},
            effect="end_call",
        )
