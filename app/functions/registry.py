"""The tool registry: the session's `tools` list and `dispatch`, which never raises."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult, failure, fit_output
from app.functions.book_appointment import BookAppointment
from app.functions.business_client import BusinessError
from app.functions.check_availability import CheckAvailability
from app.functions.end_call import EndCall
from app.functions.escalate import Escalate
from app.functions.lookup_hours import LookupHours
from app.functions.take_message import TakeMessage
from app.functions.transfer_to_human import TransferToHuman
from app.logging import get_logger

__all__ = ["TOOLS", "dispatch", "parameters_schema", "session_tools"]

log = get_logger(__name__)

TOOLS: dict[str, Tool[Any]] = {
    tool.name: tool
    for tool in (
        LookupHours(),
        CheckAvailability(),
        BookAppointment(),
        TakeMessage(),
        TransferToHuman(),
        EndCall(),
        Escalate(),  # offered only to the ladder's small model (ModelSessions.tools_for)
    )
}

_BUSINESS_FAILURES = {
    "timeout": ("timeout", "Sorry, our scheduling system isn't answering right now."),
    "unreachable": ("backend_unreachable", "Sorry, I can't reach our scheduling system right now."),
    "http": ("backend_error", "Sorry, our scheduling system had a problem with that."),
    "bad_response": (
        "backend_bad_response",
        "Sorry, I couldn't read the answer from our scheduling system.",
    ),
}


def _clean(node: Any, *, names: bool = False) -> Any:
    """Drop pydantic's titles and null defaults; `X | None` becomes X (null stays accepted)."""
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:  # the keys of "properties" are field names, each value a schema
        return {key: _clean(value) for key, value in node.items()}
    out = {
        key: _clean(value, names=key in ("properties", "$defs"))
        for key, value in node.items()
        if key != "title"
    }
    any_of = out.get("anyOf")
    if isinstance(any_of, list):
        others = [s for s in any_of if s != {"type": "null"}]
        if len(others) == 1 and len(others) < len(any_of):
            del out["anyOf"]
            out = {**others[0], **out}
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def parameters_schema(model: type[ToolArguments]) -> dict[str, Any]:
    """The JSON schema the model sees for a tool's arguments."""
    schema: dict[str, Any] = _clean(model.model_json_schema())
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    schema["additionalProperties"] = False
    return schema


def session_tools() -> list[dict[str, Any]]:
    """The OpenAI Realtime (GA) session `tools` entries, one per registered tool."""
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": parameters_schema(tool.Arguments),
        }
        for tool in TOOLS.values()
    ]


def _schema_errors(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        out.append(f"{where}: {error['msg'].removeprefix('Value error, ')}"[:120])
    return out


# The timeout bounds the tool's run only (validation is instant), hence a parameter.
async def dispatch(
    name: str,
    arguments: str,
    ctx: ToolContext,
    timeout: float,
) -> ToolResult:
    """Run one model function call. Every failure comes back as an error result, never raised."""
    tool = TOOLS.get(name)
    if tool is None:
        log.warning("tool_error", tool=name, error="unknown_tool")
        return failure(ctx, "unknown_tool", f"There is no tool called {name[:40]!r}.")
    try:
        args = tool.Arguments.model_validate_json(arguments.strip() or "{}")
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            log.warning("tool_error", tool=name, error="invalid_json")
            return failure(
                ctx, "invalid_json", "The arguments were not valid JSON; call again.", tool=name
            )
        log.warning("tool_error", tool=name, error="invalid_arguments")
        return failure(
            ctx,
            "invalid_arguments",
            "Some details were missing or wrong; ask the caller or fix them and call again.",
            tool=name,
            details=_schema_errors(exc),
        )
    try:
        async with asyncio.timeout(timeout):
            result = await tool.run(args, ctx)
    except TimeoutError:
        code, say = "timeout", _BUSINESS_FAILURES["timeout"][1]
        log.warning("tool_error", tool=name, error=code, timeout_s=timeout)
    except BusinessError as err:
        code, say = _BUSINESS_FAILURES[err.kind]
        log.warning("tool_error", tool=name, error=code, status=err.status)
        extra = {} if err.status is None else {"status": err.status}
        return failure(ctx, code, tool.failure_say(code, say), tool=name, **extra)
    except Exception:
        log.exception("tool_failed", tool=name, tool_call_id=ctx.tool_call_id)
        code, say = "internal_error", "Sorry, something went wrong on my side with that."
    else:
        return ToolResult(
            ok=result.ok,
            output=fit_output(result.output),
            outcome=result.outcome,
            effect=result.effect,
        )
    return failure(ctx, code, tool.failure_say(code, say), tool=name)
