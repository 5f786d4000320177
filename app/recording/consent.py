"""Has the caller heard that the call is recorded? Decided from what the agent said, as heard.

Sans-I/O. The disclosure is spoken by the agent (prompts/system.md, `$disclosure`). The driver
hands over each agent turn as the call's machine records it: written once its last mark came back
(everything sent was played), or cut at what the caller heard when they interrupted. So a turn
whose heard text holds the disclosure is the proof: the recording may start, and nothing said
before it is on tape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# "this call is recorded", "calls are recorded", "being recorded": the words that carry it.
DISCLOSURE_WORDS = re.compile(r"\brecord(ed|ing)\b", re.IGNORECASE)
# Told to the model when the caller cut the greeting off before the disclosure was heard.
DISCLOSURE_REMINDER = (
    "The caller has not heard yet that this call is recorded. Before anything else in your next "
    'reply, say: "Just so you know, this call is recorded and I\'m an AI assistant."'
)


class Step(Enum):
    NONE = "none"
    START = "start"  # the disclosure was heard: start recording now
    REMIND = "remind"  # an agent turn ended without it: have the agent say it next


@dataclass
class ConsentGate:
    """One per call leg. `agent_turn` returns START once, the first time the disclosure has been
    heard; REMIND once, after the first agent turn that went by without it."""

    given: bool = False
    reminded: bool = False

    def agent_turn(self, heard_text: str) -> Step:
        if self.given:
            return Step.NONE
        if DISCLOSURE_WORDS.search(heard_text):
            self.given = True
            return Step.START
        if not self.reminded:
            self.reminded = True
            return Step.REMIND
        return Step.NONE
