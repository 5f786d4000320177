"""The notification parts of one process, built once by app.compose: hooks, sender, summariser."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.writes import Handler
from app.logging import get_logger
from app.metrics import Metrics
from app.notify.addresses import parse_smtp_url
from app.notify.channel import Channel
from app.notify.hooks import NotifyHooks
from app.notify.mail import MailChannel
from app.notify.plan import NotifyPlan
from app.notify.sender import Sender
from app.notify.sms import SmsChannel
from app.notify.summarizer import Summarizer
from app.notify.summary_client import SummaryClient

log = get_logger(__name__)

# A notification that waits for its call's summary is sent anyway this long after it was
# written, beyond the longest call: a call whose end was never recorded must not hold it forever.
HOLD_MARGIN_SECONDS = 120.0


def writer_handlers(
    settings: Settings, business: str, address: str, base: dict[str, Handler]
) -> dict[str, Handler]:
    """The writer's handlers for the ops that cause notifications (see app/notify/hooks.py)."""
    return NotifyHooks(NotifyPlan.from_settings(settings, business, address)).wrap(base)


class Notifier:
    """The sender task and, with an OpenAI key, the summariser task of this process."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        twilio_http: httpx.AsyncClient,
        business: str,
        address: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(20.0), trust_env=False)
        channels: dict[str, Channel] = {"sms": SmsChannel(settings, twilio_http)}
        if settings.smtp_url is not None and settings.notify_from_email:
            target = parse_smtp_url(settings.smtp_url.get_secret_value())
            channels["email"] = MailChannel(target, settings.notify_from_email)
        key = settings.openai_api_key
        summaries = key is not None
        self.sender = Sender(
            engine,
            channels,
            summary_wait=settings.notify_summary_wait_seconds if summaries else 0.0,
            hold_cap=settings.max_call_seconds + HOLD_MARGIN_SECONDS,
            metrics=metrics,
        )
        self.summarizer: Summarizer | None = None
        if key is not None:
            client = SummaryClient(
                self._http,
                settings.openai_api_base,
                key.get_secret_value(),
                settings.openai_summary_model,
            )
            plan = NotifyPlan.from_settings(settings, business, address)
            self.summarizer = Summarizer(engine, client, plan, self.sender.wake, metrics=metrics)

    async def start(self) -> None:
        self.sender.start()
        if self.summarizer is not None:
            self.summarizer.start()
        log.info("notify_started", summaries=self.summarizer is not None)

    async def stop(self) -> None:
        # Both at once: each may take a few seconds to record what is in flight.
        stops = [self.sender.stop()]
        if self.summarizer is not None:
            stops.append(self.summarizer.stop())
        await asyncio.gather(*stops)
        await self._http.aclose()
