"""escalate: the small model of the ladder hands the call to the big one (app/call/ladder.py).

Offered only when the ladder is on (OPENAI_ESCALATION_MODEL) and only to the small model.
"""

from __future__ import annotations

from pydantic import Field

from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult

NAME = "escalate"


class EscalateArgs(ToolArguments):
    reason: str = Field(
        min_length=1,
        max_length=200,
        description="What the caller needs that you cannot give, in a few words.",
    )


class Escalate(Tool[EscalateArgs]):
    name = NAME
    description = (
        "Call this when the caller needs more than you can give: a question you cannot answer "
        "well, a request too involved for you, or a caller your answers are not helping. A more "
        "capable colleague takes the call over right after. Then say one short line such as "
        '"Let me bring in a colleague for that, one moment." and nothing more.'
    )
    Arguments = EscalateArgs

    async def run(self, args: EscalateArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult(
            ok=True,
            output={"ok": True, "say": "Say one short line that a colleague is joining."},
            effect="escalate",
        )
