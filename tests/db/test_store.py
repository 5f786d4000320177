"""The writer against a real PostgreSQL: rows land in order, outages spool, refused rows are
dead-lettered alone, and `flush()` is True only when the rows are in the database."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from structlog.testing import capture_logs

from app.business.messages import insert_message
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine
from app.db.spool import Op, dump_line
from app.db.store import CallStore
from app.functions.base import MessageRecord, message_id
from tests.conftest import migrated_engine

T0 = datetime(2026, 11, 21, 15, 4, 5, 123456, tzinfo=UTC)
_sids = itertools.count()


def new_sid() -> str:
    return f"CA{next(_sids):032x}"


async def write_message(conn: AsyncConnection, op: Op) -> None:
    """The service's `message` op, registered the way the composition root registers it."""
    await insert_message(conn, MessageRecord(**op["record"]))


def make_store(engine: AsyncEngine, spool_dir: Path, **kwargs: Any) -> CallStore:
    return CallStore(
        engine,
        spool_dir,
        retry_initial=0.05,
        retry_max=0.2,
        handlers={"message": write_message},
        **kwargs,
    )


@pytest.fixture(scope="module")
async def engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres, "store") as engine:
        yield engine


@pytest.fixture
async def store(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[CallStore]:
    store = make_store(engine, tmp_path / "spool")
    await store.start()
    yield store
    await store.stop()


def every_op(sid: str, abandoned_sid: str) -> list[Op]:
    """One of each row the service writes, as its producers write them, with every type."""
    message = MessageRecord(
        id=message_id(sid, "call_msg"),
        call_sid=sid,
        caller_name="Ann O'Neil",
        callback_number="+14155550123",
        message="Call me back about 2026-11-21T10:00:00Z, please",
        urgency="urgent",
    )
    return [
        {  # incoming.py: the webhook's insert-only row
            "op": "call",
            "call_sid": sid,
            "only_insert": True,
            "fields": {
                "account_sid": "AC" + "0" * 32,
                "from_number": "+14155550123",
                "to_number": "+15559870000",
                "from_state": "CA",
                "from_city": "SAN FRANCISCO",
                "from_country": "US",
                "direction": "inbound",
                "twilio_status": "ringing",
                "model": "gpt-realtime-2",
                "started_at": T0,
            },
        },
        {
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {"recording_disclosed": True},
        },
        {"op": "call", "call_sid": sid, "only_insert": False, "fields": {"stream_sid": "MZ1"}},
        {
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {"greeting_ms": 812, "answered_at": T0 + timedelta(microseconds=812001)},
        },
        {
            "op": "turn",
            "call_sid": sid,
            "seq": 0,
            "speaker": "agent",
            "text": "Hi, Bright Smile Dental.",
            "interrupted": False,
            "offset_ms": 0,
        },
        {
            "op": "turn",
            "call_sid": sid,
            "seq": 1,
            "speaker": "caller",
            "text": "2026-11-21 at 10?",
            "interrupted": True,
            "offset_ms": 1500,
        },
        {
            "op": "tool_call",
            "call_sid": sid,
            "tool_call_id": "call_1",
            "name": "book_appointment",
            "arguments": {"date": "2026-11-21", "at": "10:00", "caller_confirmed": True},
            "result": {
                "ok": True,
                "starts_at": "2026-11-21T10:00:00-05:00",
                "price": 12.5,
                "slots": [["09:00", "09:30"], []],
                "note": None,
                "$dt": "a key that looks like a tag",
            },
            "ok": True,
            "duration_ms": 340,
            "offset_ms": 2100,
        },
        {"op": "message", "record": asdict(message)},  # wiring.py: take_message
        {  # transfer.py: the warm transfer's row
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {
                "transfer_status": "requested",
                "transfer_reason": "wants a person",
                "transfer_summary": "Ann asked about 2026-11-21.",
                "transfer_requested_at": T0 + timedelta(seconds=30, microseconds=7),
            },
        },
        {  # callbacks.py: the transfer nobody answered
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {
                "transfer_status": "failed",
                "dial_call_status": "no-answer",
                "end_reason": None,
            },
        },
        {
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {"twilio_status": "in-progress"},
        },
        {  # the driver's end of call
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {
                "ended_at": T0 + timedelta(minutes=2, microseconds=999999),
                "end_reason": "agent_hangup",
                "input_tokens": 1200,
                "output_tokens": 800,
                "input_audio_tokens": 900,
                "output_audio_tokens": 700,
                "cached_tokens": 64,
                "estimated_cost_usd": Decimal("0.1234"),
            },
        },
        {
            "op": "outcome",
            "call_sid": sid,
            "outcome": "message_taken",
            "detail": {"message_id": message.id, "at": "2026-11-21T10:00:00Z", "n": [1, 2.5]},
        },
        {  # callbacks.py: a caller who hung up during the greeting
            "op": "call",
            "call_sid": abandoned_sid,
            "only_insert": True,
            "fields": {"from_number": "+442079460958", "started_at": T0},
        },
        {
            "op": "finalize",
            "call_sid": abandoned_sid,
            "twilio_status": "completed",
            "end_reason": "caller_hangup",
            "ended_at": T0 + timedelta(seconds=4, microseconds=5),
        },
    ]


async def read_back(engine: AsyncEngine, sid: str, abandoned_sid: str) -> dict[str, Any]:
    """Everything the database holds for the two calls of `every_op`, ids and clocks left out."""
    async with engine.connect() as conn:

        async def rows(sql: str, call_sid: str) -> list[dict[str, Any]]:
            result = await conn.execute(text(sql), {"s": call_sid})
            return [dict(r) for r in result.mappings()]

        return {
            "call": (await rows("SELECT * FROM calls WHERE call_sid = :s", sid))[0],
            "turns": await rows(
                "SELECT seq, speaker, text, interrupted, offset_ms FROM transcript_turns "
                "WHERE call_sid = :s ORDER BY seq",
                sid,
            ),
            "tools": await rows(
                "SELECT tool_call_id, name, arguments, result, ok, duration_ms, offset_ms "
                "FROM tool_calls WHERE call_sid = :s",
                sid,
            ),
            "outcome": await rows(
                "SELECT outcome, detail FROM call_outcomes WHERE call_sid = :s", sid
            ),
            "messages": await rows(
                "SELECT id, call_sid, caller_name, callback_number, message, urgency "
                "FROM messages WHERE call_sid = :s",
                sid,
            ),
            "abandoned": (await rows("SELECT * FROM calls WHERE call_sid = :s", abandoned_sid))[0],
            "abandoned_outcome": await rows(
                "SELECT outcome, detail FROM call_outcomes WHERE call_sid = :s", abandoned_sid
            ),
        }


def assert_holds_every_op(got: dict[str, Any], ops: list[Op]) -> None:
    """The database holds exactly what `every_op` put: same values, same types."""
    call = got["call"]
    expected: dict[str, Any] = {}
    for op in ops[:13]:
        if op["op"] == "call":
            expected.update(op["fields"])
    for column, value in expected.items():
        assert call[column] == value, column
        assert type(call[column]) is type(value), column
    assert call["transfer_requested_at"] == T0 + timedelta(seconds=30, microseconds=7)
    assert str(call["estimated_cost_usd"]) == "0.1234"
    turns = [op for op in ops if op["op"] == "turn"]
    assert got["turns"] == [
        {k: t[k] for k in ("seq", "speaker", "text", "interrupted", "offset_ms")} for t in turns
    ]
    (tool,) = [op for op in ops if op["op"] == "tool_call"]
    assert got["tools"] == [{k: tool[k] for k in got["tools"][0]}]
    (outcome,) = [op for op in ops if op["op"] == "outcome"]
    assert got["outcome"] == [{"outcome": "message_taken", "detail": outcome["detail"]}]
    (message,) = [op for op in ops if op["op"] == "message"]
    assert got["messages"] == [{k: message["record"][k] for k in got["messages"][0]}]
    finalize = ops[-1]
    abandoned = got["abandoned"]
    assert abandoned["ended_at"] == finalize["ended_at"]
    assert (abandoned["twilio_status"], abandoned["end_reason"]) == ("completed", "caller_hangup")
    assert abandoned["from_number"] == "+442079460958" and abandoned["started_at"] == T0
    assert got["abandoned_outcome"] == [{"outcome": "abandoned", "detail": {"twilio": "completed"}}]


def anonymised(value: Any, sid: str, abandoned: str) -> Any:
    """`value` with the two call SIDs named alike and the serial `id` of each calls row left
    out, so the rows of two calls built by `every_op` can be compared."""
    if isinstance(value, str):
        return value.replace(sid, "<sid>").replace(abandoned, "<abandoned>")
    if isinstance(value, list):
        return [anonymised(v, sid, abandoned) for v in value]
    if isinstance(value, dict):
        return {k: anonymised(v, sid, abandoned) for k, v in value.items() if k != "id"}
    return value


def dead_letters(store: CallStore) -> list[dict[str, Any]]:
    path = store.dead_letter_path
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


# --- written directly -------------------------------------------------------------------------


async def test_every_op_is_written_with_its_types_when_the_database_answers(
    store: CallStore, engine: AsyncEngine
) -> None:
    sid, abandoned = new_sid(), new_sid()
    ops = every_op(sid, abandoned)
    for op in ops:
        store.put(op)
    assert await store.flush(10) is True
    assert_holds_every_op(await read_back(engine, sid, abandoned), ops)
    assert store.spool_size == 0 and store.dead_letter_size == 0


async def test_flush_true_means_another_connection_already_sees_the_rows(
    store: CallStore, engine: AsyncEngine
) -> None:
    sid = new_sid()
    store.call(sid, only_insert=True, started_at=T0)
    for seq in range(50):
        store.turn(sid, seq, "caller", f"turn {seq}", False, seq * 10)
    assert await store.flush(10) is True
    assert (
        await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid)
        == 50
    )


