"""The spool codec: every value the writer writes reads back exactly, with its type."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.db.spool import (
    SpoolFile,
    SpoolLineError,
    dead_letter_line,
    decode,
    dump_line,
    encode,
    load_line,
)

AWARE = datetime(2026, 11, 21, 12, 0, 5, 123456, tzinfo=UTC)
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**63 - 1,
    2**70,  # beyond what JSON numbers carry in orjson
    1.5,
    "",
    "plain text, ünïcode and emoji ☎",
    "2026-11-21T12:00:00+00:00",  # looks like a datetime, is a string, stays a string
    AWARE,
    datetime(2026, 3, 8, 2, 30, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 1, 1, 9, 0),  # naive stays naive
    date(2026, 11, 21),
    time(9, 30, 15, 250),
    Decimal("0.1234"),
    Decimal("12.3400"),  # trailing zeros are part of the value
    Decimal("-1E+3"),
    (1, "two", AWARE),
    [1, [2, [3, {"deep": Decimal("1.0")}]]],
    {"when": "2026-11-21", "at": AWARE, "n": [1, 2.5, None, True]},
    {"$dt": "2026-11-21T12:00:00+00:00"},  # a user's key that looks like a tag
    {1: "int key", (1, 2): "tuple key"},
    {"$map": [], "x": {"$tuple": []}},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_value_reads_back_equal_and_of_the_same_type(value: Any) -> None:
    back = decode(orjson.loads(orjson.dumps(encode(value))))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()
    if isinstance(value, Decimal):
        assert str(back) == str(value)


def test_nested_values_keep_their_types() -> None:
    value = {"a": [(AWARE, Decimal("1.10"))], "b": {"c": date(2026, 1, 2)}}
    back = decode(orjson.loads(orjson.dumps(encode(value))))
    assert type(back["a"][0]) is tuple
    assert type(back["a"][0][0]) is datetime and type(back["a"][0][1]) is Decimal
    assert type(back["b"]["c"]) is date


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_survive_instead_of_becoming_null(value: float) -> None:
    back = decode(orjson.loads(orjson.dumps(encode(value))))
    assert isinstance(back, float)
    assert (math.isnan(back) and math.isnan(value)) or back == value


def test_a_value_with_no_encoding_is_refused_rather_than_guessed() -> None:
    with pytest.raises(TypeError, match="set"):
        encode({"tags": {"a", "b"}})


def test_a_line_names_the_process_and_order_of_its_row() -> None:
    op = {"op": "call", "call_sid": "CA1", "fields": {"transfer_requested_at": AWARE}}
    line = load_line(dump_line(op, "run-1", 42))
    assert (line.op, line.run, line.seq) == (op, "run-1", 42)
    assert type(line.op["fields"]["transfer_requested_at"]) is datetime


def test_an_old_format_line_gets_its_calls_datetimes_and_decimals_back() -> None:
    old = {
        "op": "call",
        "call_sid": "CA1",
        "fields": {
            "started_at": "2026-11-21T12:00:00+00:00",
            "transfer_requested_at": "2026-11-21T12:03:00.500000+00:00",
            "estimated_cost_usd": 0.25,
            "transfer_summary": "2026-11-21T12:00:00+00:00",  # a text column stays text
            "greeting_ms": 800,
        },
        "only_insert": False,
    }
    line = load_line(orjson.dumps(old))
    fields = line.op["fields"]
    assert line.run is None and line.seq == 0
    assert fields["started_at"] == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert fields["transfer_requested_at"] == datetime(2026, 11, 21, 12, 3, 0, 500000, tzinfo=UTC)
    assert fields["estimated_cost_usd"] == Decimal("0.25")
    assert fields["transfer_summary"] == "2026-11-21T12:00:00+00:00"
    assert fields["greeting_ms"] == 800


def test_an_old_format_finalize_line_gets_its_ended_at_back() -> None:
    old = {
        "op": "finalize",
        "call_sid": "CA1",
        "twilio_status": "completed",
        "end_reason": "caller_hangup",
        "ended_at": "2026-11-21T12:00:00+00:00",
    }
    assert load_line(orjson.dumps(old)).op["ended_at"] == datetime(2026, 11, 21, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [b'{"op": "call", "call_sid": "CA1", "fie', b"[1, 2]", b'{"v": 2, "op": 5}', b'{"x": 1}'],
)
def test_a_line_that_holds_no_row_is_reported(raw: bytes) -> None:
    with pytest.raises(SpoolLineError):
        load_line(raw)


def test_spool_file_appends_keeps_order_and_replaces_atomically(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool" / "pending.jsonl")
    assert not spool.has_lines() and spool.count() == 0 and spool.read() == []
    spool.append([b"a", b"b\n"])
    spool.append([b"c"])
    assert spool.read() == [b"a", b"b", b"c"] and spool.count() == 3
    spool.replace([b"c"])
    assert spool.read() == [b"c"]
    assert not (tmp_path / "spool" / "pending.tmp").exists()
    spool.replace([])
    assert not spool.path.exists() and not spool.has_lines()


def test_a_dead_letter_record_keeps_the_line_the_error_and_the_time() -> None:
    line = dump_line({"op": "turn", "call_sid": "CA1"}, "run", 3)
    record = orjson.loads(dead_letter_line(line, "DataError: bad", AWARE))
    assert record == {
        "failed_at": AWARE.isoformat(),
        "error": "DataError: bad",
        "line": orjson.loads(line),
    }
    torn = orjson.loads(dead_letter_line(b'{"op": "tu', "SpoolLineError: not JSON", AWARE))
    assert torn["line"] == '{"op": "tu'
