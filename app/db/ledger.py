"""The writer's ledger: where each row this process put is (queued, spooled, or settled).

Every row gets a number when it is put (1, 2, 3, ...). A row is *settled* once it is committed
or dead-lettered, i.e. finally decided. Rows are settled and spooled in put order, apart from a
row dead-lettered while rows before it wait in the spool, so two marks and a small set say where
every row is: rows up to `settled` are settled, `ahead` holds rows settled beyond it, and rows up
to `spooled` that are not settled are in the spool file.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from app.db.spool import Op


class Ledger:
    def __init__(self) -> None:
        self.put = 0
        self.settled = 0
        self.ahead: set[int] = set()
        self.spooled = 0
        self.unavailable = False  # the writer's last attempt found the database unavailable
        self._progress = asyncio.Event()  # set, and replaced, whenever anything above moves
        # `call` rows not settled yet, for read-your-writes: (seq, call_sid, fields, only_insert)
        self._calls: deque[tuple[int, str, dict[str, Any], bool]] = deque()

    def record(self, op: Op) -> int:
        """Number a row being put."""
        self.put += 1
        sid, fields = op.get("call_sid"), op.get("fields")
        # Never raises: a malformed row is the writer's to dead-letter, not the audio path's.
        if op.get("op") == "call" and isinstance(sid, str) and isinstance(fields, dict):
            self._calls.append((self.put, sid, fields, bool(op.get("only_insert"))))
        return self.put

    def is_open(self, seq: int) -> bool:
        """A row of this process that is neither settled nor spooled."""
        return seq > max(self.settled, self.spooled) and seq not in self.ahead

    def settle(self, seqs: list[int]) -> None:
        self.ahead.update(s for s in seqs if s > self.settled)
        before = self.settled
        while self.settled + 1 in self.ahead:
            self.ahead.remove(self.settled + 1)
            self.settled += 1
        if self.settled > before:
            while self._calls and self._calls[0][0] <= self.settled:
                self._calls.popleft()
            self._notify()

    def spool(self, seqs: list[int]) -> None:
        if seqs:
            self.spooled = max(self.spooled, *seqs)
            self._notify()

    def set_unavailable(self, unavailable: bool) -> None:
        if unavailable != self.unavailable:
            self.unavailable = unavailable
            self._notify()

    async def wait_settled(self, target: int, timeout: float | None) -> bool:
        """True once rows 1..target are settled; False at the timeout, or at once when they
        are all settled or spooled while the database is unavailable."""
        try:
            async with asyncio.timeout(timeout):
                while self.settled < target:
                    if self.spooled >= target and self.unavailable:
                        return False
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    def with_unwritten(self, call_sid: str, row: dict[str, Any]) -> dict[str, Any]:
        """`row` with the unsettled `call` rows of that call laid over it, in put order."""
        merged = dict(row)
        for _seq, sid, fields, only_insert in self._calls:
            if sid != call_sid or (only_insert and merged):
                continue  # an insert-only row changes nothing once the call has a row
            merged.update(fields)
            merged.setdefault("call_sid", call_sid)
        return merged

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()