async def test_flush_with_nothing_put_is_true_at_once(store: CallStore) -> None:
    assert await store.flush(0.01) is True


# --- refused rows ------------------------------------------------------------------------------


async def test_a_refused_row_in_a_live_batch_is_dead_lettered_alone_and_the_rest_land(
    store: CallStore, engine: AsyncEngine
) -> None:
    sid = new_sid()
    with capture_logs() as logs:
        # Put in one go, so the writer takes them as one batch.
        store.call(sid, only_insert=True, from_number="+14155550123", started_at=T0)
        store.turn(sid, 0, "agent", "Hello", False, 0)
        store.call(sid, transfer_requested_at="half past two")  # not a timestamp
        store.turn(sid, 1, "caller", "Hi", False, 900)
        store.call(sid, end_reason="agent_hangup", estimated_cost_usd=Decimal("0.0100"))
        assert await store.flush(10) is True
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM calls WHERE call_sid = :s"), {"s": sid})
        ).one()
    assert row.started_at == T0 and row.transfer_requested_at is None
    assert row.end_reason == "agent_hangup" and row.estimated_cost_usd == Decimal("0.0100")
    assert (
        await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid) == 2
    )
    (letter,) = dead_letters(store)
    assert letter["line"]["op"]["fields"] == {"transfer_requested_at": "half past two"}
    assert "DataError" in letter["error"] and "half past two" in letter["error"]
    assert abs(datetime.fromisoformat(letter["failed_at"]) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    assert store.dead_lettered == 1 and store.spool_size == 0
    assert any(e["event"] == "store_batch_refused" for e in logs)
    (logged,) = [e for e in logs if e["event"] == "store_row_dead_lettered"]
    assert logged["log_level"] == "error" and logged["call_sid"] == sid
    assert logged["op"] == "call" and logged["error"] == "DataError"
    assert "half past two" not in logged["reason"]  # the row's values stay out of the log


async def test_rows_that_break_a_constraint_are_dead_lettered_one_by_one(
    store: CallStore, engine: AsyncEngine
) -> None:
    sid = new_sid()
    bad_message = MessageRecord(
        id=message_id(sid, "m1"), call_sid=sid, caller_name="Bo", callback_number=None, message="x"
    )
    store.call(sid, only_insert=True, started_at=T0)
    store.put({"op": "message", "record": {**asdict(bad_message), "urgency": "whenever"}})
    store.turn(sid, 0, "agent", "Hello", False, 0)
    store.put(
        {"op": "message", "record": {**asdict(bad_message), "id": "m2", "call_sid": "CAnope"}}
    )
    store.turn(sid, 1, "caller", "Bye", False, 700)
    assert await store.flush(10) is True
    assert (
        await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid) == 2
    )
    letters = dead_letters(store)
    assert [letter["line"]["op"]["record"]["id"] for letter in letters] == [bad_message.id, "m2"]
    assert "CheckViolationError" in letters[0]["error"]
    assert "ForeignKeyViolationError" in letters[1]["error"]


