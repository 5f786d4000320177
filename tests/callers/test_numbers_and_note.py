"""Withheld numbers, failed caller IDs, and the memory note's wording and bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.callers.memory import HEADER, MAX_NOTE_CHARS, Remembered, add_caller_note, compose_note
from app.callers.numbers import is_withheld, stir_failed

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "number",
    [None, "", " ", "anonymous", "Anonymous", "+266696687", "266696687", "Restricted",
     "+7378742833", "Unknown", "unavailable", "private", "+2562533", "12345", "client:alice"],
)  # fmt: skip
def test_withheld_numbers_name_nobody(number: str | None) -> None:
    assert is_withheld(number)


@pytest.mark.parametrize("number", ["+15551230000", "+442071838750", "5551230000"])
def test_real_numbers_are_not_withheld(number: str) -> None:
    assert not is_withheld(number)


@pytest.mark.parametrize(
    ("verstat", "failed"),
    [
        ("TN-Validation-Failed-A", True),
        ("TN-Validation-Failed-B", True),
        ("TN-Validation-Failed-C", True),
        ("TN-Validation-Failed", True),
        ("TN-Validation-Passed-A", False),
        ("TN-Validation-Passed-B-Diverted", False),
        ("No-TN-Validation", False),
        ("", False),
        (None, False),
    ],
)
def test_only_the_failed_family_fails(verstat: str | None, failed: bool) -> None:
    assert stir_failed(verstat) is failed


def test_nothing_remembered_is_no_note() -> None:
    assert compose_note(Remembered(), NY) is None
    assert add_caller_note("Be kind.", None) == "Be kind."


def test_the_note_is_bounded_whatever_was_stored() -> None:
    at = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    long = "word " * 400
    found = Remembered(
        name="Ada " + "x" * 500,
        calls=[(at - timedelta(days=i), long[:160]) for i in range(3)],
        open_messages=[(at, long[:100])] * 5,
        upcoming=[(at + timedelta(days=2), "Cleaning")],
    )
    note = compose_note(found, NY)
    assert note is not None and note.startswith(HEADER)
    assert len(note) <= MAX_NOTE_CHARS
    assert not note.endswith("word")  # whole lines only


def test_the_note_reads_as_a_few_lines_in_local_time() -> None:
    tuesday = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    found = Remembered(
        name="Ada Lovelace",
        calls=[(tuesday, "Asked about a crown.")],
        upcoming=[(datetime(2026, 12, 10, 14, 0, tzinfo=UTC), "Cleaning")],
    )
    note = compose_note(found, NY)
    assert note is not None
    assert "- Name they gave: Ada Lovelace." in note
    assert "- Call on Tue 01 Dec: Asked about a crown." in note
    assert "- Booked: Cleaning on Thu 10 Dec at 09:00." in note
    assert "Welcome back, Ada" in note
    assert add_caller_note("Be kind.", note) == f"Be kind.\n\n{note}"
