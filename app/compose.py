"""Builds the runtime and every part it needs, once, at start-up; tears it down at the end.

Each part is given what it uses when it is constructed (no service locator, nothing filled in
afterwards), in dependency order: database, writer, clients, sessions, tools, call services.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.backend import BusinessBackend
from app.business.messages import write_message_op
from app.business.profile import render_profile_for_prompt
from app.calendar.alerts import notify_owner
from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.calendar.service import BusinessCalendar
from app.calendar.writer import CalendarWriter
from app.call.ports import CallServices
from app.callers.service import build_callers
from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, project_root, upgrade
from app.db.history import CallHistory
from app.db.store import CallStore
from app.db.stream_tokens import UsedTokens
from app.db.writes import HANDLERS
from app.doctor import Checkup
from app.fleet.machines import Machines
from app.functions.registry import session_tools
from app.functions.runner import ToolRunner
from app.logging import get_logger
from app.metrics import Metrics
from app.metrics_endpoint import serve_metrics
from app.notify.plan import NotifyPlan
from app.notify.service import Notifier, writer_handlers
from app.realtime.client import PreparedSessions
from app.realtime.session import load_template
from app.realtime.sessions import BusinessPrompt, ModelSessions
from app.recording.retention import recording_retention
from app.recording.service import Recorder
from app.recording.twilio_api import TwilioRecordings
from app.recording.writes import write_recording_op
from app.runtime import Runtime
from app.staff.secret import secret_key
from app.staff.upkeep import Upkeep
from app.twilio.rest import TwilioCalls
from app.twilio.tokens import StreamTokens
from app.twilio.transfer import Transfers

log = get_logger(__name__)


def _token_secret(settings: Settings) -> bytes:
    if settings.twilio_auth_token is not None:
        return hashlib.sha256(settings.twilio_auth_token.get_secret_value().encode()).digest()
    return secrets.token_bytes(32)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """DATABASE_URL, or the embedded PostgreSQL under DATA_DIR (started, migrated, stopped)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = await embedded.start()
    try:
        await upgrade(url)
        yield url
    finally:
        await embedded.stop()


def build_sessions(settings: Settings, business: BusinessBackend) -> ModelSessions:
    profile = business.profile
    prompt = BusinessPrompt(
        template=load_template(project_root() / "prompts" / "system.md"),
        name=profile.name,
        facts=render_profile_for_prompt(profile),
        timezone=profile.tz,
        transfer_available=business.can_transfer,
    )
    prepared = PreparedSessions(settings.preconnect_ttl_seconds)
    return ModelSessions(settings, prompt, session_tools(), prepared, _utcnow)


@contextlib.asynccontextmanager
async def business_calendar(
    settings: Settings, engine: AsyncEngine, business: BusinessBackend
) -> AsyncIterator[tuple[BusinessCalendar, CalendarWriter] | None]:
    """The linked calendar and its writer task, when CALENDAR is set."""
    if settings.calendar is None:
        yield None
        return
    profile = business.profile
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.calendar_timeout_seconds), trust_env=False
    )
    plan = NotifyPlan.from_settings(settings, profile.name, profile.address)
    links = LinkStore(engine, Sealer(secret_key(settings)))
    calendar = BusinessCalendar(settings, links, profile.tz, http, notify_owner(plan))
    writer = CalendarWriter(engine, calendar, settings.public_base_url)
    writer.start()
    try:
        yield calendar, writer
    finally:
        await writer.stop()
        await calendar.aclose()
        await http.aclose()


@contextlib.asynccontextmanager
async def runtime(settings: Settings, business: BusinessBackend) -> AsyncIterator[Runtime]:
    """The whole runtime for one process; everything it opened is closed on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(database_url(settings))
        engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        profile = business.profile
        metrics = Metrics(
            tool_names=[tool["name"] for tool in session_tools()],
            frame_sampling=settings.metrics_port != 0,
        )
        # Messages, transfers and bookings add their notifications in the writer's transaction.
        handlers = writer_handlers(
            settings,
            profile.name,
            profile.address,
            {**HANDLERS, "message": write_message_op},
        )
        handlers["recording"] = write_recording_op  # app/recording/writes.py
        store = CallStore(engine, settings.data_dir / "spool", handlers=handlers)
        await store.start()
        stack.push_async_callback(store.stop)
        stack.push_async_callback(business.http.aclose)
        twilio_http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False)
        stack.push_async_callback(twilio_http.aclose)
        notifier = Notifier(
            settings, engine, twilio_http, profile.name, profile.address, metrics=metrics
        )
        await notifier.start()
        stack.push_async_callback(notifier.stop)
        twilio = TwilioCalls(settings, twilio_http)
        sessions = build_sessions(settings, business)
        stack.push_async_callback(sessions.prepared.close_all)
        history = CallHistory(engine, store)
        upkeep = Upkeep(engine, settings)  # the staff console's daily chores
        await upkeep.start()
        stack.push_async_callback(upkeep.stop)
        transfers = Transfers(settings, twilio, store)
        linked = await stack.enter_async_context(business_calendar(settings, engine, business))
        recordings_api = TwilioRecordings(settings, twilio_http)
        # Retention runs whether or not calls are recorded now: earlier recordings still expire.
        await stack.enter_async_context(
            recording_retention(engine, recordings_api, settings.recording_retention_days)
        )
        recorder = Recorder(recordings_api, store, engine) if settings.call_recording else None
        services = CallServices(
            settings=settings,
            store=store,
            sessions=sessions,
            history=history,
            run_tool=ToolRunner(
                business.client, store, business.can_transfer, settings.tool_timeout_seconds
            ),
            transfer=transfers.start,
            hang_up=twilio.hang_up,
            metrics=metrics,
            start_recording=recorder.start if recorder is not None else None,
        )
        built = Runtime(
            settings=settings,
            engine=engine,
            store=store,
            tokens=StreamTokens(_token_secret(settings), settings.stream_token_ttl_seconds),
            used_tokens=UsedTokens(engine),
            machines=Machines(settings),
            sessions=sessions,
            history=history,
            twilio=twilio,
            transfers=transfers,
            business=business,
            services=services,
            recordings_api=recordings_api,
            callers=build_callers(settings, engine, profile.tz, _utcnow),
            metrics=metrics,
            checkup=Checkup(settings, engine),
            calendar=linked[0] if linked else None,
            calendar_writer=linked[1] if linked else None,
        )
        # Prometheus' own port (METRICS_PORT), never the public one.
        async with serve_metrics(settings.metrics_port, metrics, lambda: built):
            yield built
