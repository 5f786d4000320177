"""The async SQLAlchemy engine and the Alembic upgrade used by `serve` and `migrate`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def project_root() -> Path:
    """The directory holding alembic.ini and migrations/.

    RECEPTIONIST_HOME if set (the container image sets it to /app), else the working directory
    if it holds alembic.ini, else the source checkout this module lives in (an editable install).
    A regular install puts this module in site-packages, so the checkout guess alone would fail.
    """
    home = os.environ.get("RECEPTIONIST_HOME")
    if home:
        return Path(home).resolve()
    cwd = Path.cwd()
    if (cwd / "alembic.ini").is_file():
        return cwd
    return Path(__file__).resolve().parents[2]


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=600,  # managed Postgres proxies (Fly) cut connections older than that
        pool_timeout=5,
        # Fail fast when the server is gone, so /readyz and the writer notice quickly.
        connect_args={"timeout": 5, "command_timeout": 10},
    )


def alembic_config(url: str) -> Config:
    root = project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade_sync(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic in a thread: its async env.py starts an event loop of its own."""
    await asyncio.to_thread(upgrade_sync, url, revision)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
