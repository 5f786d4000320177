"""The front door (/): what this service is and whether it is set up, with the next steps.

It names settings that are missing, never their values, and shows no call data.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

from app.business.profile import BusinessProfile
from app.config import Settings
from app.db.engine import ping
from app.logging import get_logger
from app.staff.accounts import count_accounts
from app.staff.headers import SecurityHeaders
from app.staff.render import make_templates

log = get_logger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    next_step: str = ""


def _missing(names: dict[str, object]) -> list[str]:
    return [name for name, value in names.items() if not value]


def setup_checks(
    settings: Settings, profile: BusinessProfile, database_ok: bool, staff_accounts: int | None
) -> list[Check]:
    """One line per thing the service needs, in the order a new owner would set them up."""
    base = settings.public_base_url
    twilio_missing = _missing(
        {
            "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
            "TWILIO_PHONE_NUMBER": settings.twilio_phone_number,
        }
    )
    webhook = f"{base}/twilio/incoming" if base else "https://YOUR-HOST/twilio/incoming"
    return [
        Check(
            "Database",
            database_ok,
            "PostgreSQL answers." if database_ok else "PostgreSQL does not answer.",
            "" if database_ok else "Check DATABASE_URL, or unset it to use the embedded database.",
        ),
        Check(
            "Business profile",
            True,
            f"{profile.name}, {len(profile.services)} bookable services, "
            f"time zone {profile.timezone}.",
            f"To change hours, services or answers, edit {settings.business_profile.name} "
            "and restart.",
        ),
        Check(
            "OpenAI key",
            settings.openai_api_key is not None,
            "Set." if settings.openai_api_key else "Not set: callers hear a polite fallback.",
            "" if settings.openai_api_key else "Set OPENAI_API_KEY (in .env, or as a Fly secret).",
        ),
        Check(
            "Twilio",
            not twilio_missing,
            "Account, token and number are set."
            if not twilio_missing
            else "Missing: " + ", ".join(twilio_missing) + ".",
            f"In the Twilio console, send your number's incoming calls to {webhook} (POST)."
            if not twilio_missing
            else "Set " + ", ".join(twilio_missing) + " from your Twilio console.",
        ),
        Check(
            "Public URL",
            bool(base and base.startswith("https://")),
            f"{base}" if base else "Not set.",
            ""
            if base and base.startswith("https://")
            else "Set PUBLIC_BASE_URL to the https address Twilio reaches this service at.",
        ),
        Check(
            "Staff login",
            bool(staff_accounts),
            f"{staff_accounts} account(s)."
            if staff_accounts
            else ("None yet." if staff_accounts == 0 else "Unknown (no database)."),
            ""
            if staff_accounts
            else "Create one: receptionist staff add you@example.com (it prints a password).",
        ),
    ]


def front_door_route(settings: Settings, profile: BusinessProfile) -> Route:
    templates = make_templates(ZoneInfo(profile.timezone))

    async def front_door(request: Request) -> Response:
        engine: AsyncEngine = request.app.state.runtime.engine
        database_ok = await ping(engine)
        accounts = None
        if database_ok:
            try:
                accounts = await count_accounts(engine)
            except Exception as exc:  # the schema may not be migrated yet: still show the page
                log.warning("front_door_accounts_unknown", error=type(exc).__name__)
                accounts = None
        checks = setup_checks(settings, profile, database_ok, accounts)
        return templates.TemplateResponse(
            request,
            "front.html",
            {
                "business_name": profile.name,
                "checks": checks,
                "ready": all(c.ok for c in checks),
                "staff": None,
                "page": "",
                "csrf_token": "",
            },
        )

    return Route(
        "/", SecurityHeaders(request_response(front_door)), methods=["GET", "HEAD"], name="front"
    )
