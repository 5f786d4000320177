"""The doctor: is this service set up to take calls? One list of checks, three places show it.

`receptionist doctor` prints it (non-zero exit on any failure), the front door (/) and the
console's Checks page show it. Each check answers ok or not, a one-line detail and, when it
fails, a one-line fix. A check never prints a secret: it names settings, never their values, and
never shows an API's body (Twilio's account fetch returns the auth token).

CHECKS is a list on purpose: a part that needs a check of its own (the linked calendar) adds
one `Check` to it; `run_checks` runs them in order, each within its own time limit.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiosmtplib
import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.base.exceptions import TwilioRestException

from app.business.profile import load_profile
from app.calendar.errors import CalendarUnavailable
from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.calendar.service import read_once
from app.config import ConfigError, Settings, check_database_placement
from app.db.engine import alembic_config, project_root
from app.logging import get_logger
from app.notify.addresses import parse_smtp_url
from app.staff.accounts import count_accounts
from app.staff.secret import secret_key
from app.twilio.numbers import SetupRefused, find_number, points_here, twilio_client

log = get_logger(__name__)

CHECK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Finding:
    ok: bool
    detail: str
    fix: str = ""  # one line; empty when ok


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Patient:
    """What the checks look at: the settings, an HTTP client, the database when there is one."""

    settings: Settings
    http: httpx.AsyncClient
    engine: AsyncEngine | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class Check:
    name: str
    examine: Callable[[Patient], Awaitable[Finding]]


def _ok(detail: str) -> Finding:
    return Finding(True, detail)


def _fail(detail: str, fix: str) -> Finding:
    return Finding(False, detail, fix)


# --- the checks, in the order a new owner sets things up ---------------------------------------


async def settings_valid(p: Patient) -> Finding:
    try:
        check_database_placement(p.settings, p.environ)
    except ConfigError as exc:
        return _fail(str(exc).split(":")[0] + ".", "Set DATABASE_URL (docs/deploy.md).")
    return _ok("Every setting is valid.")


async def public_url(p: Patient) -> Finding:
    base = p.settings.public_base_url
    if base and base.startswith("https://"):
        return _ok(base)
    return _fail(
        f"{base} is not https." if base else "PUBLIC_BASE_URL is not set.",
        "Set PUBLIC_BASE_URL to the https address Twilio reaches this service at.",
    )


async def database(p: Patient) -> Finding:
    if p.engine is None:
        if p.settings.database_url is None:
            return _ok("Embedded PostgreSQL under DATA_DIR (started and migrated by serve).")
        return _fail("Not connected.", "Check DATABASE_URL.")
    try:
        async with p.engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except Exception as exc:
        if "alembic_version" in str(exc):
            return _fail("PostgreSQL answers; no schema yet.", "Run: receptionist migrate")
        return _fail(
            f"PostgreSQL does not answer ({type(exc).__name__}).",
            "Check DATABASE_URL, or unset it to use the embedded database.",
        )
    head = set(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())
    have = {row[0] for row in current}
    if have != head:
        return _fail(
            f"Schema at {', '.join(sorted(have)) or 'nothing'}; the code needs {', '.join(sorted(head))}.",
            "Run: receptionist migrate",
        )
    return _ok("PostgreSQL answers; the schema is up to date.")


async def openai_models(p: Patient) -> Finding:
    s = p.settings
    if s.openai_api_key is None:
        return _fail(
            "OPENAI_API_KEY is not set.", "Set OPENAI_API_KEY (in .env, or as a Fly secret)."
        )
    headers = {"Authorization": f"Bearer {s.openai_api_key.get_secret_value()}"}
    response = await p.http.get(f"{s.openai_api_base}/models", headers=headers)
    if response.status_code == 401:
        return _fail(
            "OpenAI refused the key (401).",
            "Set OPENAI_API_KEY to a valid key from platform.openai.com.",
        )
    if response.status_code != 200:
        return _fail(
            f"OpenAI answered {response.status_code}.",
            "Try again; see status.openai.com if it persists.",
        )
    available = {m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)}
    wanted = {
        "OPENAI_REALTIME_MODEL": s.openai_realtime_model,
        "OPENAI_TRANSCRIPTION_MODEL": s.openai_transcription_model,
        "OPENAI_SUMMARY_MODEL": s.openai_summary_model,
    }
    if s.openai_escalation_model:
        wanted["OPENAI_ESCALATION_MODEL"] = s.openai_escalation_model
    missing = [f"{k}={v}" for k, v in wanted.items() if v not in available]
    if missing:
        return _fail(
            "The key cannot use " + ", ".join(missing) + ".",
            "Pick models your OpenAI project has (platform.openai.com, Limits), or set them.",
        )
    return _ok("The key is accepted; " + ", ".join(wanted.values()) + " available.")


async def twilio_account(p: Patient) -> Finding:
    try:
        client = twilio_client(p.settings, p.http)
        # The body holds the auth token: only its status is read, nothing is shown.
        account = await client.api.account.fetch_async()
    except SetupRefused as exc:
        return _fail(str(exc) + ".", "Copy them from the Twilio Console (Account Info).")
    except TwilioRestException as exc:
        if exc.status == 401:
            return _fail(
                "Twilio refused TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (20003).",
                "Copy both again from the Twilio Console (Account Info).",
            )
        return _fail(
            f"Twilio answered {exc.status} (error {exc.code}).", "Check TWILIO_ACCOUNT_SID."
        )
    if account.status != "active":
        return _fail(
            f"The account is {account.status}.", "Reactivate it in the Twilio Console (Billing)."
        )
    return _ok(f"Credentials accepted; the account is active ({account.type}).")


async def twilio_number(p: Patient) -> Finding:
    s = p.settings
    if not s.twilio_phone_number:
        return _fail(
            "TWILIO_PHONE_NUMBER is not set.",
            "Set it to your Twilio number in E.164 (+15551234567).",
        )
    try:
        config = await find_number(twilio_client(s, p.http), s.twilio_phone_number)
    except SetupRefused as exc:
        return _fail(str(exc) + ".", "Set the Twilio credentials first.")
    except TwilioRestException as exc:
        return _fail(
            f"Twilio answered {exc.status} (error {exc.code}).",
            "Fix the Twilio account check first.",
        )
    if config is None:
        return _fail(
            "TWILIO_PHONE_NUMBER is not a number of this account.",
            "Set it to a number listed in the Twilio Console (Phone Numbers).",
        )
    if not points_here(config, s):
        where = config.fields["voice_url"] or "nowhere"
        if config.fields["voice_application_sid"]:
            where = "a TwiML App"  # it overrides the voice URL
        elif config.fields["trunk_sid"]:
            where = "a SIP trunk"
        return _fail(f"Calls go to {where}, not to this service.", "Run: receptionist twilio setup")
    return _ok("Calls and their status reach this service.")


async def business_profile(p: Patient) -> Finding:
    path = p.settings.business_profile
    if not path.is_absolute() and not path.exists():
        path = project_root() / path
    try:
        profile = await asyncio.to_thread(load_profile, path)
    except (OSError, ValueError) as exc:
        return _fail(
            f"{path.name}: {str(exc)[:160]}", f"Fix {path.name} (README: the business profile)."
        )
    return _ok(
        f"{profile.name}, {len(profile.services)} bookable services, time zone {profile.timezone}."
    )


async def staff_login(p: Patient) -> Finding:
    if p.engine is None:
        return _ok("Not checked here: the embedded database runs inside serve (see /staff).")
    try:
        accounts = await count_accounts(p.engine)
    except Exception as exc:  # no database, or no schema: the Database check says which
        return _fail(f"Unknown ({type(exc).__name__}).", "Fix the Database check first.")
    if not accounts:
        return _fail("None yet.", "Create one: receptionist staff add you@example.com")
    return _ok(f"{accounts} account(s).")


async def smtp_login(p: Patient) -> Finding:
    s = p.settings
    if s.smtp_url is None or not s.notify_email_to:
        return _ok("Email notifications are off.")
    target = parse_smtp_url(s.smtp_url.get_secret_value())
    smtp = aiosmtplib.SMTP(
        hostname=target.host,
        port=target.port,
        use_tls=target.implicit_tls,
        start_tls=None if not target.implicit_tls else False,
        timeout=CHECK_TIMEOUT_SECONDS,
    )
    try:
        await smtp.connect()
        if target.username is not None:
            await smtp.login(target.username, target.password or "")
        await smtp.quit()
    except aiosmtplib.SMTPAuthenticationError:
        return _fail(f"{target.host} refused the login.", "Fix the user and password in SMTP_URL.")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return _fail(
            f"{target.host}:{target.port} cannot be reached ({type(exc).__name__}).",
            "Check SMTP_URL's host and port (smtps:// for 465).",
        )
    return _ok(f"Logged in to {target.host}:{target.port}.")


async def calendar_linked(p: Patient) -> Finding:
    """With CALENDAR set: linked, and it answers a read now (app/calendar)."""
    s = p.settings
    if s.calendar is None:
        return _ok("None: bookings stay in the built-in diary.")
    if p.engine is None:
        return _fail("Unknown (no database).", "Fix the Database check first.")
    path = s.business_profile
    if not path.is_absolute() and not path.exists():
        path = project_root() / path
    try:
        profile = await asyncio.to_thread(load_profile, path)
        link = await LinkStore(p.engine, Sealer(secret_key(s))).get()
    except (OSError, ValueError, ConfigError) as exc:
        return _fail(f"Unknown ({type(exc).__name__}).", "Fix the checks above first.")
    page = "the console's Calendar page (/staff/calendar)"
    if link is None or link.provider != s.calendar.value:
        return _fail(
            f"{s.calendar.value} is not linked yet: callers can't book.", f"Link it on {page}."
        )
    if not link.usable:
        return _fail(f"Disconnected: {link.last_error}.", f"Link it again on {page}.")
    try:
        await read_once(s, profile, p.http, link)
    except CalendarUnavailable as exc:
        return _fail(
            f"{s.calendar.value} cannot be read ({exc.kind}): {exc.message}.", f"See {page}."
        )
    return _ok(f"{s.calendar.value} linked and answering.")


CHECKS: list[Check] = [
    Check("Settings", settings_valid),
    Check("Public URL", public_url),
    Check("Database", database),
    Check("OpenAI", openai_models),
    Check("Twilio account", twilio_account),
    Check("Twilio number", twilio_number),
    Check("Business profile", business_profile),
    Check("Email (SMTP)", smtp_login),
    Check("Staff login", staff_login),
    Check("Calendar", calendar_linked),
]


async def run_checks(patient: Patient, checks: list[Check] | None = None) -> list[CheckResult]:
    """Every check in order; a check that times out or raises is a failure, not a crash."""
    results = []
    for check in CHECKS if checks is None else checks:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                found = await check.examine(patient)
        except TimeoutError:
            found = _fail(
                f"No answer within {CHECK_TIMEOUT_SECONDS:.0f} s.", "Check the network, then retry."
            )
        except (httpx.HTTPError, OSError) as exc:
            found = _fail(
                f"Cannot be reached ({type(exc).__name__}).",
                "Check the network and the API base URL settings.",
            )
        except Exception as exc:  # a bug in one check must not hide the others
            log.exception("doctor_check_crashed", check=check.name)
            found = _fail(f"The check failed ({type(exc).__name__}).", "Report this as a bug.")
        results.append(CheckResult(check.name, found.ok, found.detail, found.fix))
    return results


class Checkup:
    """The checks for the running service (front door, console), run at most once per
    `max_age` seconds: the front door is public, and each run calls OpenAI and Twilio."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None) -> None:
        self._settings = settings
        self._engine = engine
        self._lock = asyncio.Lock()
        self._results: list[CheckResult] = []
        self._at = -float("inf")

    async def results(self, max_age: float) -> list[CheckResult]:
        async with self._lock:  # concurrent pages share one run
            loop = asyncio.get_running_loop()
            if loop.time() - self._at > max_age:
                async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
                    patient = Patient(self._settings, http, self._engine)
                    self._results = await run_checks(patient)
                self._at = loop.time()
            return list(self._results)
