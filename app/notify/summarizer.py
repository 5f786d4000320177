"""Summarises each call once it has ended: one task per process, calls claimed in the database.

Any Machine may summarise any call: a call is claimed with a lease (summary_status 'running'),
so a process that dies mid-way leaves it to another after `lease` seconds. The summary, its cost
(added to calls.estimated_cost_usd) and, when someone must call back and no other notification
tells the owner about this call, a `callback_needed` notification are written in one transaction.

A summary is paid for when the model answers, so it is never thrown away: when the database is
away at that moment the summary is kept in memory and stored once it answers
(app/notify/persist.py). The same goes for a claim that ends without a summary (nothing said,
the model failed): it is released as soon as the database answers, not when its lease lapses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.logging import get_logger
from app.metrics import Metrics, label_model
from app.notify import outbox
from app.notify.persist import until_written
from app.notify.plan import NotifyPlan
from app.notify.poller import Poller
from app.notify.summary_client import Summary, SummaryClient, SummaryError

log = get_logger(__name__)

CLAIM = text(
    """
    UPDATE calls SET summary_status = 'running', summary_claimed_at = now(),
                     summary_attempts = summary_attempts + 1
    WHERE call_sid = (
        SELECT call_sid FROM calls
        WHERE ended_at IS NOT NULL AND ended_at > now() - interval '1 day'
          AND (summary_status IS NULL OR (summary_status = 'running'
               AND summary_claimed_at < now() - make_interval(secs => :lease)))
        ORDER BY ended_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING call_sid, summary_attempts, from_number
    """
)
TURNS = text("SELECT speaker, text FROM transcript_turns WHERE call_sid = :sid ORDER BY seq")
MESSAGES = text(
    "SELECT caller_name, message FROM messages WHERE call_sid = :sid ORDER BY created_at"
)
OUTCOME = text("SELECT outcome FROM call_outcomes WHERE call_sid = :sid")
OTHER_NOTICE = text(
    "SELECT 1 FROM notifications WHERE call_sid = :sid "
    "AND kind IN ('message_taken', 'transfer_unanswered') LIMIT 1"
)
STORE = text(
    """
    UPDATE calls SET summary = :summary, call_reason = :reason,
        callback_needed = :callback_needed, callback_reason = :callback_reason,
        summary_status = 'done', summarized_at = now(),
        estimated_cost_usd = coalesce(estimated_cost_usd, 0) + :cost
    WHERE call_sid = :sid
    """
)
SETTLE = text("UPDATE calls SET summary_status = :status WHERE call_sid = :sid")
MAX_ATTEMPTS = 2


class Summarizer:
    """`start()` runs the loop; `summarise_due()` summarises what has ended (tests use it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        client: SummaryClient,
        plan: NotifyPlan,
        on_settled: Callable[[], None] = lambda: None,
        *,
        poll: float = 0.5,
        lease: float = 120.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._plan = plan
        self._on_settled = on_settled  # e.g. wake the sender: notifications were waiting
        self._lease = lease
        self._metrics = metrics if metrics is not None else Metrics()
        self._poller = Poller("notify_summarizer", self.summarise_due, poll)

    def start(self) -> None:
        self._poller.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; a summary in flight has `grace` seconds to be stored (it is paid for)."""
        await self._poller.stop(grace)

    async def summarise_due(self, limit: int = 5) -> int:
        """Summarise up to `limit` ended calls; how many were settled."""
        settled = 0
        while settled < limit and not self._poller.stopping:
            async with self._engine.begin() as conn:
                claimed = (await conn.execute(CLAIM, {"lease": self._lease})).mappings().first()
                if claimed is None:
                    return settled
                transcript = await _transcript(conn, claimed["call_sid"])
            await self._summarise(dict(claimed), transcript)
            settled += 1
            self._on_settled()
        return settled

    async def _summarise(self, claimed: dict[str, Any], transcript: str | None) -> None:
        sid = claimed["call_sid"]
        if transcript is None:  # the caller said nothing: nothing to summarise, nothing to pay
            await self._settle(sid, "skipped")
            return
        try:
            summary = await self._client.summarise(transcript)
        except SummaryError as exc:
            final = claimed["summary_attempts"] >= MAX_ATTEMPTS
            log.warning("summary_failed", call_sid=sid, error=str(exc), final=final)
            await self._settle(sid, "failed" if final else None)
            return

        async def store(conn: AsyncConnection) -> None:
            await conn.execute(STORE, _values(sid, summary))
            if (
                summary.callback_needed
                and (await conn.execute(OTHER_NOTICE, {"sid": sid})).first() is None
            ):
                context = {
                    "caller_number": claimed["from_number"],
                    "words": summary.callback_reason or summary.reason,
                }
                rows = self._plan.owner_rows("callback_needed", sid, sid, context)
                await outbox.add(conn, rows)

        await until_written(self._engine, store, "summary", call_sid=sid)
        self._metrics.summaries.labels("done").inc()
        if summary.cost_usd > 0:
            self._metrics.spend.labels(label_model(self._client.model)).inc(float(summary.cost_usd))
        log.info(
            "call_summarised",
            call_sid=sid,
            callback_needed=summary.callback_needed,
            cost_usd=float(summary.cost_usd),
        )

    async def _settle(self, sid: str, status: str | None) -> None:
        """Release the claim (None: to be tried again) or close it; as soon as the database can."""
        self._metrics.summaries.labels(status or "retry").inc()

        async def settle(conn: AsyncConnection) -> None:
            await conn.execute(SETTLE, {"sid": sid, "status": status})

        await until_written(self._engine, settle, "summary_claim", call_sid=sid)


def _values(sid: str, summary: Summary) -> dict[str, Any]:
    return {
        "sid": sid,
        "summary": summary.summary,
        "reason": summary.reason,
        "callback_needed": summary.callback_needed,
        "callback_reason": summary.callback_reason or None,
        "cost": summary.cost_usd,
    }


async def _transcript(conn: AsyncConnection, sid: str) -> str | None:
    """The call as the model reads it; None when the caller never said anything."""
    turns = (await conn.execute(TURNS, {"sid": sid})).all()
    if not any(speaker == "caller" for speaker, _ in turns):
        return None
    lines = [f"{'Caller' if speaker == 'caller' else 'Agent'}: {said}" for speaker, said in turns]
    for name, message in (await conn.execute(MESSAGES, {"sid": sid})).all():
        lines.append(f"[Message taken from {name}: {message}]")
    outcome = (await conn.execute(OUTCOME, {"sid": sid})).scalar()
    if outcome:
        lines.append(f"[Outcome: {outcome}]")
    return "\n".join(lines)
