"""Telling an unavailable database from a refused row, on faults caused for real where we can."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine
from app.db.faults import error_text, is_unavailable, log_reason, root_cause, sqlstate
from tests.conftest import migrated_engine
from tests.doubles.server import free_port


@pytest.fixture(scope="module")
async def engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres, "faults") as engine:
        yield engine


async def _failure(engine: AsyncEngine, sql: str, **params: object) -> Exception:
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    except Exception as exc:
        return exc
    raise AssertionError("the statement did not fail")


# --- the database's fault: retry and spool ------------------------------------------------------


async def test_a_closed_port_is_unavailable() -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres")
    try:
        exc = await _failure(engine, "SELECT 1")
    finally:
        await engine.dispose()
    assert isinstance(exc, OSError)
    assert is_unavailable(exc)


async def test_a_missing_unix_socket_is_unavailable(tmp_path: Path) -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@/postgres?host={tmp_path}")
    try:
        exc = await _failure(engine, "SELECT 1")
    finally:
        await engine.dispose()
    assert is_unavailable(exc)


async def test_a_connection_the_server_terminates_is_unavailable(
    engine: AsyncEngine, postgres: EmbeddedPostgres
) -> None:
    """pg_terminate_backend: what an operator's restart or a failover does to open sessions."""
    async with engine.connect() as victim:
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.1)
        with pytest.raises(Exception) as info:
            await victim.execute(text("SELECT 1"))
    assert is_unavailable(info.value)


async def test_too_many_connections_is_unavailable(engine: AsyncEngine) -> None:
    role = f"limited_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0"))
    url = engine.url.set(username=role).render_as_string(hide_password=False)
    limited = make_engine(url)
    try:
        exc = await _failure(limited, "SELECT 1")
    finally:
        await limited.dispose()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP ROLE {role}"))
    assert sqlstate(exc) == "53300"
    assert is_unavailable(exc)


async def test_a_missing_table_means_the_schema_is_not_migrated_yet(engine: AsyncEngine) -> None:
    exc = await _failure(engine, "INSERT INTO no_such_table VALUES (1)")
    assert sqlstate(exc) == "42P01"
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only txn"),
        asyncpg.exceptions.DiskFullError("could not extend file"),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_level_failures_are_unavailable(exc: BaseException) -> None:
    assert is_unavailable(exc)


def test_an_invalidated_connection_wrapped_by_sqlalchemy_is_unavailable() -> None:
    wrapped = sa_exc.DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    assert is_unavailable(wrapped)


def test_a_wrapped_asyncpg_shutdown_is_found_through_the_cause_chain() -> None:
    def adapter() -> None:
        try:
            raise asyncpg.exceptions.AdminShutdownError("terminating connection")
        except Exception as exc:
            raise RuntimeError("adapter") from exc

    with pytest.raises(RuntimeError) as info:
        adapter()
    assert is_unavailable(info.value)


# --- the row's fault: dead letter ---------------------------------------------------------------


async def test_a_value_of_the_wrong_type_is_the_rows_fault(engine: AsyncEngine) -> None:
    exc = await _failure(
        engine, "UPDATE calls SET transfer_requested_at = :t WHERE false", t="half past two"
    )
    assert not is_unavailable(exc)
    assert "invalid input for query argument" in error_text(exc)
    assert "half past two" in error_text(exc)  # the dead-letter file says what was refused
    assert "half past two" not in log_reason(exc)  # the log line does not
    assert "'str'" in log_reason(exc)  # but keeps the type names that explain it


async def test_a_broken_constraint_is_the_rows_fault(engine: AsyncEngine) -> None:
    exc = await _failure(
        engine,
        "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
        "VALUES ('CA-none', 0, 'agent', 'x', 0)",
    )
    assert sqlstate(exc) == "23503"
    assert not is_unavailable(exc)
    assert type(root_cause(exc)).__name__ == "ForeignKeyViolationError"


async def test_text_that_is_no_timestamp_is_the_rows_fault(engine: AsyncEngine) -> None:
    exc = await _failure(engine, "SELECT CAST(CAST(:v AS text) AS timestamptz)", v="not a time")
    assert sqlstate(exc) == "22007"
    assert not is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("fields"),
        TypeError("unsupported operand"),
        ValueError("bad value"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.NotNullViolationError("null value in column"),
        asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax"),
        asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_anything_else_is_the_rows_fault(exc: BaseException) -> None:
    assert not is_unavailable(exc)


def test_error_text_has_the_class_sqlstate_and_message() -> None:
    exc = asyncpg.exceptions.UniqueViolationError("duplicate key value")
    assert error_text(exc) == "UniqueViolationError [23505]: duplicate key value"
    assert error_text(KeyError("fields")) == "KeyError: 'fields'"
