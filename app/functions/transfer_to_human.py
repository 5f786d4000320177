"""transfer_to_human: hand the caller to a person, when one can take the call."""

from __future__ import annotations

from pydantic import Field

from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult, failure


class TransferToHumanArgs(ToolArguments):
    reason: str = Field(
        min_length=1, max_length=200, description="Why the caller needs a person, briefly."
    )
    summary: str = Field(
        min_length=1,
        max_length=500,
        description="Two sentences for the staff member: who is calling and what they need.",
    )


class TransferToHuman(Tool[TransferToHumanArgs]):
    name = "transfer_to_human"
    description = (
        "Transfer the caller to a staff member: when they ask for a person, when you cannot "
        "help, or after a tool failed and they prefer a person. If nobody is available the "
        "result says so; then offer to take a message instead."
    )
    Arguments = TransferToHumanArgs

    async def run(self, args: TransferToHumanArgs, ctx: ToolContext) -> ToolResult:
        if not ctx.transfer_available:
            return failure(
                ctx,
                "transfer_unavailable",
                "Nobody can take the call right now; offer to take a message for a call back.",
                tool=self.name,
            )
        return ToolResult(
            ok=True,
            output={
                "ok": True,
                "say": "Tell the caller you're connecting them to a member of the team now.",
            },
            effect="transfer",
        )
