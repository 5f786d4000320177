"""The callers part of the runtime: the webhook's screen and the returning callers' memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from app.callers.memory import CallerMemory
from app.callers.screen import Screen
from app.config import Settings


@dataclass(frozen=True)
class Callers:
    screen: Screen
    memory: CallerMemory | None  # None: CALLER_MEMORY=off


def build_callers(
    settings: Settings, engine: AsyncEngine, tz: ZoneInfo, now: Callable[[], datetime]
) -> Callers:
    memory = None
    if settings.caller_memory:
        memory = CallerMemory(engine, tz, settings.transcript_retention_days, now)
    return Callers(Screen(engine, settings.anonymous_callers, settings.spam_policy), memory)
