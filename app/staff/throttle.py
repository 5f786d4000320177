"""Sign-in throttling: by account and address, by address, and by account from anywhere.

Three limits, all counted over `window` from failure rows in Postgres, so they hold across
Machines and restarts:

- one account from one address: `per_account` failures lock that pair for the window;
- one address, any accounts: `per_address` failures lock the address (password spraying);
- one account, any addresses: from `account_free` failures on, each further try must wait a
  delay after the account's last failure, `account_delay` doubling with each failure up to
  `account_delay_max`. Guessing from many addresses is slowed to a crawl, while a stranger who
  fails on purpose keeps the owner out for at most that short delay, not for the window.

Throttled tries are refused before the password is checked and are not recorded, so they
neither extend a delay nor reveal whether the password was right. A success clears the
account's failures from that address; old rows are purged daily. The address is what the
platform vouches for (app/server.py, app/fleet/client_address.py), never a header the client
wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.staff.tables import staff_login_failures


@dataclass(frozen=True)
class Limits:
    per_account: int = 5  # failures for one account from one address
    per_address: int = 30  # failures for any accounts from one address (password spraying)
    window: timedelta = timedelta(minutes=15)
    account_free: int = 5  # failures for one account from anywhere before it is slowed down
    account_delay: timedelta = timedelta(seconds=5)
    account_delay_max: timedelta = timedelta(minutes=2)

    def account_wait(self, failures: int) -> float:
        """Seconds a try must wait after the account's last failure, given its failures."""
        if failures < self.account_free:
            return 0.0
        doublings = min(failures - self.account_free, 30)
        delay = self.account_delay.total_seconds() * 2**doublings
        return float(min(delay, self.account_delay_max.total_seconds()))


@dataclass(frozen=True)
class Throttled:
    """Why a try is refused and how long to wait before the next."""

    retry_after: int  # seconds
    account_slowed: bool  # the account-wide delay, not a lock of this address


async def throttled(
    engine: AsyncEngine, account: str, address: str, limits: Limits
) -> Throttled | None:
    """None when this try may go ahead; else how long to wait."""
    f = staff_login_failures.c
    recent = f.at > func.now() - limits.window
    from_here = f.address == address
    for_account = f.account == account
    statement = select(
        func.count().filter(and_(for_account, from_here)),
        func.count().filter(from_here),
        func.count().filter(for_account),
        func.extract("epoch", func.now() - func.max(f.at).filter(for_account)),
    ).where(recent, or_(from_here, for_account))
    async with engine.connect() as conn:
        pair, here, anywhere, since_last = (await conn.execute(statement)).one()
    window = math.ceil(limits.window.total_seconds())
    if pair >= limits.per_account or here >= limits.per_address:
        return Throttled(window, account_slowed=False)
    wait = limits.account_wait(anywhere) - float(since_last or 0.0)
    if wait > 0:
        return Throttled(math.ceil(wait), account_slowed=True)
    return None


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
