"""Transcript: the heard part of an interrupted turn; sequence numbers by when speech began."""

from __future__ import annotations

import pytest

from app.call.transcript import Transcript, heard_part

TEXT = "Our opening hours are nine to five on weekdays."


@pytest.mark.parametrize(
    ("heard", "sent", "expected"),
    [
        (0, 1000, ""),
        (1000, 1000, TEXT),
        (2000, 1000, TEXT),
        (500, 1000, "Our opening hours are"),
        (100, 1000, "Our"),
        (900, 1000, "Our opening hours are nine to five on"),
        (300, 0, ""),
    ],
)
def test_heard_part_cuts_proportionally_at_a_word_end(heard: int, sent: int, expected: str) -> None:
    assert heard_part(TEXT, heard, sent) == expected


def test_sequence_numbers_follow_when_speech_began() -> None:
    t = Transcript()
    agent = t.agent_began("a1", 0)
    caller = t.caller_began("c1", 4000)
    reply = t.agent_began("a2", 6000)
    assert (agent.seq, caller.seq, reply.seq) == (0, 1, 2)
    assert t.caller_began("c1", 9999) is caller  # the same item keeps its place
