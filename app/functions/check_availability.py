"""check_availability: the free start times of one service on one local date."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from app.business.wording import spoken_date, spoken_time
from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult, failure
from app.functions.business_client import CALENDAR_UNAVAILABLE, CANT_SEE_DIARY, BusinessError
from app.functions.speech import spread

MAX_SLOTS = 6


class CheckAvailabilityArgs(ToolArguments):
    service: str = Field(
        min_length=1,
        max_length=80,
        description="The service as named in the business facts, e.g. 'Cleaning'.",
    )
    date: dt.date = Field(
        description=(
            "The local date to check, as YYYY-MM-DD. Work out 'tomorrow', 'Friday' or "
            "'next Tuesday' from the current date given in your instructions."
        )
    )


class CheckAvailability(Tool[CheckAvailabilityArgs]):
    name = "check_availability"
    description = (
        "Find free appointment times for one service on one date. Call it when a caller wants "
        "to book, before suggesting any time; offer two or three of the returned times and "
        "keep each slot's exact `start` value for book_appointment. If nothing is free, offer "
        "to check another day."
    )
    Arguments = CheckAvailabilityArgs

    async def run(self, args: CheckAvailabilityArgs, ctx: ToolContext) -> ToolResult:
        try:
            found = await ctx.business.get_availability(args.date, args.service)
        except BusinessError as err:
            if err.kind == "http" and err.status == 422:
                say = f"The scheduling system said: {err.message or 'it cannot check that'}."
                return failure(ctx, err.code or "rejected", say[:300], tool=self.name)
            if err.code == CALENDAR_UNAVAILABLE:
                return failure(ctx, CALENDAR_UNAVAILABLE, CANT_SEE_DIARY, tool=self.name)
            raise
        tz = _zone(found.timezone)
        today = ctx.now().astimezone(tz).date()
        starts = [s.start.astimezone(tz) if tz else s.start for s in found.slots]
        day = spoken_date(args.date, today=today)
        if not starts:
            why = f" (closed for {found.closure_reason})" if found.closure_reason else ""
            say = f"There are no openings for {found.service} on {day}{why}. Offer another day."
            return ToolResult(ok=True, output={"ok": True, "slots": [], "say": say})
        picked = [starts[i] for i in spread(starts, MAX_SLOTS)]
        times = [spoken_time(s) for s in picked]
        output: dict[str, Any] = {
            "ok": True,
            "service": found.service,
            "date": day,
            "slots": [{"time": spoken_time(s), "start": s.isoformat()} for s in picked],
            "free_count": len(starts),
            "say": f"On {day} {found.service} is free at {', '.join(times)}.",
        }
        return ToolResult(ok=True, output=output)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, KeyError):
        return None