async def test_a_row_with_no_registered_writer_is_dead_lettered_not_retried(
    store: CallStore, engine: AsyncEngine
) -> None:
    sid = new_sid()
    store.put({"op": "no_such_op", "call_sid": sid})
    store.call(sid, only_insert=True, started_at=T0)
    assert await store.flush(10) is True
    assert await count(engine, "SELECT count(*) FROM calls WHERE call_sid = :s", s=sid) == 1
    (letter,) = dead_letters(store)
    assert "UnknownOp" in letter["error"] and "no_such_op" in letter["error"]


# --- a spool left by an earlier process ----------------------------------------------------------


async def test_every_op_spooled_by_an_earlier_process_is_replayed_exactly(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Spool every op, replay it into the database, read each row back: same values, same
    types, the same rows as the same ops written directly."""
    sid, abandoned = new_sid(), new_sid()
    ops = every_op(sid, abandoned)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    lines = [dump_line(op, "earlier-process", n) for n, op in enumerate(ops, 1)]
    (spool_dir / "pending-writes.jsonl").write_bytes(b"".join(lines))
    store = make_store(engine, spool_dir)
    await store.start()
    try:
        store.call(new_sid(), only_insert=True)  # queued behind the spool: flushed after it
        assert await store.flush(10) is True
        replayed = await read_back(engine, sid, abandoned)
        assert store.spool_size == 0 and store.dead_letter_size == 0
        # The same ops written straight to the database give the same rows.
        direct_sid, direct_abandoned = new_sid(), new_sid()
        for op in every_op(direct_sid, direct_abandoned):
            store.put(op)
        assert await store.flush(10) is True
        direct = await read_back(engine, direct_sid, direct_abandoned)
    finally:
        await store.stop()
    assert_holds_every_op(replayed, ops)
    assert anonymised(replayed, sid, abandoned) == anonymised(direct, direct_sid, direct_abandoned)


async def test_a_refused_row_in_an_old_spool_is_dead_lettered_and_the_good_rows_land(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sid = new_sid()
    good_before = {"op": "call", "call_sid": sid, "only_insert": True, "fields": {"started_at": T0}}
    # The bug this replaces: a calls row spooled with a datetime as text, which PostgreSQL refuses.
    bad = {"op": "call", "call_sid": sid, "fields": {"transfer_requested_at": "not a time at all"}}
    good_after = [
        {
            "op": "turn",
            "call_sid": sid,
            "seq": n,
            "speaker": "caller",
            "text": f"t{n}",
            "interrupted": False,
            "offset_ms": n,
        }
        for n in range(3)
    ]
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    lines = [dump_line(op, "old", n) for n, op in enumerate([good_before, bad, *good_after], 1)]
    lines.insert(2, b'{"op": "turn", "call_sid": "CA torn by a cra\n')  # a crash mid-append
    (spool_dir / "pending-writes.jsonl").write_bytes(b"".join(lines))
    store = make_store(engine, spool_dir)
    with capture_logs() as logs:
        await store.start()
        try:
            store.call(new_sid(), only_insert=True)
            assert await store.flush(10) is True
        finally:
            await store.stop()
    assert (
        await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid) == 3
    )
    assert await count(engine, "SELECT count(*) FROM calls WHERE call_sid = :s", s=sid) == 1
    letters = dead_letters(store)
    assert [type(letter["line"]).__name__ for letter in letters] == ["str", "dict"]
    assert "SpoolLineError" in letters[0]["error"]
    assert letters[1]["line"]["op"] == bad and "DataError" in letters[1]["error"]
    assert not (spool_dir / "pending-writes.jsonl").exists()
    assert [e.get("call_sid") for e in logs if e["event"] == "store_row_dead_lettered"] == [
        None,
        sid,
    ]


async def test_an_old_format_spool_is_replayed_with_its_datetimes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Lines exactly as the writer wrote them before values were tagged."""
    sid = new_sid()
    old_lines = [
        {
            "op": "call",
            "call_sid": sid,
            "fields": {"started_at": T0.isoformat(), "from_number": "+1415"},
            "only_insert": True,
        },
        {
            "op": "call",
            "call_sid": sid,
            "only_insert": False,
            "fields": {
                "transfer_status": "requested",
                "transfer_requested_at": (T0 + timedelta(seconds=9)).isoformat(),
            },
        },
        {
            "op": "turn",
            "call_sid": sid,
            "seq": 0,
            "speaker": "agent",
            "text": "Hi",
            "interrupted": False,
            "offset_ms": 0,
        },
        {
            "op": "finalize",
            "call_sid": sid,
            "twilio_status": "completed",
            "end_reason": "caller_hangup",
            "ended_at": (T0 + timedelta(seconds=20)).isoformat(),
        },
    ]
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "pending-writes.jsonl").write_bytes(
        b"".join(orjson.dumps(line) + b"\n" for line in old_lines)
    )
    store = make_store(engine, spool_dir)
    await store.start()
    try:
        store.call(new_sid(), only_insert=True)
        assert await store.flush(10) is True
    finally:
        await store.stop()
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM calls WHERE call_sid = :s"), {"s": sid})
        ).one()
    assert row.started_at == T0
    assert row.transfer_requested_at == T0 + timedelta(seconds=9)
    assert row.ended_at == T0 + timedelta(seconds=20) and row.end_reason == "caller_hangup"
    assert store.dead_letter_size == 0


