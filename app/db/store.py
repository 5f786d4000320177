"""The one writer of call data: a queue the audio path drops rows into without ever waiting.

Rows are written in order, in small batches. When PostgreSQL is unreachable the writer keeps
retrying with backoff, and after a failed batch it appends every pending row to an append-only
spool file under DATA_DIR, replayed (in order, idempotently) once the database answers again.
Nothing is lost, even across a restart of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.tables import call_outcomes, calls, tool_calls, transcript_turns
from app.logging import get_logger

log = get_logger(__name__)

Op = dict[str, Any]
Handler = Callable[[AsyncConnection, Op], Awaitable[None]]

_DATETIME_FIELDS = ("started_at", "answered_at", "ended_at")


def _revive(op: Op) -> Op:
    """Spooled ops come back from JSON: restore the datetimes."""
    fields = op.get("fields")
    if isinstance(fields, dict):
        for key in _DATETIME_FIELDS:
            if isinstance(fields.get(key), str):
                fields[key] = datetime.fromisoformat(fields[key])
    return op


async def _ensure_call(conn: AsyncConnection, call_sid: str) -> None:
    await conn.execute(insert(calls).values(call_sid=call_sid).on_conflict_do_nothing())


async def _upsert_call(conn: AsyncConnection, op: Op) -> None:
    fields = dict(op["fields"])
    stmt = insert(calls).values(call_sid=op["call_sid"], **fields)
    if op.get("only_insert"):
        await conn.execute(stmt.on_conflict_do_nothing())
    elif fields:
        await conn.execute(stmt.on_conflict_do_update(index_elements=["call_sid"], set_=fields))
    else:
        await conn.execute(stmt.on_conflict_do_nothing())


async def _turn(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    await conn.execute(
        insert(transcript_turns).values(**{k: op[k] for k in _TURN_KEYS}).on_conflict_do_nothing()
    )


async def _tool_call(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    await conn.execute(
        insert(tool_calls).values(**{k: op[k] for k in _TOOL_KEYS}).on_conflict_do_nothing()
    )


async def _outcome(conn: AsyncConnection, op: Op) -> None:
    await _ensure_call(conn, op["call_sid"])
    stmt = insert(call_outcomes).values(
        call_sid=op["call_sid"], outcome=op["outcome"], detail=op["detail"]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["call_sid"],
            set_={"outcome": op["outcome"], "detail": op["detail"], "decided_at": text("now()")},
        )
    )


async def _finalize(conn: AsyncConnection, op: Op) -> None:
    """Twilio says the call is over: fill in what the stream could not (it may never have run)."""
    ended_at = op["ended_at"]
    if isinstance(ended_at, str):
        ended_at = datetime.fromisoformat(ended_at)
    await _ensure_call(conn, op["call_sid"])
    await conn.execute(
        calls.update()
        .where(calls.c.call_sid == op["call_sid"])
        .values(
            twilio_status=op["twilio_status"],
            ended_at=func.coalesce(calls.c.ended_at, ended_at),
            end_reason=func.coalesce(calls.c.end_reason, op["end_reason"]),
        )
    )
    await conn.execute(
        insert(call_outcomes)
        .values(
            call_sid=op["call_sid"], outcome="abandoned", detail={"twilio": op["twilio_status"]}
        )
        .on_conflict_do_nothing()
    )


_TURN_KEYS = ("call_sid", "seq", "speaker", "text", "interrupted", "offset_ms")
_TOOL_KEYS = (
    "call_sid",
    "tool_call_id",
    "name",
    "arguments",
    "result",
    "ok",
    "duration_ms",
    "offset_ms",
)


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
        self._spool = spool_dir / "pending-writes.jsonl"
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._batch_size = batch_size
        self._handlers: dict[str, Handler] = {
            "call": _upsert_call,
            "turn": _turn,
            "tool_call": _tool_call,
            "outcome": _outcome,
            "finalize": _finalize,
            # Other parts of the service (e.g. messages) write through the same queue.
            **(handlers or {}),
        }
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.spooled = 0

    # --- producers (called from the audio path: cheap and non-blocking) --------------------

    def put(self, op: Op) -> None:
        self._idle.clear()
        self._queue.put_nowait(op)

    def call(self, call_sid: str, *, only_insert: bool = False, **fields: Any) -> None:
        self.put({"op": "call", "call_sid": call_sid, "fields": fields, "only_insert": only_insert})

    def turn(
        self, call_sid: str, seq: int, speaker: str, text: str, interrupted: bool, offset_ms: int
    ) -> None:
        self.put(
            {
                "op": "turn",
                "call_sid": call_sid,
                "seq": seq,
                "speaker": speaker,
                "text": text,
                "interrupted": interrupted,
                "offset_ms": offset_ms,
            }
        )

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

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._spool.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="call-store-writer")

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far is in the database (or spooled). True if drained."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued; whatever the database will not take now is spooled to disk."""
        if await self.flush(timeout) is False:
            self._spool_pending([])
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._spool_pending([])

    @property
    def spool_size(self) -> int:
        try:
            with self._spool.open("rb") as spool:
                return sum(1 for _ in spool)
        except FileNotFoundError:
            return 0

    # --- the writer ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._retry_initial
        while True:
            if self._spool_exists():
                if await self._replay_spool():
                    delay = self._retry_initial
                else:
                    # Keep order: while the spool holds rows, new rows go behind them.
                    self._spool_pending([])
                    self._idle.set()  # everything put so far is safe on disk
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max)
                    continue
            if self._queue.empty():
                self._idle.set()
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if await self._write(batch):
                delay = self._retry_initial
                continue
            # The database is away: one quick retry, then keep the rows safe on disk.
            await asyncio.sleep(delay)
            if await self._write(batch):
                continue
            self._spool_pending(batch)
            delay = min(delay * 2, self._retry_max)

    async def _write(self, batch: list[Op]) -> bool:
        try:
            async with self._engine.begin() as conn:
                for op in batch:
                    await self._handlers[op["op"]](conn, op)
        except Exception as exc:
            log.warning("store_write_failed", rows=len(batch), error=type(exc).__name__)
            return False
        self.written += len(batch)
        return True

    def _spool_exists(self) -> bool:
        return self._spool.exists() and self._spool.stat().st_size > 0

    def _spool_pending(self, batch: list[Op]) -> None:
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if not batch:
            return
        with self._spool.open("ab") as spool:
            for op in batch:
                spool.write(orjson.dumps(op, default=_json_default) + b"\n")
            spool.flush()
            os.fsync(spool.fileno())
        self.spooled += len(batch)
        log.warning("store_spooled", rows=len(batch), spool=str(self._spool.name))

    async def _replay_spool(self) -> bool:
        """Write the spooled rows in order; the writes are idempotent, so a replay is safe."""
        ops = [
            _revive(orjson.loads(line)) for line in self._spool.read_bytes().splitlines() if line
        ]
        for start in range(0, len(ops), self._batch_size):
            if not await self._write(ops[start : start + self._batch_size]):
                # Keep only what was not written yet.
                rest = ops[start:]
                tmp = self._spool.with_suffix(".tmp")
                tmp.write_bytes(
                    b"".join(orjson.dumps(o, default=_json_default) + b"\n" for o in rest)
                )
                tmp.replace(self._spool)
                return False
        self._spool.unlink(missing_ok=True)
        log.info("store_spool_replayed", rows=len(ops))
        return True


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot spool {type(value).__name__}")
