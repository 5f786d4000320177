"""Start-up: the service says how to create the first login when there is none."""

from __future__ import annotations

from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import load_settings
from app.db.engine import make_engine
from app.staff.accounts import add_account
from app.staff.upkeep import Upkeep, announce_first_login


async def test_no_login_yet_is_announced_with_the_command(engine: AsyncEngine) -> None:
    settings = load_settings(_env_file=None)
    with structlog.testing.capture_logs() as logs:
        assert await announce_first_login(engine, settings) is True
    hint = next(e for e in logs if e["event"] == "staff_login_missing")
    assert "receptionist staff add you@example.com" in hint["detail"]
    assert "http://127.0.0.1:5050/staff" in hint["detail"]


async def test_with_a_login_nothing_is_announced(engine: AsyncEngine) -> None:
    await add_account(engine, "owner@example.com", "long enough password")
    with structlog.testing.capture_logs() as logs:
        assert await announce_first_login(engine, load_settings(_env_file=None)) is False
    assert not [e for e in logs if e["event"] == "staff_login_missing"]


async def test_without_a_database_start_up_goes_on(tmp_path: Path) -> None:
    dead = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    settings = load_settings(transcript_retention_days=30, data_dir=tmp_path, _env_file=None)
    upkeep = Upkeep(dead, settings)
    await upkeep.start()  # no exception: the tasks retry in the background
    assert len(upkeep.tasks) == 2  # housekeeping, and retention because it is set
    await upkeep.stop()
    assert upkeep.tasks == []
    await dead.dispose()
