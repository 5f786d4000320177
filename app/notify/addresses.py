"""Recipients as settings give them: E.164 numbers, email addresses, the SMTP URL; and masks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Deliberately plain: what an operator types (RFC 5322 allows far more than any MTA accepts).
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
EVENTS = ("message", "transfer_unanswered", "callback", "booking")


def split_list(value: object) -> tuple[str, ...]:
    """A comma-separated setting as its items; also accepts a list or tuple."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return tuple(str(item).strip() for item in items if str(item).strip())


def mask_recipient(recipient: str) -> str:
    """A recipient fit for a log line: a number's last four digits, an address's domain."""
    if "@" in recipient:
        return "***@" + recipient.rsplit("@", 1)[1]
    digits = re.sub(r"\D", "", recipient)
    return "***" + digits[-4:] if len(digits) > 4 else "***"


def check_phones(values: tuple[str, ...]) -> tuple[str, ...]:
    for index, number in enumerate(values, 1):
        if not E164.match(number):
            raise ValueError(
                f"entry {index} ({mask_recipient(number)}) is not an E.164 number like +15551234567"
            )
    return values


def check_email(value: str, what: str = "address") -> str:
    if not EMAIL.match(value) or len(value) > 254:
        raise ValueError(f"{what} {mask_recipient(value)!r} is not a valid email address")
    return value


def check_emails(values: tuple[str, ...]) -> tuple[str, ...]:
    for index, address in enumerate(values, 1):
        check_email(address, f"entry {index}")
    return values


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: smtps:// is TLS from the first byte, smtp:// upgrades with STARTTLS."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """ValueError (never echoing the password) unless `url` is smtp:// or smtps://[user:pw@]host."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must be smtp://user:password@host:port or smtps://...")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("must name a host, e.g. smtps://user:password@smtp.example.com:465")
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
