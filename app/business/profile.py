"""The business profile (prompts/business.toml): its models, loader and system-prompt rendering."""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.business.wording import WEEKDAYS, describe_week, spoken_date

__all__ = [
    "BookingRules",
    "BusinessProfile",
    "Closure",
    "Service",
    "TimeRange",
    "WeeklyHours",
    "load_profile",
    "render_profile_for_prompt",
]


class _Model(BaseModel):
    # forbid: a misspelt key ("capcity") is an error the owner sees, not a silent default.
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeRange(_Model):
    """One opening period of a day, as local wall-clock times; `close` is after `open`."""

    open: time
    close: time

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        # The file writes ["08:00", "17:00"]; the HTTP contract writes {"open":..,"close":..}.
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError('write each period as ["HH:MM", "HH:MM"] (opening, closing)')
            return {"open": value[0], "close": value[1]}
        return value

    @field_validator("open", "close", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) == 4 and value[1] == ":":
            return "0" + value  # "8:00" -> "08:00"
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ValueError("write times without a time zone; the profile's timezone applies")
        if self.close <= self.open:
            raise ValueError(
                f"closing time {self.close:%H:%M} must be later than opening time "
                f"{self.open:%H:%M} on the same day"
            )
        return self

    def as_pair(self) -> tuple[time, time]:
        return (self.open, self.close)

    def as_json(self) -> dict[str, str]:
        return {"open": f"{self.open:%H:%M}", "close": f"{self.close:%H:%M}"}


class WeeklyHours(_Model):
    """Opening periods per weekday; an empty list is a closed day."""

    mon: tuple[TimeRange, ...] = ()
    tue: tuple[TimeRange, ...] = ()
    wed: tuple[TimeRange, ...] = ()
    thu: tuple[TimeRange, ...] = ()
    fri: tuple[TimeRange, ...] = ()
    sat: tuple[TimeRange, ...] = ()
    sun: tuple[TimeRange, ...] = ()

    @field_validator("*")
    @classmethod
    def _no_overlap(cls, ranges: tuple[TimeRange, ...]) -> tuple[TimeRange, ...]:
        ordered = tuple(sorted(ranges, key=lambda r: r.open))
        for before, after in itertools.pairwise(ordered):
            if after.open < before.close:
                raise ValueError(
                    f"periods {before.open:%H:%M}-{before.close:%H:%M} and "
                    f"{after.open:%H:%M}-{after.close:%H:%M} overlap"
                )
        return ordered

    def on(self, day: date) -> tuple[TimeRange, ...]:
        """The periods of `day`'s weekday."""
        ranges: tuple[TimeRange, ...] = getattr(self, WEEKDAYS[day.weekday()])
        return ranges

    def as_pairs(self) -> dict[str, list[tuple[time, time]]]:
        return {d: [r.as_pair() for r in getattr(self, d)] for d in WEEKDAYS}

    def as_json(self) -> dict[str, list[dict[str, str]]]:
        return {d: [r.as_json() for r in getattr(self, d)] for d in WEEKDAYS}


class Closure(_Model):
    """Whole local days the business is closed although the weekly hours say open."""

    date: dt.date
    through: dt.date | None = None
    reason: str = Field(min_length=1, max_length=120)

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if self.through is not None and self.through < self.date:
            raise ValueError(f"'through' ({self.through}) is before 'date' ({self.date})")
        return self

    @property
    def last(self) -> dt.date:
        return self.through or self.date

    def covers(self, day: dt.date) -> bool:
        return self.date <= day <= self.last

    def as_json(self) -> dict[str, str]:
        return {
            "date": self.date.isoformat(),
            "through": self.last.isoformat(),
            "reason": self.reason,
        }


class Service(_Model):
    """A bookable service; `capacity` appointments of it may run at the same time."""

    name: str = Field(min_length=1, max_length=80)
    duration_minutes: int = Field(ge=5, le=480)
    capacity: int = Field(default=1, ge=1, le=50)
    description: str = Field(default="", max_length=300)
    # With CALENDAR=calcom: the Cal.com event type this service is booked as (docs/calendars.md).
    calcom_event_type_id: int | None = Field(default=None, ge=1)


