"""What a call sends out and waits for beside the audio: a tool's run, a transfer's start.

Each runs in its own task and comes back as the event the machine handles; neither ever raises
through the call: a crash becomes a result the model can talk about, so the caller hears the
agent again rather than silence.
"""

from __future__ import annotations

import time

import orjson

from app.call import actions as A
from app.call.info import CallInfo
from app.call.meter import CallMeter
from app.call.ports import CallServices, ToolReport
from app.logging import get_logger

log = get_logger(__name__)

TOOL_CRASHED = orjson.dumps(
    {
        "ok": False,
        "error": "internal_error",
        "say": "Sorry, that didn't work on our side. Offer to take a message instead.",
    }
).decode()


async def run_tool(
    services: CallServices, info: CallInfo, meter: CallMeter, action: A.StartTool
) -> ToolReport:
    """The tool's result; a crash is an error result the model can speak about."""
    started = time.perf_counter()
    try:
        result = await services.run_tool(info, action.call_id, action.name, action.arguments)
    except Exception:
        # A bug in a tool must not leave the caller on hold until the cap: the model hears
        # that it failed and can say so (and the hold tone stops).
        log.exception("tool_crashed", tool=action.name)
        result = ToolReport(False, TOOL_CRASHED)
    meter.tool(action.name, time.perf_counter() - started, result.ok, result.output)
    return result


async def start_transfer(
    services: CallServices, info: CallInfo, meter: CallMeter, action: A.StartTransfer
) -> str | None:
    """Start the warm transfer; the reason it failed, or None when the call is on its way."""
    try:
        ok, reason = await services.transfer(info, action.reason, action.summary)
    except Exception:  # the caller must hear the agent again, never silence
        log.exception("transfer_crashed")
        ok, reason = False, "internal_error"
    meter.transfer(ok)
    return None if ok else reason
