"""lookup_hours: open now? until when, or when next? weekly hours and coming closures."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Any

from pydantic import Field

from app.business.hours import is_open, opening_status, periods, upcoming_closures
from app.business.wording import describe_ranges, describe_week, spoken_date, spoken_time
from app.functions.base import Tool, ToolArguments, ToolContext, ToolResult
from app.functions.business_client import HoursInfo
from app.functions.speech import relative_when


class LookupHoursArgs(ToolArguments):
    date: dt.date | None = Field(
        default=None,
        description=(
            "A specific local date to ask about, as YYYY-MM-DD (work out 'Saturday' or "
            "'next Friday' from the current date in your instructions). Leave it out for "
            "'are you open now?' and general hours questions."
        ),
    )


class LookupHours(Tool[LookupHoursArgs]):
    name = "lookup_hours"
    description = (
        "Look up the business's opening hours: whether it is open right now, until when, when "
        "it next opens, the weekly hours and holiday closures coming up. Call this before "
        "answering any question about hours, holidays or whether the business is open on a "
        "given day; never guess hours. Pass `date` to ask about one specific day."
    )
    Arguments = LookupHoursArgs

    async def run(self, args: LookupHoursArgs, ctx: ToolContext) -> ToolResult:
        info = await ctx.business.get_hours()
        now = ctx.now()
        if args.date is not None:
            return ToolResult(ok=True, output=_one_day(info, args.date, now))
        return ToolResult(ok=True, output=_now(info, now))


def _day_words(info: HoursInfo, day: date) -> str:
    spans = periods(info, day)
    return describe_ranges([(a.astimezone(info.tz), b.astimezone(info.tz)) for a, b in spans])


def _closure_words(first: date, last: date, reason: str, today: date) -> str:
    when = spoken_date(first, today=today)
    if last != first:
        when += " to " + spoken_date(last, today=today)
    return f"{when}: {reason}"


def _now(info: HoursInfo, now: datetime) -> dict[str, Any]:
    today = now.astimezone(info.tz).date()
    status = opening_status(info, now)
    output: dict[str, Any] = {
        "ok": True,
        "open_now": status["open_now"],
        "now": relative_when(now.astimezone(info.tz), today),
        "today": _day_words(info, today),
    }
    if status["open_now"]:
        closes = datetime.fromisoformat(status["closes_at"])
        output["closes_at"] = spoken_time(closes)
        say = f"We're open now until {spoken_time(closes)} today."
    else:
        reason = status["closure_reason"]
        say = f"We're closed today for {reason}." if reason else "We're closed right now."
        if status["next_opening"]:
            opening = relative_when(datetime.fromisoformat(status["next_opening"]), today)
            output["next_opening"] = opening
            say += f" We open again {opening}."
    output["weekly"] = describe_week(info.weekly.as_pairs())
    output["closures_soon"] = [
        _closure_words(c.date, c.last, c.reason, today)
        for c in upcoming_closures(info, today, days=30)[:3]
    ]
    output["say"] = say
    return output


def _one_day(info: HoursInfo, day: date, now: datetime) -> dict[str, Any]:
    today = now.astimezone(info.tz).date()
    closure = next((c for c in info.closures if c.covers(day)), None)
    hours = _day_words(info, day)
    when = "today" if day == today else f"on {spoken_date(day, today=today)}"
    if closure is not None:
        say = f"We're closed {when} for {closure.reason}."
    elif hours == "closed":
        say = f"We're closed {when}."
    else:
        say = f"{when[0].upper()}{when[1:]} we're open {hours}."
    output: dict[str, Any] = {
        "ok": True,
        "date": spoken_date(day, today=today),
        "hours": hours,
        "closure_reason": closure.reason if closure else None,
    }
    if day == today:
        output["open_now"] = is_open(info, now)
    output["say"] = say
    return output
