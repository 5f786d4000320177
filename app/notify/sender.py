"""The one sender task per process: claims due outbox rows, sends them, settles them.

Never on the audio path: it has its own task and its own database connections. Each row is
claimed with FOR UPDATE SKIP LOCKED and stays locked while it is sent, so with any number of
senders (processes, Machines) a row is sent by one of them; it is marked sent in the same
transaction. A retryable failure is tried again with exponential backoff, a permanent one (an
invalid number, an opted-out or landline recipient, an SMTP 5xx) is marked failed with the
reason. The window that remains: a process killed after the provider accepted a message but
before its transaction committed sends that message again when the next sender claims it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.logging import get_logger
from app.metrics import Metrics, label
from app.notify import outbox
from app.notify.addresses import mask_recipient
from app.notify.channel import Channel, Delivery
from app.notify.poller import Poller
from app.notify.render import render_email, render_sms

log = get_logger(__name__)


class Sender:
    """`start()` runs the loop in a task; `send_due()` sends what is due now (tests use it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        channels: Mapping[str, Channel],
        *,
        summary_wait: float,
        hold_cap: float,
        poll: float = 0.5,
        max_attempts: int = 8,
        backoff_initial: float = 2.0,
        backoff_max: float = 600.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._wait = summary_wait
        self._cap = hold_cap
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._poller = Poller("notify_sender", self.send_due, poll)
        self.sent = 0
        self.failed = 0
        self._metrics = metrics if metrics is not None else Metrics()

    def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        """Stop at once: a send in flight is rolled back and its row claimed again later."""
        await self._poller.stop()

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._poller.wake()

    async def send_due(self, limit: int = 20) -> int:
        """Send up to `limit` due rows, each once, one transaction each; how many were handled."""
        seen: list[int] = []
        while len(seen) < limit:
            async with self._engine.begin() as conn:
                claimed = await outbox.claim(conn, self._wait, self._cap, seen)
                if claimed is None:
                    return len(seen)
                row: dict[str, Any] = dict(claimed)
                subject, body = self._render(row)
                delivery = await self._deliver(row, subject, body)
                await self._settle(conn, row, subject, body, delivery)
            seen.append(row["id"])
        return len(seen)

    def _render(self, row: Mapping[str, Any]) -> tuple[str | None, str]:
        """The text as it goes out now: with the call's summary when it has come."""
        context: dict[str, Any] = row["context"] or {}
        summary = row["summary"]
        if row["kind"] == "booking_confirmation" or not (summary or row["callback_reason"]):
            return row["subject"], row["body"]
        if row["channel"] == "sms":
            return None, render_sms(row["kind"], context, summary)
        return render_email(row["kind"], context, summary, row["callback_reason"])

    async def _deliver(self, row: Mapping[str, Any], subject: str | None, body: str) -> Delivery:
        channel = self._channels.get(row["channel"])
        if channel is None:
            return Delivery.failed(f"{row['channel']} is not configured")
        try:
            return await channel.send(row["recipient"], subject, body)
        except Exception as exc:  # a channel must not raise; if one does, it is retried
            log.exception("notify_channel_crashed", channel=row["channel"])
            return Delivery.retry(f"internal error: {type(exc).__name__}")

    async def _settle(
        self,
        conn: AsyncConnection,
        row: Mapping[str, Any],
        subject: str | None,
        body: str,
        delivery: Delivery,
    ) -> None:
        fields = {
            "notification_id": row["id"],
            "kind": row["kind"],
            "channel": row["channel"],
            "recipient": mask_recipient(row["recipient"]),
            "call_sid": row["call_sid"],
        }
        attempts = row["attempts"] + 1
        if delivery.sent:
            await outbox.mark_sent(conn, row["id"], subject, body, delivery.provider_id)
            self.sent += 1
            self._metrics.notifications_sent.labels(label(row["channel"])).inc()
            log.info("notification_sent", attempts=attempts, **fields)
            return
        error = delivery.error or "unknown error"
        if delivery.permanent or attempts >= self._max_attempts:
            await outbox.mark_failed(conn, row["id"], error)
            self.failed += 1
            self._metrics.notifications_failed.labels(label(row["channel"])).inc()
            log.error("notification_failed", attempts=attempts, error=error, **fields)
            return
        delay = min(self._backoff_initial * 2 ** (attempts - 1), self._backoff_max)
        await outbox.mark_retry(conn, row["id"], error, timedelta(seconds=delay))
        log.warning("notification_retry", attempts=attempts, error=error, in_s=delay, **fields)
