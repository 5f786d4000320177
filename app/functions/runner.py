"""Runs one model function call for a live call: builds its context, dispatches, reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson

from app.call.info import CallInfo
from app.call.ports import ToolReport
from app.db.store import CallStore
from app.functions.base import MessageRecord, ToolContext
from app.functions.business_client import BusinessClient
from app.functions.registry import dispatch


class ToolRunner:
    """The driver's `run_tool`: every tool of the registry against one business backend."""

    def __init__(
        self,
        business: BusinessClient,
        store: CallStore,
        can_transfer: Callable[[datetime], bool],
        timeout: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._business = business
        self._store = store
        self._can_transfer = can_transfer
        self._timeout = timeout
        self._now = now

    async def _save_message(self, record: MessageRecord) -> str:
        # Through the writer, like every row of a call: an outage spools it, nothing is lost.
        self._store.put({"op": "message", "record": asdict(record)})
        return record.id

    async def __call__(self, info: CallInfo, call_id: str, name: str, arguments: str) -> ToolReport:
        ctx = ToolContext(
            call_sid=info.call_sid,
            tool_call_id=call_id,
            caller_number=info.from_number,
            business=self._business,
            now=self._now,
            save_message=self._save_message,
            transfer_available=self._can_transfer(self._now()),
        )
        result = await dispatch(name, arguments, ctx, self._timeout)
        output: dict[str, Any] = result.output
        return ToolReport(result.ok, orjson.dumps(output).decode(), result.outcome, result.effect)
