"""`receptionist staff add|list|passwd|remove` and `receptionist demo-data`."""

from __future__ import annotations

import argparse
import getpass
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.engine import make_engine
from app.staff.accounts import (
    AccountError,
    add_account,
    list_accounts,
    remove_account,
    set_password,
)
from app.staff.database import command_database
from app.staff.passwords import generate, weakness


def add_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = commands.add_parser(
        "staff",
        help="manage the staff console's logins",
        description="Logins for the staff console at /staff. Passwords are stored as argon2 "
        "hashes. Without a terminal, a password is read from the first line of standard "
        "input; an empty one (or --generate) makes one up and prints it.",
    )
    actions = staff.add_subparsers(dest="staff_command", required=True)
    add = actions.add_parser("add", help="create a login (asks for a password or makes one up)")
    add.add_argument("email")
    add.add_argument("--generate", action="store_true", help="make up a password and print it")
    actions.add_parser("list", help="list the logins")
    passwd = actions.add_parser("passwd", help="set a new password (signs the account out)")
    passwd.add_argument("email")
    passwd.add_argument("--generate", action="store_true", help="make up a password and print it")
    remove = actions.add_parser("remove", help="delete a login (signs it out everywhere)")
    remove.add_argument("email")

    demo = commands.add_parser(
        "demo-data",
        help="fill the database with realistic made-up calls, messages and appointments",
        description="Made-up but realistic data for trying the console and for screenshots. "
        "Refuses a database that already has calls unless --append is given.",
    )
    demo.add_argument("--calls", type=int, default=10_000, help="number of calls (10000)")
    demo.add_argument(
        "--turns", type=int, default=21, help="transcript turns of a typical call (21)"
    )
    demo.add_argument("--days", type=int, default=90, help="spread the calls over N days (90)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: same seed, same data")
    demo.add_argument("--append", action="store_true", help="add to a database that has calls")


def _read_password(generate_one: bool, stdin: TextIO, out: TextIO) -> tuple[str, bool]:
    """(password, made up?). Asks twice on a terminal; an empty answer makes one up."""
    if generate_one:
        return generate(), True
    if stdin.isatty():
        while True:
            first = getpass.getpass("Password (empty: make one up): ")
            if not first:
                return generate(), True
            problem = weakness(first)
            if problem:
                out.write(f"Too weak: {problem}.\n")
                continue
            if getpass.getpass("Same password again: ") == first:
                return first, False
            out.write("The two did not match; try again.\n")
    line = stdin.readline().rstrip("\r\n")
    return (line, False) if line else (generate(), True)


async def run_staff(
    args: argparse.Namespace, settings: Settings, stdin: TextIO, out: TextIO
) -> int:
    """Carry out a `staff` sub-command; AccountError reaches the caller as one line."""
    async with command_database(settings) as url:
        engine = make_engine(url, pool_size=1)
        try:
            return await _staff(args, engine, stdin, out)
        finally:
            await engine.dispose()


async def _staff(args: argparse.Namespace, engine: AsyncEngine, stdin: TextIO, out: TextIO) -> int:
    command = args.staff_command
    if command == "list":
        accounts = await list_accounts(engine)
        if not accounts:
            out.write("No staff logins yet: receptionist staff add you@example.com\n")
        for account in accounts:
            out.write(
                f"{account.email}\tcreated {account.created_at:%Y-%m-%d}\t"
                f"password set {account.password_changed_at:%Y-%m-%d}\n"
            )
        return 0
    if command == "remove":
        await remove_account(engine, args.email)
        out.write(f"Removed {args.email.strip().lower()}; its sessions are ended.\n")
        return 0
    password, made_up = _read_password(args.generate, stdin, out)
    if command == "add":
        account = await add_account(engine, args.email, password)
        out.write(f"Created a login for {account.email}.\n")
    else:
        await set_password(engine, args.email, password)
        out.write(f"New password set for {args.email.strip().lower()}; it was signed out.\n")
    if made_up:
        out.write(f"Password: {password}\n(shown once: hand it over and keep no copy)\n")
    return 0


async def run_demo(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Fill the database with demo data and say what was made."""
    import time

    from app.business.profile import load_profile
    from app.db.engine import project_root
    from app.staff.demo import DemoRefused, fill_demo_data

    path = settings.business_profile
    if not path.is_absolute() and not path.exists():
        path = project_root() / path
    profile = load_profile(path)
    async with command_database(settings) as url:
        engine = make_engine(url, pool_size=1)
        started = time.perf_counter()
        try:
            summary = await fill_demo_data(
                engine,
                profile,
                calls=args.calls,
                turns=args.turns,
                days=args.days,
                seed=args.seed,
                append=args.append,
            )
        except DemoRefused as exc:
            raise AccountError(str(exc)) from None
        finally:
            await engine.dispose()
    out.write(f"Made {summary} in {time.perf_counter() - started:.1f} s.\n")
    return 0
