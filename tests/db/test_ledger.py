"""The writer's ledger: `flush` is True only for settled rows, however they were settled."""

from __future__ import annotations

import asyncio

from app.db.ledger import Ledger


def _put(ledger: Ledger, n: int) -> list[int]:
    return [ledger.record({"op": "turn", "call_sid": "CA1"}) for _ in range(n)]


async def test_rows_settled_out_of_turn_count_only_once_those_before_them_are_settled() -> None:
    ledger = Ledger()
    one, two, three = _put(ledger, 3)
    ledger.settle([three])  # e.g. dead-lettered while one and two wait in the spool
    assert ledger.settled == 0
    assert await ledger.wait_settled(3, timeout=0.05) is False
    assert ledger.is_open(one) and not ledger.is_open(three)
    ledger.settle([one, two])
    assert ledger.settled == 3 and ledger.ahead == set()
    assert await ledger.wait_settled(3, timeout=0.05) is True


async def test_spooled_rows_answer_false_at_once_only_while_the_database_is_unavailable() -> None:
    ledger = Ledger()
    seqs = _put(ledger, 2)
    ledger.spool(seqs)
    ledger.set_unavailable(True)
    assert await ledger.wait_settled(2, timeout=5) is False  # at once, not at the timeout
    ledger.set_unavailable(False)  # the database answers: wait for the replay instead
    waiter = asyncio.create_task(ledger.wait_settled(2, timeout=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    ledger.settle(seqs)
    assert await waiter is True


async def test_a_waiter_wakes_when_the_database_goes_away_with_its_rows_spooled() -> None:
    ledger = Ledger()
    seqs = _put(ledger, 1)
    waiter = asyncio.create_task(ledger.wait_settled(1, timeout=5))
    await asyncio.sleep(0.01)
    ledger.spool(seqs)
    ledger.set_unavailable(True)
    async with asyncio.timeout(1):
        assert await waiter is False


def test_unwritten_call_rows_lay_over_a_row_in_put_order_until_settled() -> None:
    ledger = Ledger()
    first = ledger.record(
        {"op": "call", "call_sid": "CA1", "only_insert": True, "fields": {"from_number": "+1"}}
    )
    second = ledger.record({"op": "call", "call_sid": "CA1", "fields": {"end_reason": "idle"}})
    ledger.record({"op": "call", "call_sid": "CA2", "fields": {"end_reason": "other"}})
    assert ledger.with_unwritten("CA1", {}) == {
        "call_sid": "CA1",
        "from_number": "+1",
        "end_reason": "idle",
    }
    in_db = {"call_sid": "CA1", "from_number": "+9", "end_reason": None}
    assert ledger.with_unwritten("CA1", in_db) == {**in_db, "end_reason": "idle"}
    ledger.settle([first, second])
    assert ledger.with_unwritten("CA1", in_db) == in_db


def test_a_malformed_row_is_numbered_without_raising() -> None:
    """put() runs on the audio path: the writer, not the producer, deals with a bad row."""
    ledger = Ledger()
    assert ledger.record({"op": "call"}) == 1
    assert ledger.record({"op": "call", "call_sid": "CA1", "fields": None}) == 2
    assert ledger.with_unwritten("CA1", {}) == {}
