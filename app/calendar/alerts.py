"""Telling the owner, once, that the calendar was disconnected (a new notification kind)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app.calendar.links import Link, OnDisconnect
from app.notify import outbox
from app.notify.plan import NotifyPlan

PROVIDER_NAMES = {"google": "Google Calendar", "calcom": "Cal.com account", "caldav": "calendar"}


def notify_owner(plan: NotifyPlan) -> OnDisconnect:
    """Outbox rows to every owner recipient, added in the transaction that marks the link
    disconnected; keyed by the link's connection time, so one grant is reported once."""

    async def on_disconnect(conn: AsyncConnection, link: Link, reason: str) -> None:
        page = f"{plan.public_base_url}/staff/calendar" if plan.public_base_url else None
        context = {
            "provider": link.provider,
            "provider_name": PROVIDER_NAMES.get(link.provider, "calendar"),
            "reason": reason,
            "link": page,
        }
        event_id = f"{link.provider}:{link.connected_at.isoformat()}"
        await outbox.add(conn, plan.alert_rows("calendar_disconnected", event_id, context))

    return on_disconnect