class BookingRules(_Model):
    slot_step_minutes: int = Field(default=30, ge=5, le=240)
    min_notice_minutes: int = Field(default=60, ge=0, le=60 * 24 * 30)
    max_days_ahead: int = Field(default=60, ge=1, le=366)


class BusinessProfile(_Model):
    """Everything the receptionist knows about the business; see prompts/business.toml."""

    name: str = Field(min_length=1, max_length=120)
    phone: str = ""
    address: str = ""
    timezone: str
    hours: WeeklyHours
    closures: tuple[Closure, ...] = ()
    services: tuple[Service, ...] = Field(min_length=1)
    transfer_hours: WeeklyHours = WeeklyHours()
    booking: BookingRules = BookingRules()
    faq: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use a name like 'America/New_York'"
            ) from None
        return value

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: tuple[Service, ...]) -> tuple[Service, ...]:
        seen: set[str] = set()
        for service in services:
            key = service.name.casefold()
            if key in seen:
                raise ValueError(f"service {service.name!r} is listed twice")
            seen.add(key)
        return services

    @field_validator("closures")
    @classmethod
    def _sorted_closures(cls, closures: tuple[Closure, ...]) -> tuple[Closure, ...]:
        return tuple(sorted(closures, key=lambda c: c.date))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekly(self) -> WeeklyHours:
        return self.hours

    def service(self, name: str) -> Service | None:
        """The service called `name`, ignoring case and surrounding spaces."""
        key = name.strip().casefold()
        return next((s for s in self.services if s.name.casefold() == key), None)

    def closure_on(self, day: date) -> Closure | None:
        return next((c for c in self.closures if c.covers(day)), None)


def _where(loc: tuple[int | str, ...]) -> str:
    # Owners count from 1: ("services", 2, "capacity") -> "services #3 capacity".
    parts = [f"#{p + 1}" if isinstance(p, int) else p for p in loc]
    return " ".join(parts) or "the file"


def load_profile(path: Path) -> BusinessProfile:
    """Read and check the profile; any problem is a ValueError naming the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: business profile not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    try:
        return BusinessProfile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False)[:3]:
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field (check the spelling)"
            elif error["type"] == "missing":
                message = "missing (this field is required)"
            problems.append(f"{_where(tuple(error['loc']))}: {message}")
        raise ValueError(f"{path}: " + "; ".join(problems)) from None


def render_profile_for_prompt(profile: BusinessProfile, *, today: date | None = None) -> str:
    """Compact Markdown facts for the system prompt; `today` (local) picks the coming closures."""
    today = today or datetime.now(profile.tz).date()
    lines = [f"## {profile.name}"]
    if profile.phone:
        lines.append(f"- Phone: {profile.phone}")
    if profile.address:
        lines.append(f"- Address: {profile.address}")
    lines.append(f"- Time zone: {profile.timezone} (all times are local)")
    lines += ["", "### Opening hours"]
    lines += [f"- {line}" for line in describe_week(profile.hours.as_pairs())]
    horizon = today + timedelta(days=90)
    coming = [c for c in profile.closures if c.last >= today and c.date <= horizon][:6]
    if coming:
        lines += ["", "### Closed on (coming up)"]
        for closure in coming:
            when = spoken_date(closure.date, today=today)
            if closure.through and closure.through != closure.date:
                when += " to " + spoken_date(closure.through, today=today)
            lines.append(f"- {when}: {closure.reason}")
    lines += ["", "### Services"]
    for service in profile.services:
        text = f"- {service.name} ({service.duration_minutes} minutes)"
        lines.append(f"{text}: {service.description}" if service.description else text)
    transfer = describe_week(profile.transfer_hours.as_pairs())
    lines += ["", "### A person can take transferred calls"]
    lines += [f"- {line}" for line in transfer]
    if profile.faq:
        lines += ["", "### Facts you may share"]
        for topic, answer in profile.faq.items():
            lines.append(f"- {topic.replace('_', ' ').capitalize()}: {answer}")
    return "\n".join(lines) + "\n"
