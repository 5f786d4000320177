"""Builds the parts of the runtime that depend on the business: tools, backend, call control."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from app.business.api import business_app
from app.business.hours import transfer_available
from app.business.messages import insert_message
from app.business.profile import BusinessProfile, render_profile_for_prompt
from app.config import Settings
from app.db.store import Op
from app.functions.base import MessageRecord, ToolContext
from app.functions.business_client import BusinessClient, make_http_client
from app.functions.registry import dispatch, session_tools
from app.runtime import Runtime, ToolReport
from app.twilio.rest import TwilioCalls
from app.twilio.stream import CallInfo
from app.twilio.transfer import Transfers


async def _write_message(conn: AsyncConnection, op: Op) -> None:
    await insert_message(conn, MessageRecord(**op["record"]))


class Business:
    """The business backend the tools talk to: the owner's own, or the built-in one."""

    def __init__(self, settings: Settings, profile: BusinessProfile) -> None:
        self.profile = profile
        self.settings = settings
        configured = settings.business_api_token
        self.token = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        self.builtin = settings.business_api_base is None
        base = settings.business_api_base or f"http://127.0.0.1:{settings.port}/business"
        # The built-in backend needs its token even when the operator set none: a random one.
        token = self.token if (self.builtin or configured) else None
        self.http = make_http_client(base, token, settings.tool_timeout_seconds)
        self.client = BusinessClient(self.http)

    def app(self, runtime: Runtime) -> Starlette:
        return business_app(self.profile, runtime.engine, self.token)

    def can_transfer(self, now: datetime) -> bool:
        return bool(self.settings.human_transfer_number) and transfer_available(self.profile, now)


def install(runtime: Runtime, business: Business, twilio_http: httpx.AsyncClient) -> None:
    """Give the runtime its tools, its business facts and its way to reach a person."""
    settings = runtime.settings
    store = runtime.store
    store.register("message", _write_message)
    runtime.business_name = business.profile.name
    runtime.business_facts = render_profile_for_prompt(business.profile)
    runtime.timezone = business.profile.tz
    runtime.tools = session_tools()
    runtime.transfer_available = business.can_transfer
    calls = TwilioCalls(settings, twilio_http)
    runtime.twilio = calls
    runtime.transfer = Transfers(settings, calls, store).start

    async def save_message(record: MessageRecord) -> str:
        store.put({"op": "message", "record": asdict(record)})
        return record.id

    async def run_tool(info: CallInfo, call_id: str, name: str, arguments: str) -> ToolReport:
        ctx = ToolContext(
            call_sid=info.call_sid,
            tool_call_id=call_id,
            caller_number=info.from_number,
            business=business.client,
            now=lambda: datetime.now(UTC),
            save_message=save_message,
            transfer_available=business.can_transfer(datetime.now(UTC)),
        )
        result = await dispatch(name, arguments, ctx, settings.tool_timeout_seconds)
        output: dict[str, Any] = result.output
        return ToolReport(result.ok, orjson.dumps(output).decode(), result.outcome, result.effect)

    runtime.dispatch_tool = run_tool
