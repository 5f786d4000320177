"""Staff accounts: add, list, change a password, remove (the `receptionist staff` commands)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.staff.passwords import hash_password, verify_password, weakness
from app.staff.tables import staff_sessions, staff_users

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(Exception):
    """An account operation that cannot be done; the message is one line for the person."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    created_at: datetime
    password_changed_at: datetime


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively: stored and looked up in lower case."""
    return email.strip().lower()


def check_email(email: str) -> str:
    email = normalise_email(email)
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address")
    return email


def _check_password(password: str) -> None:
    problem = weakness(password)
    if problem is not None:
        raise AccountError(f"password refused: {problem}")


async def add_account(engine: AsyncEngine, email: str, password: str) -> Account:
    email = check_email(email)
    _check_password(password)
    hashed = await hash_password(password)
    statement = (
        pg_insert(staff_users)
        .values(email=email, password_hash=hashed)
        .on_conflict_do_nothing()
        .returning(*_COLUMNS)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).first()
    if row is None:
        raise AccountError(f"{email} already has an account (use `staff passwd` to reset it)")
    return Account(*row)


async def list_accounts(engine: AsyncEngine) -> list[Account]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(*_COLUMNS).order_by(staff_users.c.email))
        return [Account(*row) for row in rows]


async def count_accounts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(staff_users))).scalar_one())


async def set_password(engine: AsyncEngine, email: str, password: str) -> None:
    """New password; every session of the account ends (a reset locks out whoever had it)."""
    email = normalise_email(email)
    _check_password(password)
    hashed = await hash_password(password)
    async with engine.begin() as conn:
        user_id = (
            await conn.execute(
                update(staff_users)
                .where(staff_users.c.email == email)
                .values(password_hash=hashed, password_changed_at=func.now())
                .returning(staff_users.c.id)
            )
        ).scalar_one_or_none()
        if user_id is None:
            raise AccountError(f"no account for {email}")
        await conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user_id))


async def remove_account(engine: AsyncEngine, email: str) -> None:
    """Delete the account; its sessions go with it (ON DELETE CASCADE)."""
    email = normalise_email(email)
    async with engine.begin() as conn:
        result = await conn.execute(delete(staff_users).where(staff_users.c.email == email))
    if result.rowcount == 0:
        raise AccountError(f"no account for {email}")


async def authenticate(engine: AsyncEngine, email: str, password: str) -> Account | None:
    """The account when the password is right; None for a wrong password or unknown email."""
    email = normalise_email(email)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(*_COLUMNS, staff_users.c.password_hash).where(staff_users.c.email == email)
            )
        ).first()
    stored = row.password_hash if row is not None else None
    if not await verify_password(stored, password) or row is None:
        return None
    return Account(row.id, row.email, row.created_at, row.password_changed_at)


_COLUMNS = (
    staff_users.c.id,
    staff_users.c.email,
    staff_users.c.created_at,
    staff_users.c.password_changed_at,
)
