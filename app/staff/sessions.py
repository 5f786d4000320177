"""Sign-in sessions: a signed cookie holding a random id, a row per session, an idle timeout.

The cookie carries `<id>.<HMAC-SHA256(SECRET_KEY, id)>`; the database keeps only a hash of the
id, the session's CSRF token and when it was last used. Signing lets a forged or tampered
cookie be refused before the database is asked; the row lets logout and password changes end
a session at once, on every Machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.staff.tables import staff_sessions, staff_users

COOKIE = "staff_session"
COOKIE_PATH = "/staff"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """HMAC-SHA256 signatures for cookie values, under one purpose so they cannot be swapped."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(key + b"\0" + purpose.encode()).digest()

    def _mac(self, value: str) -> str:
        return _b64(hmac.new(self._key, value.encode(), hashlib.sha256).digest())

    def sign(self, value: str) -> str:
        return f"{value}.{self._mac(value)}"

    def unsign(self, signed: str) -> str | None:
        """The value, or None when the signature is missing or wrong."""
        value, dot, mac = signed.rpartition(".")
        if not dot or not value:
            return None
        return value if hmac.compare_digest(mac, self._mac(value)) else None


@dataclass(frozen=True)
class StaffSession:
    """The signed-in person of a request."""

    user_id: int
    email: str
    csrf_token: str


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def open_session(engine: AsyncEngine, user_id: int) -> tuple[str, str]:
    """A new session for the account: (session id for the cookie, its CSRF token)."""
    session_id, csrf = new_token(), new_token()
    async with engine.begin() as conn:
        await conn.execute(
            insert(staff_sessions).values(
                id_hash=_id_hash(session_id), user_id=user_id, csrf_token=csrf
            )
        )
    return session_id, csrf


async def touch_session(
    engine: AsyncEngine, session_id: str, idle: timedelta
) -> StaffSession | None:
    """The session if it was used within `idle`, marking it used now; else None.

    One statement: the request that finds the session also keeps it alive.
    """
    s, u = staff_sessions.c, staff_users.c
    statement = (
        update(staff_sessions)
        .where(
            s.id_hash == _id_hash(session_id),
            s.last_seen_at > func.now() - idle,
            u.id == s.user_id,
        )
        .values(last_seen_at=func.now())
        .returning(s.user_id, u.email, s.csrf_token)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).first()
    return StaffSession(row.user_id, row.email, row.csrf_token) if row is not None else None


async def close_session(engine: AsyncEngine, session_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            delete(staff_sessions).where(staff_sessions.c.id_hash == _id_hash(session_id))
        )


async def purge_idle_sessions(engine: AsyncEngine, idle: timedelta) -> int:
    """Delete sessions idle for longer than `idle` (they can no longer be used anyway)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(staff_sessions).where(staff_sessions.c.last_seen_at < func.now() - idle)
        )
    return result.rowcount or 0
