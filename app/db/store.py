"""The one writer of call data: a queue the audio path drops rows into without ever waiting.

Rows are written in the order they were put, in batches of one transaction each. A failed write
is classified (app/db/faults.py):

- The database is unavailable (unreachable, shutting down, too many connections, ...): the
  batch is retried once, then it and every row queued behind it are appended, fsync'ed, to
  DATA_DIR/spool/pending-writes.jsonl (typed lines that read back exactly: app/db/spool.py).
  The writer retries with backoff and replays the spool in order once PostgreSQL answers; rows
  put meanwhile queue behind the spooled ones. A spool left by an earlier process is replayed
  the same way at start-up (lines from before the typed format too, best effort).
- PostgreSQL refuses the data (a value of the wrong type, a broken constraint, ...): the batch
  is retried row by row, each row in its own transaction, so the good rows land and each
  refused row goes alone to DATA_DIR/spool/dead-letter.jsonl with the error and the time,
  logged at ERROR with its call SID. A refused row never holds up another one. Appending a
  record's `line` back to the spool re-queues it (e.g. once a fix is deployed).

`flush()` waits until this process's rows are *in the database* (or dead-lettered): rows that
only reached the spool file are not, and it says so by returning False.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.faults import error_text, is_unavailable, log_reason, root_cause, sqlstate
from app.db.ledger import Ledger
from app.db.spool import (
    Op,
    SpoolFile,
    SpoolLineError,
    dead_letter_line,
    dump_line,
    load_line,
)
from app.db.writes import HANDLERS, Handler
from app.logging import get_logger

__all__ = ["CallStore", "Handler", "NotWritten", "Op"]

log = get_logger(__name__)


class NotWritten(Exception):
    """Rows put to the store are not all in the database yet (see `flush`)."""


class UnknownOp(LookupError):
    """A row names an op no handler was registered for (it is dead-lettered, not retried)."""


@dataclass(slots=True)
class _Row:
    op: Op
    seq: int  # this process's put number (from 1); 0 for a row another process spooled
    line: bytes | None = None  # its spool line, once it has one


class CallStore:
    """Accepts rows from any task with `put` (never blocks) and writes them in order."""

    def __init__(
        self,
        engine: AsyncEngine,
        spool_dir: Path,
        *,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        batch_size: int = 200,
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        self._engine = engine
        self._spool = SpoolFile(spool_dir / "pending-writes.jsonl")
        self._dead = SpoolFile(spool_dir / "dead-letter.jsonl")
        self._run_id = secrets.token_hex(8)  # tells this process's spooled rows from others'
        self._queue: asyncio.Queue[_Row] = asyncio.Queue()
        self._inflight: list[_Row] = []  # taken from the queue, not yet settled nor spooled
        self._task: asyncio.Task[None] | None = None
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._delay = retry_initial
        self._batch_size = batch_size
        # Other parts of the service (e.g. messages) write through the same queue; given here,
        # before `start()`, so their spooled rows replay at start-up.
        self._handlers: dict[str, Handler] = {**HANDLERS, **(handlers or {})}
        self._ledger = Ledger()
        self.written = 0
        self.spooled = 0
        self.dead_lettered = 0

    # --- producers (called from the audio path: cheap and non-blocking) --------------------

    def put(self, op: Op) -> None:
        self._queue.put_nowait(_Row(op, self._ledger.record(op)))

    def call(self, call_sid: str, *, only_insert: bool = False, **fields: Any) -> None:
        self.put({"op": "call", "call_sid": call_sid, "fields": fields, "only_insert": only_insert})

    # fmt: off
    def turn(self, call_sid: str, seq: int, speaker: str, text: str, interrupted: bool,
             offset_ms: int, latency_ms: int | None = None) -> None:
        self.put({"op": "turn", "call_sid": call_sid, "seq": seq, "speaker": speaker,
                  "text": text, "interrupted": interrupted, "offset_ms": offset_ms,
                  "latency_ms": latency_ms})
    # fmt: on

    def tool_call(
        self,
        call_sid: str,
        tool_call_id: str,
        name: str,
        arguments: Any,
        result: Any,
        ok: bool,
        duration_ms: int,
        offset_ms: int,
    ) -> None:
        self.put(
            {
                "op": "tool_call",
                "call_sid": call_sid,
                "tool_call_id": tool_call_id,
                "name": name,
                "arguments": arguments,
                "result": result,
                "ok": ok,
                "duration_ms": duration_ms,
                "offset_ms": offset_ms,
            }
        )

    def outcome(self, call_sid: str, outcome: str, detail: dict[str, Any]) -> None:
        self.put({"op": "outcome", "call_sid": call_sid, "outcome": outcome, "detail": detail})

    # --- readers ---------------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row put so far is in the database, or finally refused by it.

        True: each of them is committed, or dead-lettered (PostgreSQL refused its data; it
        will never be written). Rows are settled in put order, so this also covers rows an
        earlier process left in the spool. False: the database may not have them yet, either
        because `timeout` passed first or because they are only in the spool file while the
        database is unavailable (they are safe on disk, and written once it answers). That
        False comes back at once, without waiting out the timeout; once the database answers
        again, `flush` waits for the spool's replay to reach its rows.
        """
        return await self._ledger.wait_settled(self._ledger.put, timeout)

    def with_unwritten(self, call_sid: str, row: dict[str, Any]) -> dict[str, Any]:
        """`row` (the call as read from the database, {} if absent) with this process's `call`
        writes for it that are not in the database yet laid over it, in put order."""
        return self._ledger.with_unwritten(call_sid, row)

    @property
    def spool_size(self) -> int:
        """Rows waiting in the spool file for the database."""
        return self._spool.count()

    @property
    def dead_letter_size(self) -> int:
        """Rows PostgreSQL refused, kept in the dead-letter file."""
        return self._dead.count()

    @property
    def queue_depth(self) -> int:
        """Rows put and not yet written nor spooled (the metrics' writer queue depth)."""
        return self._queue.qsize() + len(self._inflight)

    @property
    def dead_letter_path(self) -> Path:
        return self._dead.path

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._spool.path.parent.mkdir(parents=True, exist_ok=True)
        # An unreadable spool must not hold up start-up: the writer reports it and keeps trying.
        if self._spool.has_lines():
            with contextlib.suppress(OSError):
                log.warning("store_spool_found", rows=self._spool.count())
        self._task = asyncio.create_task(self._run(), name="call-store-writer")

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued while the database answers (up to `timeout`), then put every
        row still unwritten in the spool file, for the next start to replay."""
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        leftover = self._in_hand() + self._take_queued()
        try:
            self._spool_rows(leftover)
        except OSError:  # e.g. a full disk: say how much is lost rather than fail the exit
            log.exception("store_rows_lost", rows=len(leftover))

    # --- the writer ------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception:
                # A full disk or a bug must not end the writer: every later row would be lost.
                # The rows in hand stay in hand and are tried again.
                log.exception("store_writer_failed")
                await asyncio.sleep(self._retry_max)

    async def _step(self) -> None:
        self._inflight = self._in_hand()  # what a failed step left unsettled, if anything
        if self._spool.has_lines():
            if not await self._replay():
                # Keep order: while the spool holds rows, new rows go behind them.
                self._spool_rows(self._in_hand() + self._take_queued())
                await asyncio.sleep(self._delay)
                self._delay = min(self._delay * 2, self._retry_max)
                return
            self._delay = self._retry_initial
        if not self._inflight:
            self._inflight = [await self._queue.get()]
            self._inflight += self._take_queued(self._batch_size - 1)
        rest = await self._write(self._inflight)
        if rest:
            # The database is away: one quick retry, then keep the rows safe on disk.
            await asyncio.sleep(self._delay)
            rest = await self._write(rest)
        if rest:
            self._spool_rows(rest + self._take_queued())
            self._delay = min(self._delay * 2, self._retry_max)
        else:
            self._delay = self._retry_initial
        self._inflight = []

    async def _apply(self, conn: AsyncConnection, op: Op) -> None:
        handler = self._handlers.get(op.get("op", ""))
        if handler is None:
            raise UnknownOp(f"no writer is registered for op {op.get('op')!r}")
        await handler(conn, op)

    async def _write(self, rows: list[_Row]) -> list[_Row]:
        """Write `rows` in one transaction; the rows left unwritten because the database is
        unavailable (none if every row was written or dead-lettered)."""
        try:
            async with self._engine.begin() as conn:
                for row in rows:
                    await self._apply(conn, row.op)
        except Exception as exc:
            if is_unavailable(exc):
                self._log_unavailable(len(rows), exc)
                return rows
            self._ledger.set_unavailable(False)
            if len(rows) == 1:
                self._dead_letter(rows[0], exc)
                return []
            # Some row's data was refused: find it (or them), so the others still land.
            log.warning(
                "store_batch_refused",
                rows=len(rows),
                error=type(root_cause(exc)).__name__,
                sqlstate=sqlstate(exc),
            )
            return await self._write_each(rows)
        self._ledger.set_unavailable(False)
        self.written += len(rows)
        self._settle(rows)
        return []

    async def _write_each(self, rows: list[_Row]) -> list[_Row]:
        """Write row by row, each in its own transaction; dead-letter each refused row."""
        for index, row in enumerate(rows):
            try:
                async with self._engine.begin() as conn:
                    await self._apply(conn, row.op)
            except Exception as exc:
                if is_unavailable(exc):
                    self._log_unavailable(len(rows) - index, exc)
                    return rows[index:]
                self._dead_letter(row, exc)
                continue
            self.written += 1
            self._settle([row])
        return []

    def _log_unavailable(self, rows: int, exc: BaseException) -> None:
        self._ledger.set_unavailable(True)
        log.warning(
            "store_write_failed",
            rows=rows,
            error=type(root_cause(exc)).__name__,
            sqlstate=sqlstate(exc),
        )

    def _settle(self, rows: list[_Row]) -> None:
        self._ledger.settle([r.seq for r in rows if r.seq])

    def _in_hand(self) -> list[_Row]:
        """Rows taken from the queue that are neither settled nor spooled yet."""
        return [r for r in self._inflight if self._ledger.is_open(r.seq)]

    def _take_queued(self, limit: int | None = None) -> list[_Row]:
        rows: list[_Row] = []
        while not self._queue.empty() and (limit is None or len(rows) < limit):
            rows.append(self._queue.get_nowait())
        return rows

    def _dead_letter(self, row: _Row, exc: BaseException) -> None:
        line: bytes | str
        try:
            line = row.line if row.line is not None else dump_line(row.op, self._run_id, row.seq)
        except TypeError:
            line = repr(row.op)  # kept for a person to read; it cannot be re-queued
        self._dead.append([dead_letter_line(line, error_text(exc), datetime.now(UTC))])
        self.dead_lettered += 1
        log.error(
            "store_row_dead_lettered",
            op=row.op.get("op"),
            call_sid=_call_sid_of(row.op),
            error=type(root_cause(exc)).__name__,
            sqlstate=sqlstate(exc),
            reason=log_reason(exc),
            dead_letter=self._dead.path.name,
        )
        self._settle([row])

    def _spool_rows(self, rows: list[_Row]) -> None:
        """Append `rows` to the spool file, in order; they are on disk when this returns."""
        if not rows:
            return
        self._inflight = rows  # held until on disk: the append may fail (a full disk)
        lines: list[bytes] = []
        for row in rows:
            if row.line is None:
                try:
                    row.line = dump_line(row.op, self._run_id, row.seq)
                except TypeError as exc:
                    # It cannot wait on disk for the database, and must not block the others.
                    self._dead_letter(row, exc)
                    continue
            lines.append(row.line)
        self._spool.append(lines)
        self._inflight = []
        self.spooled += len(lines)
        self._ledger.spool([r.seq for r in rows])
        if lines:
            log.warning("store_spooled", rows=len(lines), spool=self._spool.path.name)

    async def _replay(self) -> bool:
        """Write the spooled rows in order. False, keeping the rest, if the database is away."""
        lines = self._spool.read()
        done = 0  # lines written, dead-lettered, or unreadable (and dead-lettered)
        while done < len(lines):
            chunk = lines[done : done + self._batch_size]
            rows = self._decode(chunk)
            rest = await self._write(rows) if rows else []
            if rest:
                remaining = [r.line for r in rest if r.line is not None]
                remaining += lines[done + len(chunk) :]
                if len(remaining) < len(lines):  # keep only what was not settled yet
                    self._spool.replace(remaining)
                return False
            done += len(chunk)
        self._spool.replace([])
        log.info("store_spool_replayed", rows=len(lines))
        return True

    def _decode(self, lines: list[bytes]) -> list[_Row]:
        rows: list[_Row] = []
        for raw in lines:
            try:
                line = load_line(raw)
            except SpoolLineError as exc:
                self._dead_letter(_Row({}, 0, raw), exc)
                continue
            seq = line.seq if line.run == self._run_id else 0
            rows.append(_Row(line.op, seq, raw))
        return rows


def _call_sid_of(op: Op) -> str | None:
    """The call a row belongs to: its own `call_sid`, or one a level down (e.g. a message)."""
    sid = op.get("call_sid")
    if isinstance(sid, str):
        return sid
    for value in op.values():
        if isinstance(value, dict) and isinstance(value.get("call_sid"), str):
            found: str = value["call_sid"]
            return found
    return None
