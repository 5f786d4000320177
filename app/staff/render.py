"""Templates (autoescaped, from app/staff/templates) and the filters they format data with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import orjson
from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from app.callers.numbers import is_withheld
from app.staff.calls import MARK_END, MARK_START

TEMPLATES = Path(__file__).parent / "templates"

OUTCOME_LABELS = {
    "booked": "Booked",
    "transferred": "Put through",
    "transfer_failed": "Transfer failed",
    "message_taken": "Message taken",
    "info_provided": "Answered a question",
    "no_resolution": "Not resolved",
    "abandoned": "Hung up early",
    "rejected": "Turned away",
    "in_progress": "In progress",
    "no_outcome": "No outcome",
}

# Notification kinds (app/notify/plan.py) as the console names them.
NOTIFICATION_LABELS = {
    "message_taken": "Message",
    "transfer_unanswered": "Missed transfer",
    "callback_needed": "Call back",
    "booking": "New booking",
    "booking_confirmation": "Booking confirmation",
}


def outcome_label(outcome: str | None) -> str:
    return OUTCOME_LABELS.get(outcome or "no_outcome", (outcome or "").replace("_", " "))


def notification_label(kind: str) -> str:
    return NOTIFICATION_LABELS.get(kind, kind.replace("_", " ").capitalize())


def recipient(channel: str, to: str) -> str:
    """Where a notification went: a number formatted as elsewhere in the console, or an address."""
    return phone(to) if channel == "sms" else to


def tel_href(number: str | None) -> str:
    """A tel: link for the number, with only + and digits (nothing else reaches the href)."""
    cleaned = re.sub(r"[^\d+]", "", number or "")
    return f"tel:{cleaned}" if cleaned.strip("+") else ""


def phone(number: str | None) -> str:
    """+16175550142 -> +1 617-555-0142 (North American numbers); others as stored."""
    if not number:
        return "unknown number"
    match = re.fullmatch(r"\+1(\d{3})(\d{3})(\d{4})", number)
    return f"+1 {match[1]}-{match[2]}-{match[3]}" if match else number


def caller(call: Mapping[str, Any]) -> str:
    """Who called, as a list shows it: the number, or "Dev phone" for a call from the browser."""
    if call.get("channel") == "dev_phone":
        return "Dev phone"
    return phone(call.get("from_number"))


def caller_number(call: Mapping[str, Any]) -> str:
    """The number a caller page is about; "" for a dev phone call or a withheld number."""
    number = call.get("from_number")
    if call.get("channel") == "dev_phone" or is_withheld(number):
        return ""
    return str(number)


def duration(value: timedelta | float | int | None) -> str:
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def offset(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes:02d}:{seconds:02d}"


def marked(snippet: str | None) -> Markup:
    """Escape a search snippet, then show the matched words (ts_headline's markers) as <mark>."""
    escaped = str(escape(snippet or ""))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def make_templates(tz: ZoneInfo) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: call data is untrusted text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(value: datetime | None, fmt: str = "%a %-d %b, %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value is not None else "–"

    env.filters.update(
        local=local,
        outcome_label=outcome_label,
        notification_label=notification_label,
        tel=tel_href,
        phone=phone,
        caller=caller,
        caller_number=caller_number,
        duration=duration,
        offset=offset,
        marked=marked,
        pretty_json=pretty_json,
    )
    env.globals["recipient"] = recipient
    return Jinja2Templates(env=env)
