"""What the caller has really heard, from Twilio marks (mu-law at 8 kHz: 8 bytes = 1 ms).

Twilio plays outbound audio in order and returns a `mark` when the audio sent before it has
played; after a `clear` it returns the pending marks at once, although that audio was never
heard. So the caller has heard exactly the audio up to the last mark acknowledged before a clear.

A hang-up is different: there is no clear, and Twilio played on, in real time, until the
caller hung up; the marks of the last moments may never come back (the stop overtakes them, and
an acknowledgement reaches us a network trip after the audio played). `settle` credits what had
played by the stop: each chunk plays right after the one before it, or when it was sent if the
buffer had run dry, at one millisecond per millisecond.
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
    nbytes: int  # bytes of audio between the previous mark and this one
    plays_until_ms: int  # when the audio before this mark has played, at the earliest


class Playback:
    def __init__(self) -> None:
        self._next = 0
        self._pending: deque[_PendingMark] = deque()
        self._sent: dict[str, int] = {}
        self._heard: dict[str, int] = {}
        self._play_clock_ms = 0  # when everything sent so far has played, at the earliest

    def sent(self, item_id: str | None, nbytes: int, at_ms: int = 0) -> str:
        """Record audio sent to Twilio; returns the name of the mark to send right after it."""
        item_bytes = 0
        if item_id is not None:
            item_bytes = self._sent.get(item_id, 0) + nbytes
            self._sent[item_id] = item_bytes
        self._next += 1
        name = f"m{self._next}"
        self._play_clock_ms = max(self._play_clock_ms, at_ms) + nbytes // BYTES_PER_MS
        self._pending.append(_PendingMark(name, item_id, item_bytes, nbytes, self._play_clock_ms))
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

    def settle(self, at_ms: int) -> None:
        """The stream stopped at `at_ms` without a clear: credit the audio that had played."""
        for mark in self._pending:
            start = mark.plays_until_ms - mark.nbytes // BYTES_PER_MS
            played = min(max(at_ms - start, 0) * BYTES_PER_MS, mark.nbytes)
            if mark.item_id is not None and played:
                before = mark.item_bytes - mark.nbytes
                self._heard[mark.item_id] = max(self._heard.get(mark.item_id, 0), before + played)
            if played < mark.nbytes:
                break
        self._pending.clear()

    def clear(self, at_ms: int = 0) -> None:
        """The caller's buffer was cleared: pending marks will return, but were not heard."""
        self._pending.clear()
        self._play_clock_ms = at_ms  # nothing queued plays any more

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
