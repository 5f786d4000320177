"""Tells a database the writer cannot use right now from a row the database refuses.

The writer retries and spools the first kind (the row is fine, the server is not: unreachable,
shutting down, overloaded, failed over to a read-only standby, not migrated yet, rejecting our
credentials, or in a conflict with another transaction). Any other failure is the row's own
(a value of the wrong type, a broken constraint, a bug in a write), and retrying it would only
hold up every row queued behind it: that row goes to the dead letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc

# PostgreSQL SQLSTATE classes and codes (Appendix A, "PostgreSQL Error Codes") that describe the
# server or the session, never the row that was being written.
_UNAVAILABLE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "53",  # insufficient resources: too many connections, disk full, out of memory
        "28",  # invalid authorization: rotated credentials; the row would be fine
        "40",  # transaction rollback: serialization failure, deadlock; a retry succeeds
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, shutting down, in recovery)
        "57P05",  # idle_session_timeout
        "57014",  # query_canceled (statement_timeout, or an operator's pg_cancel_backend)
        "55P03",  # lock_not_available
        "25006",  # read_only_sql_transaction: a failover left us on a standby
        "3D000",  # invalid_catalog_name: the database is not there (yet)
        "42P01",  # undefined_table: the schema is not migrated (yet)
        "42703",  # undefined_column: the code is ahead of the schema, not the row at fault
    }
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS, a missing Unix socket; TimeoutError too
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,  # e.g. a protocol error on a broken connection
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no connection free in the pool in time
)
# Quoted values in an error message are the row's data; identifiers like 'str' are kept.
_QUOTED = re.compile(r"'([^'\n]*)'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,39}")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what SQLAlchemy wrapped (`orig`), and its causes and contexts."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        for nxt in (getattr(current, "orig", None), current.__cause__, context):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind an exception (asyncpg's or SQLAlchemy's wrapping of it)."""
    for err in _chain(exc):
        code = getattr(err, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return None


def is_unavailable(exc: BaseException) -> bool:
    """True when the database could not take the write at all, whatever the row held."""
    for err in _chain(exc):
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, _CONNECTION_ERRORS):
            return True
    code = sqlstate(exc)
    return code is not None and (code[:2] in _UNAVAILABLE_CLASSES or code in _UNAVAILABLE_CODES)


def root_cause(exc: BaseException) -> BaseException:
    """The driver's own exception (asyncpg's, whose message names the problem) rather than
    SQLAlchemy's wrapper (which lists every value of the statement)."""
    chain = [exc]
    while True:
        nxt = getattr(chain[-1], "orig", None) or chain[-1].__cause__
        if not isinstance(nxt, BaseException) or nxt in chain:
            break
        chain.append(nxt)
    for err in chain:
        if type(err).__module__.startswith("asyncpg"):
            return err
    return chain[1] if isinstance(exc, sa_exc.StatementError) and len(chain) > 1 else exc


def error_text(exc: BaseException) -> str:
    """The full error, for the dead-letter file: class, SQLSTATE and the server's message."""
    root = root_cause(exc)
    code = sqlstate(exc)
    prefix = f"{type(root).__name__}" + (f" [{code}]" if code else "")
    message = str(root).strip()
    return f"{prefix}: {message}" if message else prefix


def log_reason(exc: BaseException) -> str:
    """The error for a log line: its first line, with the row's quoted values left out."""
    first = (str(root_cause(exc)).strip().splitlines() or [""])[0]

    def elide(match: re.Match[str]) -> str:
        return match.group(0) if _IDENTIFIER.fullmatch(match.group(1)) else "'…'"

    return _QUOTED.sub(elide, first)[:300]
