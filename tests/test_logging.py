"""Log hygiene: phone numbers keep only their last four digits, wherever they appear."""

from __future__ import annotations

import pytest

from app.logging import _mask_phone_numbers, mask_phone


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


def test_numbers_are_masked_in_phone_fields_and_inside_free_text() -> None:
    event = {
        "caller": "+15551234567",
        "detail": "call from +447700900123 failed",
        "call_sid": "CA0123456789",
        "timestamp": "2026-11-21T12:00:00Z",
    }
    out = _mask_phone_numbers(None, "info", event)
    assert out["caller"] == "***4567"
    assert out["detail"] == "call from ***0123 failed"
    assert out["call_sid"] == "CA0123456789" and out["timestamp"] == "2026-11-21T12:00:00Z"


def test_credentials_in_free_text_are_redacted() -> None:
    event = {"event": "> Authorization: Bearer sk-abc123secret", "detail": "key sk-proj-XYZ123456"}
    out = _mask_phone_numbers(None, "debug", event)
    assert "abc123secret" not in out["event"] and "XYZ123456" not in out["detail"]
    assert "[redacted]" in out["event"]
