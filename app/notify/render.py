"""The words of a notification: an SMS that fits one segment where it can, and an email."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# GSM 03.38: the basic set costs one septet a character, the extension set two. One character
# outside both makes the whole SMS UCS-2: 70 characters a segment instead of 160.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
_LOOKALIKES = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
     "…": "...", "\u00a0": " ", "\u2009": " ", "•": "-", "\t": " "}
)  # fmt: skip
GSM_SEGMENT = 160
UCS2_SEGMENT = 70

TITLES = {
    "message_taken": "Message",
    "transfer_unanswered": "Missed transfer",
    "callback_needed": "Please call back",
    "booking": "New booking",
    "calendar_disconnected": "Calendar disconnected",
}


def _calendar_disconnected(ctx: Mapping[str, Any]) -> tuple[str, str]:
    """(first line, what to do) for a calendar the provider stopped accepting."""
    head = (
        f"Your receptionist lost access to your {ctx.get('provider_name', 'calendar')}"
        f" ({ctx.get('reason', 'access was revoked')})."
    )
    where = f" at {ctx['link']}" if ctx.get("link") else " under Calendar in the staff console"
    todo = f"Callers can't book until you link it again{where}."
    return head, todo


def to_gsm(text: str) -> str:
    """`text` with typographic characters (curly quotes, dashes) and accents GSM-7 lacks made
    plain, so one of them does not halve what the SMS can hold."""
    text = text.translate(_LOOKALIKES)
    out: list[str] = []
    for char in text:
        if char in _GSM_BASIC or char in _GSM_EXTENDED:
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(plain if plain else char)  # no plain form (e.g. Chinese): keep it, as UCS-2
    return "".join(out)


def sms_length(text: str) -> tuple[int, int]:
    """(units used, units in one segment): septets for GSM-7, characters for UCS-2."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text), GSM_SEGMENT
    return len(text), UCS2_SEGMENT


def fit_sms(head: str, middle: str, tail: str) -> str:
    """head + middle + tail, the middle shortened (with "...") so the whole fits one segment;
    when even head and tail do not fit, the middle is dropped and the SMS runs to two."""
    head, middle, tail = to_gsm(head), to_gsm(re.sub(r"\s+", " ", middle)), to_gsm(tail)
    whole = head + middle + tail
    used, limit = sms_length(whole)
    if used <= limit:
        return whole
    keep = len(middle)
    while keep > 0:
        keep -= 1
        cut = middle[:keep].rstrip(" ,.;:") + "..."
        if sms_length(head + cut + tail)[0] <= limit:
            return head + cut + tail
    return head.rstrip(": ") + tail


def _who(ctx: Mapping[str, Any]) -> str:
    name = (ctx.get("caller_name") or "").strip()
    number = ctx.get("caller_number") or "a withheld number"
    return f"{name} {number}" if name else number


def _why(ctx: Mapping[str, Any], summary: str | None) -> str:
    return summary or ctx.get("words") or "no details were given"


def render_sms(kind: str, ctx: Mapping[str, Any], summary: str | None = None) -> str:
    """The SMS for `kind`: who called, why (the summary, else the caller's own words), a link."""
    if kind == "booking_confirmation":
        return fit_sms(
            f"{ctx.get('business', '')}: you're booked for {ctx.get('service')} on "
            f"{ctx.get('when')}",
            f" at {ctx['address']}" if ctx.get("address") else "",
            f". To change it, call {ctx.get('change_phone')}.",
        )
    if kind == "calendar_disconnected":
        head, todo = _calendar_disconnected(ctx)
        return fit_sms("", head, " " + todo)
    link = f" {ctx['link']}" if ctx.get("link") else ""
    title = TITLES.get(kind, "Call")
    if ctx.get("urgency") == "urgent":
        title = "URGENT " + title.lower()
    if kind == "booking":
        return fit_sms(
            f"{title}: {ctx.get('service')} {ctx.get('when')} for {_who(ctx)}", "", "." + link
        )
    return fit_sms(f"{title} from {_who(ctx)}: ", _why(ctx, summary), link)


def render_email(
    kind: str,
    ctx: Mapping[str, Any],
    summary: str | None = None,
    callback_reason: str | None = None,
) -> tuple[str, str]:
    """(subject, plain-text body) of the email for `kind`."""
    if kind == "calendar_disconnected":
        head, todo = _calendar_disconnected(ctx)
        return TITLES[kind], f"{head}\n\n{todo}\n\n-- Your receptionist\n"
    title = TITLES.get(kind, "Call")
    urgent = ctx.get("urgency") == "urgent"
    subject = f"{'URGENT: ' if urgent else ''}{title} from {_who(ctx)}"
    lines = [f"{title} from {_who(ctx)}.", ""]
    if kind == "booking":
        lines += [f"Booked: {ctx.get('service')} on {ctx.get('when')}.", ""]
    if summary:
        lines += ["Summary: " + summary, ""]
    if ctx.get("words"):
        lines += ["In the caller's words: " + str(ctx["words"]), ""]
    if callback_reason:
        lines += ["Call back: " + callback_reason, ""]
    if ctx.get("callback_number") and ctx.get("callback_number") != ctx.get("caller_number"):
        lines += ["Call back on: " + str(ctx["callback_number"]), ""]
    if ctx.get("link"):
        lines += ["The call: " + str(ctx["link"]), ""]
    lines.append("-- Your receptionist")
    return subject, "\n".join(lines) + "\n"
