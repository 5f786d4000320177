"""The `receptionist` command: serve, migrate, staff, demo-data, twilio setup, doctor."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, TextIO

import httpx

from app.config import ConfigError, Settings, check_database_placement, load_settings
from app.logging import configure_logging, get_logger
from app.staff import commands as staff_commands
from app.twilio import setup as twilio_setup

log = get_logger(__name__)


def _serve(settings: Settings) -> int:
    import uvicorn

    from app.main import create_app
    from app.server import WS_MAX_SIZE, ReceptionistServer, proxy_options

    try:
        app = create_app(settings)
    except ConfigError as exc:
        sys.stderr.write(f"receptionist: {exc}\n")
        return 2
    except ValueError as exc:
        sys.stderr.write(f"receptionist: invalid BUSINESS_PROFILE: {exc}\n")
        return 2
    config = uvicorn.Config(
        app,
        host="0.0.0.0",
        port=settings.port,
        **proxy_options(settings),
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # base64 audio barely compresses; deflate costs CPU and RAM
        ws_max_size=max(WS_MAX_SIZE, settings.max_frame_bytes),
        log_config=None,
        timeout_graceful_shutdown=10,  # calls were drained before uvicorn is told to stop
    )

    async def drain() -> None:
        from app.drain import drain as drain_calls

        await drain_calls(app.state.runtime, settings.drain_seconds)

    ReceptionistServer(config, drain).run()
    return 0


def _migrate(settings: Settings) -> int:
    from app.db.embedded import EmbeddedPostgres
    from app.db.engine import upgrade

    async def run() -> None:
        embedded = None
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await embedded.start()
        try:
            await upgrade(url)
        finally:
            if embedded is not None:
                await embedded.stop()

    asyncio.run(run())
    log.info("migrated", target="head")
    return 0


def _staff(args: argparse.Namespace, settings: Settings) -> int:
    from app.staff.accounts import AccountError

    try:
        if args.command == "demo-data":
            return asyncio.run(staff_commands.run_demo(args, settings, sys.stdout))
        return asyncio.run(staff_commands.run_staff(args, settings, sys.stdin, sys.stdout))
    except AccountError as exc:
        sys.stderr.write(f"receptionist: {exc}\n")
        return 1


def _doctor(out: TextIO) -> int:
    """Print every check with its fix; 1 when any fails (settings that do not load included)."""
    from app.db.engine import make_engine
    from app.doctor import Patient, run_checks

    try:
        settings = load_settings()
    except ConfigError as exc:
        out.write(f"FAIL Settings: {exc}\n     fix: correct it in .env or the environment\n")
        return 1
    configure_logging("WARNING", settings.log_format)

    async def run() -> list[Any]:
        engine = make_engine(settings.database_url, pool_size=1) if settings.database_url else None
        try:
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
                return await run_checks(Patient(settings, http, engine))
        finally:
            if engine is not None:
                await engine.dispose()

    results = asyncio.run(run())
    for result in results:
        out.write(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}\n")
        if not result.ok:
            out.write(f"     fix: {result.fix}\n")
    failed = sum(not r.ok for r in results)
    out.write(f"{failed} of {len(results)} checks failed.\n" if failed else "All checks passed.\n")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="receptionist", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (uvicorn on PORT, default 5050)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest version")
    staff_commands.add_arguments(commands)
    twilio_setup.add_arguments(commands)
    commands.add_parser("doctor", help="check the set-up: settings, database, OpenAI, Twilio, ...")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return _doctor(sys.stdout)
    try:
        settings = load_settings()
        check_database_placement(settings, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"receptionist: {exc}\n")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return _serve(settings)
    if args.command in ("staff", "demo-data"):
        return _staff(args, settings)
    if args.command == "twilio":
        return asyncio.run(
            twilio_setup.run_setup(
                settings, sys.stdout, dry_run=args.dry_run, fallback=args.fallback_url
            )
        )
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
