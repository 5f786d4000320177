"""The one sender task per process: claims due outbox rows, sends them, records the outcome.

Never on the audio path: it has its own task and its own database connections. Three steps,
none inside another's transaction:

1. claim: the row is picked (FOR UPDATE SKIP LOCKED) and leased for CLAIM_LEASE_SECONDS in a
   transaction that commits before anything is sent, so with any number of senders (processes,
   Machines) one of them holds it;
2. send: the provider is asked, with no transaction open, so a database that drops now cannot
   roll the claim back and have the row sent again;
3. record: sent, retry later, or failed for good. When the database is away, the outcome is kept
   in memory and the record retried until it answers (app/notify/persist.py); the send is never
   repeated for it.

A retryable failure is tried again with exponential backoff, a permanent one (an invalid number,
an opted-out or landline recipient, an SMTP 5xx) is marked failed with the reason. The window
that remains: a process killed after the provider accepted a message and before the record
sends that message again once the lease lapses (a stopped one first gives the send in flight a
few seconds to be recorded). Each email carries a Message-ID made from the row, so mail systems
that drop repeated Message-IDs drop such a copy; Twilio's Messages API has no such guard (README,
"Notifications").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.logging import get_logger
from app.metrics import Metrics, label
from app.notify import outbox
from app.notify.addresses import mask_recipient
from app.notify.channel import Channel, Delivery
from app.notify.persist import until_written
from app.notify.poller import Poller
from app.notify.render import render_email, render_sms

log = get_logger(__name__)

# How long a claimed row is left to its sender. Far beyond a send (the channels give up after
# 10-15 s); a database outage longer than this lets another sender take the row while the first
# still waits to record it.
CLAIM_LEASE_SECONDS = 300.0
# On shutdown, how long a send in flight may take to finish and be recorded. Beyond the
# channels' own timeouts would be pointless; a database still away by then loses the record.
STOP_GRACE_SECONDS = 5.0


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
        lease: float = CLAIM_LEASE_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._wait = summary_wait
        self._cap = hold_cap
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._lease = lease
        self._poller = Poller("notify_sender", self.send_due, poll)
        self.sent = 0
        self.failed = 0
        self._metrics = metrics if metrics is not None else Metrics()

    def start(self) -> None:
        self._poller.start()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop claiming; a send in flight has `grace` seconds to finish and be recorded. A row
        claimed but not recorded by then is sent again when its lease lapses."""
        await self._poller.stop(grace)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._poller.wake()

    async def send_due(self, limit: int = 20) -> int:
        """Send up to `limit` due rows, each once; how many were handled."""
        seen: list[int] = []
        while len(seen) < limit and not self._poller.stopping:
            async with self._engine.begin() as conn:  # the claim commits before the send
                claimed = await outbox.claim(conn, self._wait, self._cap, seen, self._lease)
            if claimed is None:
                return len(seen)
            row: dict[str, Any] = dict(claimed)
            seen.append(row["id"])
            subject, body = self._render(row)
            delivery = await self._deliver(row, subject, body)
            record = partial(self._settle, row=row, subject=subject, body=body, delivery=delivery)
            await until_written(self._engine, record, "notification", notification_id=row["id"])
            self._report(row, delivery)
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
            return await channel.send(row["recipient"], subject, body, key=row["idempotency_key"])
        except Exception as exc:  # a channel must not raise; if one does, it is retried
            log.exception("notify_channel_crashed", channel=row["channel"])
            return Delivery.retry(f"internal error: {type(exc).__name__}")

    def _delay(self, row: Mapping[str, Any]) -> float:
        attempts: int = row["attempts"]
        return float(min(self._backoff_initial * 2**attempts, self._backoff_max))

    def _final(self, row: Mapping[str, Any], delivery: Delivery) -> bool:
        return delivery.permanent or row["attempts"] + 1 >= self._max_attempts

    async def _settle(
        self,
        conn: AsyncConnection,
        row: Mapping[str, Any],
        subject: str | None,
        body: str,
        delivery: Delivery,
    ) -> None:
        """Write the outcome; may run more than once (app/notify/persist.py), so it only writes."""
        if delivery.sent:
            await outbox.mark_sent(conn, row["id"], subject, body, delivery.provider_id)
        elif self._final(row, delivery):
            await outbox.mark_failed(conn, row["id"], delivery.error or "unknown error")
        else:
            delay = timedelta(seconds=self._delay(row))
            await outbox.mark_retry(conn, row["id"], delivery.error or "unknown error", delay)

    def _report(self, row: Mapping[str, Any], delivery: Delivery) -> None:
        """Count and log the outcome once it is recorded."""
        fields = {
            "notification_id": row["id"],
            "kind": row["kind"],
            "channel": row["channel"],
            "recipient": mask_recipient(row["recipient"]),
            "call_sid": row["call_sid"],
            "attempts": row["attempts"] + 1,
        }
        if delivery.sent:
            self.sent += 1
            self._metrics.notifications_sent.labels(label(row["channel"])).inc()
            log.info("notification_sent", **fields)
            return
        error = delivery.error or "unknown error"
        if self._final(row, delivery):
            self.failed += 1
            self._metrics.notifications_failed.labels(label(row["channel"])).inc()
            log.error("notification_failed", error=error, **fields)
            return
        log.warning("notification_retry", error=error, in_s=self._delay(row), **fields)
