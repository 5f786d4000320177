"""Sign-in throttling: too many failures for an account from an address, or from an address.

Failures are rows in Postgres, so the limit holds across Machines and restarts. A success
clears the account's failures from that address; old rows are purged daily.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.staff.tables import staff_login_failures


@dataclass(frozen=True)
class Limits:
    per_account: int = 5  # failures for one account from one address
    per_address: int = 30  # failures for any accounts from one address (password spraying)
    window: timedelta = timedelta(minutes=15)


async def is_throttled(engine: AsyncEngine, account: str, address: str, limits: Limits) -> bool:
    f = staff_login_failures.c
    recent = f.at > func.now() - limits.window
    mine = and_(f.account == account, f.address == address)
    statement = select(
        func.count().filter(mine),
        func.count(),
    ).where(f.address == address, recent)
    async with engine.connect() as conn:
        for_account, for_address = (await conn.execute(statement)).one()
    return bool(for_account >= limits.per_account or for_address >= limits.per_address)


async def record_failure(engine: AsyncEngine, account: str, address: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(staff_login_failures).values(account=account, address=address))


async def clear_failures(engine: AsyncEngine, account: str, address: str) -> None:
    f = staff_login_failures.c
    async with engine.begin() as conn:
        await conn.execute(
            delete(staff_login_failures).where(f.account == account, f.address == address)
        )


async def purge_failures(engine: AsyncEngine, older_than: timedelta) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(staff_login_failures).where(staff_login_failures.c.at < func.now() - older_than)
        )
    return result.rowcount or 0
