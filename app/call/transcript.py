"""Turns as the caller heard them: ordered by when they began, cut where the agent was cut off."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class AgentTurn:
    item_id: str
    seq: int
    offset_ms: int
    text: str = ""
    text_done: bool = False
    audio_done: bool = False  # all its audio and its transcript are in: it ends when heard
    audio_sent_all: bool = False  # its output_audio.done came (its transcript may still come)
    # The caller's end of speech (the model's VAD) to this turn's first audio; None when the
    # turn answered no speech (the greeting, an idle prompt, a tool's result).
    latency_ms: int | None = None


@dataclass(slots=True)
class CallerTurn:
    item_id: str
    seq: int
    offset_ms: int


@dataclass
class Transcript:
    """Hands out sequence numbers when speech begins, so late transcriptions keep their place."""

    _next_seq: int = 0
    agent: dict[str, AgentTurn] = field(default_factory=dict)
    caller: dict[str, CallerTurn] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    def _seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def caller_began(self, item_id: str, offset_ms: int) -> CallerTurn:
        turn = self.caller.get(item_id)
        if turn is None:
            turn = self.caller[item_id] = CallerTurn(item_id, self._seq(), offset_ms)
        return turn

    def agent_began(self, item_id: str, offset_ms: int) -> AgentTurn:
        turn = self.agent.get(item_id)
        if turn is None:
            turn = self.agent[item_id] = AgentTurn(item_id, self._seq(), offset_ms)
        return turn

    def note(self, speaker: str, text: str) -> None:
        """Keep what was said for re-seeding a new model session."""
        if text:
            self.history.append((speaker, text))


def heard_part(text: str, heard_ms: int, sent_ms: int) -> str:
    """The words of `text` the caller heard, approximated by the share of audio played.

    The cut falls at the end of a word, never in the middle of one.
    """
    if sent_ms <= 0 or heard_ms <= 0:
        return ""
    if heard_ms >= sent_ms:
        return text
    cut = round(len(text) * heard_ms / sent_ms)
    if cut >= len(text):
        return text
    if cut < len(text) and not text[cut].isspace():
        space = text.rfind(" ", 0, cut)
        cut = space if space > 0 else 0
    return text[:cut].rstrip(" ,;:-")
