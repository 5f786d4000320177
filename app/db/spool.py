"""The spool file codec: writer rows as typed JSON lines that read back exactly as they were put.

JSON has no datetime, date, time, Decimal or tuple, and a row's JSON values (a tool's arguments,
say) may hold strings that merely look like dates. So every value JSON cannot carry as itself is
written as a one-key object naming its type, and only those objects are turned back:

    datetime  {"$dt": "2026-11-21T12:00:00.123456+00:00"}     Decimal  {"$dec": "0.1234"}
    date      {"$date": "2026-11-21"}                          tuple    {"$tuple": [...]}
    time      {"$time": "12:00:00"}                            NaN/inf  {"$float": "nan"}
    an int beyond 64 bits  {"$int": "..."}    a dict with a key that is not text, or that
                                              starts with "$"  {"$map": [[key, value], ...]}

A line is `{"v": 2, "run": ..., "seq": ..., "op": <the encoded row>}`: `run` and `seq` say which
process put the row and in what order, so that process can tell when its rows are written.
Lines from before this format (a bare row, datetimes as plain strings) are still read: strings
are turned back into datetimes and Decimals where the `calls` column they fill has that type.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import DateTime, Numeric

from app.db.tables import calls

Op = dict[str, Any]

VERSION = 2
_INT64 = range(-(2**63), 2**63)


class SpoolLineError(ValueError):
    """A spool line that is not a row (e.g. torn by a crash in the middle of a write)."""


def encode(value: Any) -> Any:
    """A JSON-ready copy of `value` in which every non-JSON type is tagged (see above)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if value in _INT64 else {"$int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot spool a value of type {type(value).__name__}")


def decode(value: Any) -> Any:
    """The inverse of `encode`: tagged objects become their values again, nothing else changes."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        match tag:
            case "$dt":
                return datetime.fromisoformat(inner)
            case "$date":
                return date.fromisoformat(inner)
            case "$time":
                return time.fromisoformat(inner)
            case "$dec":
                return Decimal(inner)
            case "$int":
                return int(inner)
            case "$float":
                return float(inner)
            case "$tuple":
                return tuple(decode(v) for v in inner)
            case "$map":
                return {decode(k): decode(v) for k, v in inner}
    return {k: decode(v) for k, v in value.items()}


@dataclass(frozen=True)
class SpoolLine:
    op: Op
    run: str | None  # the process that put the row; None for an old-format line
    seq: int


def dump_line(op: Op, run: str, seq: int) -> bytes:
    """One spool line (newline included). TypeError if a value has no encoding."""
    return orjson.dumps({"v": VERSION, "run": run, "seq": seq, "op": encode(op)}) + b"\n"


def load_line(raw: bytes) -> SpoolLine:
    """The row a spool line holds. SpoolLineError if it holds none."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SpoolLineError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpoolLineError("not a JSON object")
    if data.get("v") == VERSION:
        try:
            op = decode(data["op"])
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise SpoolLineError(f"bad value: {type(exc).__name__}: {exc}") from None
        seq = data.get("seq")
        run = data.get("run")
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise SpoolLineError("no op in the line")
        return SpoolLine(
            op, run if isinstance(run, str) else None, seq if isinstance(seq, int) else 0
        )
    if isinstance(data.get("op"), str):
        return SpoolLine(_revive_legacy(data), None, 0)
    raise SpoolLineError("neither a spooled row nor an old-format one")


def _revive_legacy(op: Op) -> Op:
    """Best effort for a line written before values were tagged: restore what `calls` types."""

    def revive(key: str, value: Any) -> Any:
        column = calls.c.get(key)
        if column is None or not isinstance(value, (str, int, float)):
            return value
        try:
            if isinstance(column.type, DateTime) and isinstance(value, str):
                return datetime.fromisoformat(value)
            if isinstance(column.type, Numeric) and not isinstance(value, bool):
                return Decimal(str(value))
        except (ValueError, InvalidOperation):
            pass  # not what it seemed: let PostgreSQL judge it (and dead-letter it if need be)
        return value

    fields = op.get("fields")
    if isinstance(fields, dict):
        op["fields"] = {k: revive(k, v) for k, v in fields.items()}
    # A row's own keys (e.g. a `finalize` row's ended_at) fill `calls` columns of the same name.
    return {k: revive(k, v) if k not in ("op", "call_sid") else v for k, v in op.items()}


class SpoolFile:
    """An append-only file of spool lines; each append is on disk (fsync) before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def has_lines(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def count(self) -> int:
        try:
            with self.path.open("rb") as spool:
                return sum(1 for line in spool if line.strip())
        except FileNotFoundError:
            return 0

    def read(self) -> list[bytes]:
        try:
            return [line for line in self.path.read_bytes().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def append(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as spool:
            spool.write(b"".join(_terminated(line) for line in lines))
            spool.flush()
            os.fsync(spool.fileno())

    def replace(self, lines: list[bytes]) -> None:
        """Keep only `lines`: a new file renamed over the old, so a crash leaves one or the other."""
        if not lines:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(b"".join(_terminated(line) for line in lines))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)


def _terminated(line: bytes) -> bytes:
    return line if line.endswith(b"\n") else line + b"\n"


def dead_letter_line(line: bytes | str, error: str, failed_at: datetime) -> bytes:
    """A dead-letter record: the spool line as it was (re-queue it by appending it to the spool),
    why PostgreSQL refused it, and when."""
    if isinstance(line, bytes):
        try:
            kept: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            kept = line.decode("utf-8", "replace")  # a torn line, kept as text
    else:
        kept = line
    record = {"failed_at": failed_at.isoformat(), "error": error, "line": kept}
    return orjson.dumps(record) + b"\n"
