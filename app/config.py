"""Settings read from the environment and an optional `.env` file; secrets never printed.

It is longer than 400 lines on purpose: one `Settings` class holds every knob of the service
with the check that refuses a bad value, so an operator (and `.env.example`, and the README's
table) reads them in one place; split up, a check that compares two settings would have to
reach across modules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.notify import addresses
from app.realtime import models


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class RecordingDisclosure(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class CalendarProvider(StrEnum):
    GOOGLE = "google"
    CALCOM = "calcom"
    CALDAV = "caldav"


class AnonymousCallers(StrEnum):
    ANSWER = "answer"
    REJECT = "reject"


class SpamPolicy(StrEnum):
    OFF = "off"
    REJECT_FAILED = "reject-failed"


class ConfigError(Exception):
    """A setting has a value we cannot run with; the message is one line naming the variable."""


MACHINE_ID = re.compile(r"[0-9a-z]{1,40}")
PositiveSeconds = Annotated[float, Field(gt=0)]
# Comma-separated in the environment (pydantic-settings would otherwise expect JSON).
CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Every knob of the service. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    port: int = Field(default=5050, ge=1, le=65535)
    # Prometheus metrics (GET /metrics) on a port of their own, off the public one; 0: none.
    metrics_port: int = Field(default=9091, ge=0, le=65535)
    public_base_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path(".data")
    embedded_database_on_fly: bool = False

    openai_api_key: SecretStr | None = None
    openai_realtime_url: str = "wss://api.openai.com/v1/realtime"
    # A known model (app/realtime/models.py; README "Choosing a model"), refused at start-up if not.
    openai_realtime_model: str = "gpt-realtime-2.1"
    # `reasoning.effort`, sent to reasoning models only (the 2.x models): more thought, more wait.
    openai_reasoning_effort: str = "low"
    # When a long call reaches the context limit, the server drops the oldest turns until this
    # share of the limit is left, so it truncates rarely and keeps the prompt cache warm.
    openai_truncation_retention_ratio: float = Field(default=0.8, gt=0, le=1)
    # The model ladder (off when unset): calls start on OPENAI_REALTIME_MODEL (the small one) and
    # move once to this one when the small model asks for it or after two failed tool calls.
    openai_escalation_model: str | None = None
    openai_voice: str = "marin"
    openai_transcription_model: str = "gpt-4o-mini-transcribe"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_phone_number: str | None = None
    twilio_api_base: str = "https://api.twilio.com"

    business_api_base: str | None = None
    business_api_token: SecretStr | None = None
    business_profile: Path = Path("prompts/business.toml")
    tool_timeout_seconds: PositiveSeconds = 3.0

    human_transfer_number: str | None = None
    max_call_seconds: int = Field(default=600, ge=5)
    idle_prompt_seconds: PositiveSeconds = 10.0
    idle_hangup_seconds: PositiveSeconds = 10.0
    recording_disclosure: RecordingDisclosure = RecordingDisclosure.AUTO
    # Call recordings (app/recording/): off|on; on, every caller hears the disclosure first.
    call_recording: bool = False
    recording_retention_days: int = Field(default=30, ge=1)
    max_concurrent_calls: int = Field(default=50, ge=1)
    stream_token_ttl_seconds: PositiveSeconds = 60.0
    preconnect_ttl_seconds: PositiveSeconds = 8.0
    drain_seconds: PositiveSeconds = 60.0
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)  # a Twilio frame is ~300 bytes

    # The staff console (app/staff): session signing key, idle timeout, transcript retention.
    secret_key: SecretStr | None = None
    staff_session_idle_minutes: int = Field(default=120, ge=1)
    transcript_retention_days: int | None = Field(default=None, ge=1)
    # Callers (app/callers): returning callers remembered; withheld numbers and failed caller
    # IDs answered or turned away (blocked numbers always are).
    caller_memory: bool = True
    anonymous_callers: AnonymousCallers = AnonymousCallers.ANSWER
    spam_policy: SpamPolicy = SpamPolicy.OFF
    # The dev phone (app/phone): a simulated transfer nobody settles ends the call after this.
    dev_phone_ring_seconds: PositiveSeconds = 120.0

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO

    # Fly.io sets FLY_MACHINE_ID and FLY_APP_NAME on every Machine (PROTOCOLS.md section 6). With
    # both, each call is pinned to the Machine that answered its webhook (app/fleet/).
    fly_machine_id: str | None = None
    fly_app_name: str | None = None
    # The DNS server asked whether a Machine is still running (`<id>.vm.<app>.internal` AAAA):
    # Fly's resolver on every Machine is fdaa::3. Tests point it at a resolver of their own.
    fly_dns_server: str = "fdaa::3"
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks).
    # None by default: a header anyone can write must not choose the address the sign-in
    # throttle sees. On Fly the address is Fly-Client-IP instead (app/fleet/client_address.py).
    forwarded_allow_ips: CommaList = ()
    # Notifications (app/notify): summaries, SMS and email to the owner, booking confirmations.
    # OPENAI_BASE_URL is the name OpenAI's own SDKs read; either is accepted.
    openai_api_base: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("openai_api_base", "openai_base_url"),
    )
    openai_summary_model: str = "gpt-5.4-mini"
    notify_summary_wait_seconds: PositiveSeconds = 5.0
    notify_sms_to: CommaList = ()
    smtp_url: SecretStr | None = None
    notify_from_email: str | None = None
    notify_email_to: CommaList = ()
    notify_on: CommaList = ("message", "transfer_unanswered", "callback")
    booking_sms: bool = False
    # The business's own calendar (app/calendar, docs/calendars.md); linked from /staff/calendar.
    calendar_timeout_seconds: float = Field(default=2.0, gt=0, le=10)
    # Free/busy read from the calendar is reused for at most this long (per day asked).
    calendar_cache_seconds: float = Field(default=30.0, ge=0, le=30)
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = Field(default=None, validate_default=True)
    google_oauth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_calendar_api_base: str = "https://www.googleapis.com/calendar/v3"
    calcom_api_base: str = "https://api.cal.com"
    calendar: CalendarProvider | None = None  # last: its check reads the settings above

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://receptionist.fly.dev")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        return normalise_database_url(value)

    @field_validator("openai_realtime_url")
    @classmethod
    def _realtime_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError("must be a ws:// or wss:// URL")
        return value

    @field_validator("openai_realtime_model")
    @classmethod
    def _realtime_model(cls, value: str) -> str:
        return models.check_model(value.strip())

    @field_validator("openai_escalation_model", mode="before")
    @classmethod
    def _escalation_model(cls, value: object, info: ValidationInfo) -> object:
        if value in (None, ""):
            return None
        name = models.check_model(str(value).strip())
        if name == info.data.get("openai_realtime_model"):
            raise ValueError("must differ from OPENAI_REALTIME_MODEL, the model calls start on")
        return name

    @field_validator("openai_reasoning_effort")
    @classmethod
    def _reasoning_effort(cls, value: str) -> str:
        effort = value.strip().lower()
        if effort not in models.REASONING_EFFORTS:
            raise ValueError(f"must be one of {', '.join(models.REASONING_EFFORTS)}")
        return effort

    @field_validator("twilio_api_base", "business_api_base")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("openai_api_base")
    @classmethod
    def _openai_api_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://api.openai.com/v1")
        return value.rstrip("/")

    @field_validator(
        "notify_sms_to", "notify_email_to", "notify_on", "forwarded_allow_ips", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> tuple[str, ...]:
        return addresses.split_list(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or network such as 10.0.0.5 or 10.0.0.0/8"
                ) from None
        return value

    @field_validator("notify_sms_to")
    @classmethod
    def _sms_to(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and not info.data.get("twilio_phone_number"):
            raise ValueError("needs TWILIO_PHONE_NUMBER, the number SMS are sent from")
        return addresses.check_phones(value)

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _smtp_url(cls, value: object) -> object:
        if value in (None, ""):
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        addresses.parse_smtp_url(raw)  # the message never holds the URL: it may hold a password
        return value

    @field_validator("notify_from_email", mode="before")
    @classmethod
    def _from_email(cls, value: object) -> object:
        if value in (None, ""):
            return None
        return addresses.check_email(str(value).strip())

    @field_validator("notify_email_to")
    @classmethod
    def _email_to(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and info.data.get("smtp_url") is None:
            raise ValueError("needs SMTP_URL, the server mail is sent through")
        if value and not info.data.get("notify_from_email"):
            raise ValueError("needs NOTIFY_FROM_EMAIL, the address mail is sent from")
        return addresses.check_emails(value)

    @field_validator("notify_on")
    @classmethod
    def _notify_on(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in addresses.EVENTS]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; use {', '.join(addresses.EVENTS)}")
        return value

    @field_validator("booking_sms", mode="before")
    @classmethod
    def _booking_sms(cls, value: object) -> object:
        return False if value == "" else value

    @field_validator("booking_sms")
    @classmethod
    def _booking_sms_from(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("twilio_phone_number"):
            raise ValueError("needs TWILIO_PHONE_NUMBER, the number SMS are sent from")
        return value

    @field_validator(
        "google_oauth_url", "google_token_url", "google_calendar_api_base", "calcom_api_base"
    )
    @classmethod
    def _calendar_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("calendar")
    @classmethod
    def _calendar(
        cls, value: CalendarProvider | None, info: ValidationInfo
    ) -> CalendarProvider | None:
        if value is not None and info.data.get("business_api_base"):
            raise ValueError(
                "links a calendar to the built-in backend; with BUSINESS_API_BASE your own "
                "backend answers availability and bookings (unset one of the two)"
            )
        if value is CalendarProvider.GOOGLE and not info.data.get("google_client_id"):
            raise ValueError(
                "google needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, the OAuth client the "
                "consent screen belongs to (docs/calendars.md)"
            )
        return value

    @field_validator("google_client_secret")
    @classmethod
    def _google_pair(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if (value is None) != (info.data.get("google_client_id") is None):
            raise ValueError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET go together: set both")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator(
        "openai_api_key",
        "twilio_auth_token",
        "business_api_token",
        "secret_key",
        "transcript_retention_days",
        "calendar",
        "google_client_secret",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("embedded_database_on_fly", "call_recording", mode="before")
    @classmethod
    def _empty_is_false(cls, value: object) -> object:
        return False if value == "" else value

    @field_validator("caller_memory", mode="before")
    @classmethod
    def _empty_is_true(cls, value: object) -> object:
        return True if value == "" else value

    @field_validator(
        "twilio_account_sid",
        "twilio_phone_number",
        "human_transfer_number",
        "fly_machine_id",
        "fly_app_name",
        "google_client_id",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("fly_machine_id")
    @classmethod
    def _machine_id(cls, value: str | None) -> str | None:
        # It becomes a URL path segment, a DNS label and a header value: Fly's ids are hex.
        if value is not None and not MACHINE_ID.fullmatch(value):
            raise ValueError("must be a Fly Machine id (letters and digits, up to 40)")
        return value

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


FLY_WITHOUT_DATABASE = (
    "DATABASE_URL is not set: on Fly the embedded database lives on the Machine's root "
    "filesystem and is wiped on every deploy; attach Postgres (docs/deploy.md) or set "
    "EMBEDDED_DATABASE_ON_FLY=yes if you mean it"
)


def check_database_placement(settings: Settings, environ: Mapping[str, str]) -> None:
    """Refuse the embedded database on Fly unless the operator says they mean it.

    Fly sets FLY_APP_NAME on every Machine, the release command's included. A Machine's root
    filesystem is rebuilt from the image on every deploy, so embedded data would vanish.
    """
    on_fly = bool(environ.get("FLY_APP_NAME"))
    if on_fly and settings.embedded_database and not settings.embedded_database_on_fly:
        raise ConfigError(FLY_WITHOUT_DATABASE)


def normalise_database_url(value: str) -> str:
    """Accept postgres:// and postgresql:// (with or without a driver) and target asyncpg."""
    parts = urlsplit(value)
    scheme = parts.scheme
    if scheme not in ("postgres", "postgresql", "postgresql+asyncpg"):
        raise ValueError("must be a postgres:// or postgresql:// URL")
    if not parts.netloc and "host=" not in parts.query:
        raise ValueError("must name a host, e.g. postgresql://user:password@host:5432/dbname")
    try:
        parts.port  # noqa: B018  (raises ValueError on a non-numeric port)
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    url = "postgresql+asyncpg://" + value.split("://", 1)[1]
    # libpq's sslmode= (as `fly postgres attach` writes it) is spelled ssl= for asyncpg.
    return re.sub(r"([?&])sslmode=", r"\1ssl=", url)


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning any validation failure into a one-line ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid {name}: {message}") from None
