"""Log hygiene: phone numbers keep only their last four digits and credentials are redacted,
wherever they appear: fields at any depth, exception messages and tracebacks, other libraries'
lines, in JSON and in console output alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from app.config import LogFormat
from app.logging import configure_logging, get_logger, mask_event_dict, mask_phone, mask_text

CALL_SID = "CA0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15551234567", "***4567"),
        ("555-123-4567", "***4567"),
        ("12", "***"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone_keeps_the_last_four_digits(number: str | None, masked: str | None) -> None:
    assert mask_phone(number) == masked


def test_masking_twice_changes_nothing() -> None:
    assert mask_phone(mask_phone("+15551234567")) == "***4567"
    once = mask_text("call +14155550123 or (415) 555-0123, key sk-abcdef123456")
    assert mask_text(once) == once


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("from +14155550123 now", "from ***0123 now"),
        ("uk +44 20 7946 0958.", "uk ***0958."),
        ("us +1 (415) 555-0123", "us ***0123"),
        ("call (415) 555-0123", "call ***0123"),
        ("call 415-555-0123", "call ***0123"),
        ("call 415.555.0123", "call ***0123"),
        ("call 415 555 0123", "call ***0123"),
        ("call 1-415-555-0123", "call ***0123"),
        ("london 020 7946 0958", "london ***0958"),
        ("mobile 07700 900123", "mobile ***0123"),
        ("(+447700900123)", "(***0123)"),
    ],
)
def test_phone_numbers_in_the_usual_formats_are_masked_in_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "greeting_ms=812 duration_ms=1500 port=5050",
        "at 2026-11-21T12:00:00.123456+00:00 (2026-11-21 12:00:00)",
        f"call_sid={CALL_SID}",
        "request_id=6ddabf51d1ef4318a9edf784cfd6246f",
        "epoch 1764751234 took 12345678 us over 3 retries",
        "listening on 127.0.0.1:5050 and 192.168.100.200",
        "cost 0.1234 USD, version 3.11.7, offset +05:30",
        "rows 200 of 5000",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("> Authorization: Bearer sk-abc123secret", "abc123secret"),
        ("authorization: Basic QUMxMjM6c2VjcmV0dG9rZW4=", "QUMxMjM6c2VjcmV0dG9rZW4"),
        ("key sk-proj-XYZ123456", "XYZ123456"),
        ("GET https://AC123:twiliotoken99@api.twilio.com/2010-04-01", "twiliotoken99"),
        ("postgresql://rx:hunter2pass@db.internal:5432/rx", "hunter2pass"),
        ("twilio_auth_token=abcdef0123456789 next", "abcdef0123456789"),
        ('{"api_key": "k-1234567890"}', "k-1234567890"),
    ],
)
def test_credentials_in_free_text_are_redacted(text: str, secret: str) -> None:
    masked = mask_text(text)
    assert secret not in masked and "[redacted]" in masked


def test_fields_are_masked_at_any_depth_by_key_and_by_content() -> None:
    event: dict[str, Any] = {
        "event": "params",
        "caller": "+15551234567",
        "detail": "call from +447700900123 failed",
        "params": {"From": "+14155550123", "Body": ["see (415) 555-0123", ("415.555.0123",)]},
        "auth_token": "s3cr3t-value",
        "call_sid": CALL_SID,
        "timestamp": "2026-11-21T12:00:00Z",
        "duration_ms": 1500,
    }
    out = mask_event_dict(None, "info", event)
    assert out["caller"] == "***4567"
    assert out["detail"] == "call from ***0123 failed"
    assert out["params"] == {"From": "***0123", "Body": ["see ***0123", ("***0123",)]}
    assert out["auth_token"] == "[redacted]"
    assert out["call_sid"] == CALL_SID and out["timestamp"] == "2026-11-21T12:00:00Z"
    assert out["duration_ms"] == 1500


def test_dict_tracebacks_are_masked_once_rendered() -> None:
    """structlog's structured tracebacks hold the message in nested dicts and lists."""
    try:
        raise ValueError("no slot for +14155550123")
    except ValueError:
        event = structlog.processors.dict_tracebacks(None, "error", {"exc_info": True})
    out = json.dumps(mask_event_dict(None, "error", event), default=repr)
    assert "4155550123" not in out and "***0123" in out


# --- through the configured pipeline, read back from the real output ---------------------------

PHONE_FORMS = ("+14155550123", "4155550123", "555-0123", "+44 20 7946 0958", "7946 0958")
SECRETS = ("abcdef123456", "twiliotoken99")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back as it was after the test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    yield
    root.handlers[:], level, config = saved
    root.setLevel(level)
    structlog.configure(**config)


def _log_everything() -> None:
    """A real exception carrying phone numbers and credentials, logged every way the app does."""
    log = get_logger("test.masking")

    def book() -> None:
        raise LookupError(
            "no slot for caller +14155550123 (callback (415) 555-0123 or +44 20 7946 0958), "
            "key sk-abcdef123456"
        )

    try:
        book()
    except LookupError:
        log.exception("booking_failed", call_sid=CALL_SID)
        log.error("booking_failed_again", exc_info=True)
        logging.getLogger("uvicorn.error").exception("ASGI callable raised")
    log.info(
        "nested",
        detail={"from": "+14155550123", "notes": ["415.555.0123", ("+44 20 7946 0958",)]},
        url="https://AC123:twiliotoken99@api.twilio.com/x",
        error=LookupError("caller +14155550123"),
    )
    log.info(
        "ordinary",
        duration_ms=1500,
        port=5050,
        call_sid=CALL_SID,
        at="2026-11-21T12:00:00.123456+00:00",
    )


def _assert_masked(text: str) -> None:
    for needle in (*PHONE_FORMS, *SECRETS):
        assert needle not in text, needle
    assert text.count("***0123") >= 8 and "***0958" in text
    assert text.count("Traceback (most recent call last)") == 3  # rendered, then masked
    assert "in book" in text  # the frames are still there
    assert CALL_SID in text and "1500" in text and "5050" in text
    assert "2026-11-21T12:00:00.123456+00:00" in text


@pytest.mark.usefixtures("restore_logging")
def test_json_output_is_masked_after_exceptions_are_rendered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", LogFormat.JSON)  # writes to sys.stderr, which capsys holds
    _log_everything()
    text = capsys.readouterr().err
    _assert_masked(text)
    lines = [json.loads(line) for line in text.splitlines()]  # still valid JSON
    events = [line["event"] for line in lines]
    assert events == [
        "booking_failed",
        "booking_failed_again",
        "ASGI callable raised",
        "nested",
        "ordinary",
    ]
    assert "***0123" in lines[0]["exception"]
    assert lines[3]["detail"] == {"from": "***0123", "notes": ["***0123", ["***0958"]]}
    assert lines[4]["duration_ms"] == 1500 and lines[4]["port"] == 5050


@pytest.mark.usefixtures("restore_logging")
def test_console_output_is_masked_after_exceptions_are_rendered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", LogFormat.CONSOLE)
    _log_everything()
    text = capsys.readouterr().err
    _assert_masked(text)
    assert "booking_failed" in text and "ordinary" in text
