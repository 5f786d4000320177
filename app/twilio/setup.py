"""`receptionist twilio setup`: point TWILIO_PHONE_NUMBER at PUBLIC_BASE_URL, and show it.

Prints the number's voice settings before and after; `--dry-run` prints what would change and
changes nothing. Only the fields that differ are sent. Never prints a secret (the account's
auth token is neither read nor shown).
"""

from __future__ import annotations

import argparse
from typing import TextIO

import httpx
from twilio.base.exceptions import TwilioRestException

from app.config import Settings
from app.twilio.numbers import (
    SHOWN,
    NumberConfig,
    SetupRefused,
    find_number,
    twilio_client,
    update_number,
    wanted,
)


def add_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    twilio = commands.add_parser("twilio", help="Twilio set-up")
    sub = twilio.add_subparsers(dest="twilio_command", required=True)
    setup = sub.add_parser(
        "setup",
        help="point TWILIO_PHONE_NUMBER's voice webhooks at PUBLIC_BASE_URL",
        description=__doc__,
    )
    setup.add_argument("--dry-run", action="store_true", help="show the changes, make none")
    setup.add_argument(
        "--fallback-url",
        help="the voice fallback URL (default: Twilio-hosted TwiML that dials "
        "HUMAN_TRANSFER_NUMBER; see docs/operations.md)",
    )


def _show(out: TextIO, title: str, config: NumberConfig | dict[str, str]) -> None:
    fields = config.fields if isinstance(config, NumberConfig) else config
    out.write(f"{title}\n")
    for name in SHOWN:
        out.write(f"  {name:<24} {fields.get(name) or '(none)'}\n")


async def run_setup(
    settings: Settings, out: TextIO, *, dry_run: bool = False, fallback: str | None = None
) -> int:
    """0 when the number points here (changed or already), 1 on a Twilio error, 2 when the
    settings cannot work (the reason is printed)."""
    number = settings.twilio_phone_number
    try:
        if not number:
            raise SetupRefused("TWILIO_PHONE_NUMBER is not set")
        target = wanted(settings, fallback)
        async with httpx.AsyncClient(trust_env=False) as http:
            client = twilio_client(settings, http)
            before = await find_number(client, number)
            if before is None:
                out.write(
                    f"receptionist: {number} is not a number of account "
                    f"{settings.twilio_account_sid}: check TWILIO_PHONE_NUMBER (E.164, +1...)\n"
                )
                return 1
            out.write(f"Number {before.phone_number} ({before.sid})\n")
            _show(out, "Before:", before)
            changes = {k: v for k, v in target.items() if before.fields[k] != v}
            if not changes:
                out.write("Already points at this service: nothing to change.\n")
                return 0
            if dry_run:
                _show(out, "Would change (--dry-run: nothing changed):", changes)
                return 0
            after = await update_number(client, before.sid, changes)
            _show(out, "After:", after)
            return 0
    except SetupRefused as exc:
        out.write(f"receptionist: refused: {exc}\n")
        return 2
    except TwilioRestException as exc:
        out.write(f"receptionist: Twilio answered {exc.status} (error {exc.code}): {exc.msg}\n")
        return 1
    except httpx.HTTPError as exc:
        out.write(f"receptionist: Twilio could not be reached ({type(exc).__name__})\n")
        return 1
