"""The database a one-off command (staff, demo-data) works on, migrated to the latest schema."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import upgrade


def running_embedded_socket(pgdata: Path) -> str | None:
    """The socket directory of a live embedded server on `pgdata` (the service's), or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        os.kill(pid, 0)  # raises if there is no such process
    except (OSError, ValueError, IndexError):
        return None
    # postmaster.pid: pid, pgdata, start time, port, socket directory, host, shmem, status.
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None
    return lines[4].strip()


@contextlib.asynccontextmanager
async def command_database(settings: Settings) -> AsyncIterator[str]:
    """DATABASE_URL; else the embedded server `make run` started (left running); else the
    embedded server started for this command alone (stopped again after it)."""
    url = settings.database_url
    embedded: EmbeddedPostgres | None = None
    if url is None:
        socket_dir = running_embedded_socket((settings.data_dir / "postgres").resolve())
        if socket_dir is not None:
            url = f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
        else:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await embedded.start()
    try:
        await upgrade(url)
        yield url
    finally:
        if embedded is not None:
            await embedded.stop()
