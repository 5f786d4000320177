"""The console's background upkeep while the service runs, and its start-up hint."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.logging import get_logger
from app.staff.accounts import count_accounts
from app.staff.retention import DAY, retention_loop
from app.staff.sessions import purge_idle_sessions
from app.staff.throttle import purge_failures

log = get_logger(__name__)

FIRST_LOGIN_HINT = "receptionist staff add you@example.com"


async def announce_first_login(engine: AsyncEngine, settings: Settings) -> bool:
    """Tell whoever started the service how to create the first login; True if there is none."""
    try:
        accounts = await count_accounts(engine)
    except Exception as exc:  # no database yet: /readyz and the front door say so
        log.warning("staff_accounts_unknown", error=type(exc).__name__)
        return False
    if accounts:
        return False
    where = f"http://127.0.0.1:{settings.port}/staff"
    if settings.public_base_url:
        where = f"{settings.public_base_url}/staff"
    log.warning(
        "staff_login_missing",
        detail=f"no staff login yet: create one with `{FIRST_LOGIN_HINT}` (from a checkout: "
        f"`.venv/bin/{FIRST_LOGIN_HINT}`), then sign in at {where}",
    )
    return True


async def _housekeeping(
    engine: AsyncEngine, settings: Settings, idle: timedelta, interval: float
) -> None:
    await announce_first_login(engine, settings)
    while True:
        try:
            await purge_idle_sessions(engine, idle)
            await purge_failures(engine, timedelta(days=1))
        except Exception as exc:
            log.warning("staff_housekeeping_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)


class Upkeep:
    """Started in the app's lifespan, stopped when it ends."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the background tasks; nothing here waits on the database (start-up must not
        stall when it is slow or away)."""
        idle = timedelta(minutes=self.settings.staff_session_idle_minutes)
        self.tasks.append(
            asyncio.create_task(_housekeeping(self.engine, self.settings, idle, DAY / 24))
        )
        days = self.settings.transcript_retention_days
        if days is not None:
            self.tasks.append(asyncio.create_task(retention_loop(self.engine, days)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
