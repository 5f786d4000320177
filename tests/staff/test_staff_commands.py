"""`receptionist staff ...` and `receptionist demo-data`: accounts in Postgres, demo data that adds up."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.profile import load_profile
from app.cli import main
from app.config import load_settings
from app.db.engine import project_root
from app.staff.accounts import AccountError, add_account, authenticate, list_accounts
from app.staff.commands import run_demo, run_staff
from app.staff.database import running_embedded_socket
from app.staff.demo import DemoRefused, fill_demo_data

PROFILE = load_profile(project_root() / "prompts" / "business.toml")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    from app.staff.commands import add_arguments

    add_arguments(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def _staff(db_url: str, argv: list[str], stdin: str = "") -> str:
    out = io.StringIO()
    settings = load_settings(database_url=db_url, _env_file=None)
    assert await run_staff(_args(["staff", *argv]), settings, io.StringIO(stdin), out) == 0
    return out.getvalue()


async def test_add_list_passwd_remove_round_trip(db_url: str, engine: AsyncEngine) -> None:
    made = await _staff(db_url, ["add", "Desk@Example.com"])  # no terminal, empty stdin
    password = made.split("Password: ")[1].split()[0]
    assert "Created a login for desk@example.com" in made
    assert await authenticate(engine, "desk@example.com", password) is not None
    listed = await _staff(db_url, ["list"])
    assert listed.startswith("desk@example.com\tcreated ")
    changed = await _staff(db_url, ["passwd", "desk@example.com"], stdin="a chosen passphrase\n")
    assert "New password set" in changed and "Password:" not in changed  # not made up: not shown
    assert await authenticate(engine, "desk@example.com", password) is None
    assert await authenticate(engine, "DESK@example.com", "a chosen passphrase") is not None
    await _staff(db_url, ["remove", "desk@example.com"])
    assert await list_accounts(engine) == []
    assert "No staff logins yet" in await _staff(db_url, ["list"])


async def test_passwords_are_stored_as_argon2id_hashes(engine: AsyncEngine) -> None:
    await add_account(engine, "hash@example.com", "plain text never stored")
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM staff_users"))).scalar_one()
    assert stored.startswith("$argon2id$") and "plain text" not in stored


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "long enough password", "is not an email address"),
        ("short@example.com", "short", "at least 10 characters"),
    ],
)
async def test_bad_accounts_are_refused_in_one_line(
    engine: AsyncEngine, email: str, password: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        await add_account(engine, email, password)


async def test_an_email_has_one_account(engine: AsyncEngine) -> None:
    await add_account(engine, "twice@example.com", "long enough password")
    with pytest.raises(AccountError, match="already has an account"):
        await add_account(engine, "TWICE@example.com", "another long password")


def test_the_cli_reports_an_unknown_account_on_stderr(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["staff", "remove", "ghost@example.com"]) == 1
    assert "no account for ghost@example.com" in capsys.readouterr().err


async def test_demo_data_is_realistic_deterministic_and_adds_up(
    engine: AsyncEngine, db_url: str
) -> None:
    now = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    summary = await fill_demo_data(engine, PROFILE, calls=200, seed=11, now=now)
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM transcript_turns),"
                    " (SELECT count(*) FROM call_outcomes), (SELECT count(*) FROM messages),"
                    " (SELECT count(*) FROM appointments), "
                    "(SELECT count(*) FROM calls WHERE started_at > :now), "
                    "(SELECT count(*) FROM notifications), "
                    "(SELECT count(*) FROM notifications WHERE status = 'failed'), "
                    "(SELECT count(*) FROM calls WHERE summary IS NULL)"
                ),
                {"now": now},
            )
        ).one()
        first = (
            await conn.execute(text("SELECT call_sid FROM calls ORDER BY started_at LIMIT 1"))
        ).scalar_one()
    assert tuple(counts[:5]) == (
        summary.calls,
        summary.turns,
        summary.calls,
        summary.messages,
        summary.appointments,
    )
    assert counts[5] == 0  # nothing in the future
    assert counts[6] == summary.notifications > 0 and counts[7] == 2  # two failed for good
    assert counts[8] == 0  # every call has its summary
    assert 200 * 15 < summary.turns < 200 * 25 and summary.messages and summary.appointments
    with pytest.raises(DemoRefused, match="already has 200 calls"):
        await fill_demo_data(engine, PROFILE, calls=5, now=now)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE calls, appointments, messages, notifications CASCADE"))
    again = await fill_demo_data(engine, PROFILE, calls=200, seed=11, now=now)
    async with engine.connect() as conn:
        same_first = (
            await conn.execute(text("SELECT call_sid FROM calls ORDER BY started_at LIMIT 1"))
        ).scalar_one()
    assert again == summary and same_first == first  # same seed, same data


async def test_the_demo_data_command_says_what_it_made(db_url: str) -> None:
    out = io.StringIO()
    settings = load_settings(database_url=db_url, _env_file=None)
    args = _args(["demo-data", "--calls", "30", "--seed", "2"])
    assert await run_demo(args, settings, out) == 0
    assert out.getvalue().startswith("Made 30 calls, ")


def test_a_live_embedded_server_is_found_by_its_pid_file(tmp_path: Path) -> None:
    import os

    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    assert running_embedded_socket(pgdata) is None
    lines = [str(os.getpid()), str(pgdata), "0", "5432", "/run/pg-sock", "", "0 0", "ready"]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    assert running_embedded_socket(pgdata) == "/run/pg-sock"
    lines[7] = "starting"
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    assert running_embedded_socket(pgdata) is None
