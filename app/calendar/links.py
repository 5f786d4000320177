"""The linked calendar's row: what is linked, its sealed credentials, when it was last read.

One row (id 1). Linking again replaces it; disconnecting deletes it, credentials and all. A
grant the provider revoked keeps the row, marked disconnected, so the console can say what
happened and when; the owner is told once, in the same transaction that marks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.calendar.sealing import SealBroken, Sealer
from app.calendar.tables import calendar_links
from app.logging import get_logger

log = get_logger(__name__)

# Called in the transaction that marks a link disconnected (it was connected until then).
OnDisconnect = Callable[[AsyncConnection, "Link", str], Awaitable[None]]


@dataclass(frozen=True)
class Link:
    provider: str
    status: str
    details: dict[str, Any]
    secret: dict[str, Any] | None  # None when SECRET_KEY changed since it was sealed
    connected_at: datetime
    last_read_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    disconnected_at: datetime | None

    @property
    def usable(self) -> bool:
        return self.status == "connected" and self.secret is not None


class LinkStore:
    def __init__(self, engine: AsyncEngine, sealer: Sealer) -> None:
        self._engine = engine
        self.sealer = sealer

    async def get(self) -> Link | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(calendar_links))).mappings().first()
        if row is None:
            return None
        secret: dict[str, Any] | None = None
        if row["sealed_secret"] is not None:
            try:
                secret = self.sealer.open(row["sealed_secret"])
            except SealBroken:
                log.warning("calendar_credentials_unreadable", provider=row["provider"])
        link = _link(row, secret)
        if secret is None:
            link = replace(link, last_error=_RESEAL)
        return link

    async def link(self, provider: str, details: dict[str, Any], secret: dict[str, Any]) -> None:
        """Link (or link again): connected now, no error, the new credentials sealed."""
        values = {
            "provider": provider,
            "status": "connected",
            "details": details,
            "sealed_secret": self.sealer.seal(secret),
            "connected_at": text("now()"),
            "last_read_at": None,
            "last_error": None,
            "last_error_at": None,
            "disconnected_at": None,
        }
        statement = insert(calendar_links).values(id=1, **values)
        statement = statement.on_conflict_do_update(index_elements=["id"], set_=values)
        async with self._engine.begin() as conn:
            await conn.execute(statement)
        log.info("calendar_linked", provider=provider)

    async def unlink(self) -> None:
        """Disconnect: the row and its credentials are deleted."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(calendar_links))
        log.info("calendar_unlinked")

    async def mark_read(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(calendar_links).values(last_read_at=text("now()"), last_error=None)
            )

    async def mark_error(self, message: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(calendar_links).values(last_error=message, last_error_at=text("now()"))
            )

    async def mark_disconnected(self, message: str, on_disconnect: OnDisconnect) -> bool:
        """Mark a connected link disconnected; True (and `on_disconnect` run in the same
        transaction) only for the call that changed it, so the owner is told once."""
        async with self._engine.begin() as conn:
            changed = (
                await conn.execute(
                    update(calendar_links)
                    .where(calendar_links.c.status == "connected")
                    .values(
                        status="disconnected",
                        last_error=message,
                        last_error_at=text("now()"),
                        disconnected_at=text("now()"),
                    )
                    .returning(calendar_links.c.provider, calendar_links.c.details)
                )
            ).first()
            if changed is None:
                return False
            row = (await conn.execute(select(calendar_links))).mappings().one()
            await on_disconnect(conn, _link(row, None), message)
        log.warning("calendar_disconnected", provider=changed.provider, reason=message)
        return True


def _link(row: RowMapping, secret: dict[str, Any] | None) -> Link:
    return Link(
        provider=row["provider"],
        status=row["status"],
        details=dict(row["details"] or {}),
        secret=secret,
        connected_at=row["connected_at"],
        last_read_at=row["last_read_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        disconnected_at=row["disconnected_at"],
    )


_RESEAL = "the stored credentials cannot be opened (SECRET_KEY changed?): link the calendar again"