# --- real outages --------------------------------------------------------------------------------


async def test_rows_put_during_an_outage_are_spooled_then_land_exactly_across_a_restart(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    pg, url = own_postgres
    engine = make_engine(url, pool_size=2)
    spool_dir = tmp_path / "spool"
    try:
        # 1. The database goes away under a running writer: every op is spooled, typed.
        store = make_store(engine, spool_dir)
        await store.start()
        store.call(new_sid(), only_insert=True)
        assert await store.flush(10) is True
        await pg.stop()
        sid, abandoned = new_sid(), new_sid()
        ops = every_op(sid, abandoned)
        for op in ops:
            store.put(op)
        started = time.monotonic()
        assert await store.flush(30) is False  # only on disk: not in the database
        assert time.monotonic() - started < 10  # said so once spooled, not at the timeout
        assert store.spool_size == len(ops)
        # 2. The process stops during the outage; what it still held goes to the spool too.
        late = new_sid()
        store.call(late, only_insert=True, started_at=T0, estimated_cost_usd=Decimal("1.5000"))
        await store.stop(timeout=0.5)
        assert store.spool_size == len(ops) + 1 and store.dead_letter_size == 0
        # 3. A new process starts once the database is back and replays the spool.
        await pg.start()
        store = make_store(engine, spool_dir)
        await store.start()
        try:
            store.call(new_sid(), only_insert=True)
            assert await store.flush(30) is True
            assert store.spool_size == 0 and store.dead_letter_size == 0
            assert_holds_every_op(await read_back(engine, sid, abandoned), ops)
            async with engine.connect() as conn:
                cost = (
                    await conn.execute(
                        text("SELECT estimated_cost_usd FROM calls WHERE call_sid = :s"),
                        {"s": late},
                    )
                ).scalar_one()
            assert cost == Decimal("1.5000")
            # 4. Another outage, this time replayed by the same process once it is over.
            await pg.stop()
            again = new_sid()
            store.call(again, only_insert=True, started_at=T0)
            store.call(again, transfer_requested_at=T0 + timedelta(seconds=1))
            assert await store.flush(30) is False
            assert store.spool_size == 2
            assert store.with_unwritten(again, {})["transfer_requested_at"] == T0 + timedelta(
                seconds=1
            )
            await pg.start()
            async with asyncio.timeout(30):  # the writer notices at its next retry
                while store.spool_size:
                    await asyncio.sleep(0.05)
            assert await store.flush(30) is True
            assert store.with_unwritten(again, {}) == {}
            async with engine.connect() as conn:
                requested = (
                    await conn.execute(
                        text("SELECT transfer_requested_at FROM calls WHERE call_sid = :s"),
                        {"s": again},
                    )
                ).scalar_one()
            assert requested == T0 + timedelta(seconds=1)
        finally:
            await store.stop()
    finally:
        await engine.dispose()


async def test_an_outage_is_never_taken_for_a_refused_row(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    pg, url = own_postgres
    engine = make_engine(url, pool_size=2)
    store = make_store(engine, tmp_path / "spool")
    await store.start()
    try:
        await pg.stop()
        with capture_logs() as logs:
            for _ in range(5):
                store.call(new_sid(), only_insert=True, started_at=T0)
                await asyncio.sleep(0.1)  # several batches, each failing on its own
            assert await store.flush(10) is False
        assert store.dead_letter_size == 0 and store.spool_size == 5
        assert {e["event"] for e in logs} >= {"store_write_failed", "store_spooled"}
        assert not any(e["log_level"] == "error" for e in logs)
    finally:
        await store.stop(timeout=0.5)
        await engine.dispose()


# --- read your own writes -----------------------------------------------------------------------


async def test_unwritten_call_fields_lay_over_the_database_row_until_written(
    store: CallStore,
) -> None:
    sid = new_sid()
    store.call(sid, only_insert=True, from_number="+14155550123", end_reason="ignored-if-a-row")
    store.call(sid, end_reason="agent_hangup")
    from_db = {"call_sid": sid, "end_reason": None, "from_number": "+14155550123"}
    assert store.with_unwritten(sid, from_db)["end_reason"] == "agent_hangup"
    assert store.with_unwritten(sid, {})["end_reason"] == "agent_hangup"
    assert store.with_unwritten("CAother", {}) == {}
    assert await store.flush(10) is True
    assert store.with_unwritten(sid, from_db) == from_db


async def test_a_row_that_cannot_be_spooled_is_dead_lettered_and_the_others_are_spooled(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    pg, url = own_postgres
    engine = make_engine(url, pool_size=2)
    store = make_store(engine, tmp_path / "spool")
    await store.start()
    try:
        await pg.stop()
        sid = new_sid()
        store.call(sid, only_insert=True, started_at=T0)
        store.tool_call(sid, "c1", "odd", {"tags": {"a", "b"}}, {}, True, 1, 1)  # a set: no JSON
        store.turn(sid, 0, "agent", "Hi", False, 0)
        assert await store.flush(10) is False
        assert store.spool_size == 2
        (letter,) = dead_letters(store)
        assert "cannot spool a value of type set" in letter["error"]
        assert "'tags'" in letter["line"]  # kept for a person to read
        await pg.start()
        async with asyncio.timeout(30):
            while store.spool_size:
                await asyncio.sleep(0.05)
        assert await store.flush(10) is True
        assert (
            await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid)
            == 1
        )
    finally:
        await store.stop(timeout=0.5)
        await engine.dispose()


async def test_the_writer_survives_a_spool_it_cannot_read_and_loses_no_row(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    blocker = spool_dir / "pending-writes.jsonl"
    blocker.mkdir(parents=True)  # a directory where the spool file should be: reads fail
    store = CallStore(engine, spool_dir, retry_initial=0.05, retry_max=0.1)
    sid = new_sid()
    with capture_logs() as logs:
        await store.start()
        try:
            store.call(sid, only_insert=True, started_at=T0)
            store.turn(sid, 0, "agent", "Hi", False, 0)
            assert await store.flush(0.5) is False
            blocker.rmdir()
            assert await store.flush(10) is True
        finally:
            await store.stop()
    assert any(e["event"] == "store_writer_failed" for e in logs)
    assert (
        await count(engine, "SELECT count(*) FROM transcript_turns WHERE call_sid = :s", s=sid) == 1
    )
