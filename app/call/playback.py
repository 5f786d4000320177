"""What the caller has really heard, from Twilio marks (mu-law at 8 kHz: 8 bytes = 1 ms).

Twilio plays outbound audio in order and returns a `mark` when the audio sent before it has
played; after a `clear` it returns the pending marks at once, although that audio was never
heard. So the caller has heard exactly the audio up to the last mark acknowledged before a clear.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BYTES_PER_MS = 8


@dataclass(slots=True)
class _PendingMark:
    name: str
    item_id: str | None
    item_bytes: int  # bytes of the item sent up to and including the audio before this mark


class Playback:
    def __init__(self) -> None:
        self._next = 0
        self._pending: deque[_PendingMark] = deque()
        self._sent: dict[str, int] = {}
        self._heard: dict[str, int] = {}

    def sent(self, item_id: str | None, nbytes: int) -> str:
        """Record audio sent to Twilio; returns the name of the mark to send right after it."""
        item_bytes = 0
        if item_id is not None:
            item_bytes = self._sent.get(item_id, 0) + nbytes
            self._sent[item_id] = item_bytes
        self._next += 1
        name = f"m{self._next}"
        self._pending.append(_PendingMark(name, item_id, item_bytes))
        return name

    def acknowledged(self, name: str) -> str | None:
        """A mark came back: everything before it has played. Returns the item it belonged to.

        Unknown names (marks discarded by `clear`, or forged) are ignored.
        """
        if not any(m.name == name for m in self._pending):
            return None
        while self._pending:
            mark = self._pending.popleft()
            if mark.item_id is not None:
                self._heard[mark.item_id] = max(self._heard.get(mark.item_id, 0), mark.item_bytes)
            if mark.name == name:
                return mark.item_id
        return None  # pragma: no cover (the name was pending)

    def clear(self) -> None:
        """The caller's buffer was cleared: pending marks will return, but were not heard."""
        self._pending.clear()

    @property
    def playing(self) -> bool:
        """Audio was sent that the caller has not finished hearing."""
        return bool(self._pending)

    def item_playing(self, item_id: str) -> bool:
        return any(m.item_id == item_id for m in self._pending)

    def sent_ms(self, item_id: str) -> int:
        return self._sent.get(item_id, 0) // BYTES_PER_MS

    def heard_ms(self, item_id: str) -> int:
        """Milliseconds of the item the caller has heard; never more than was sent."""
        return min(self._heard.get(item_id, 0), self._sent.get(item_id, 0)) // BYTES_PER_MS
