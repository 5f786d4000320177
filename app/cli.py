"""The `receptionist` command: serve, migrate, bench, staff, demo-data."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import ConfigError, Settings, load_settings
from app.logging import configure_logging, get_logger
from app.staff import commands as staff_commands

log = get_logger(__name__)


def _serve(settings: Settings) -> int:
    import uvicorn

    from app.main import create_app
    from app.server import WS_MAX_SIZE, ReceptionistServer

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
        proxy_headers=True,
        forwarded_allow_ips="*",
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


def _bench(args: argparse.Namespace) -> int:
    # The benchmarks drive the service with the test doubles, which need the dev dependencies.
    try:
        import openai  # noqa: F401
    except ImportError:
        sys.stderr.write("receptionist bench needs the dev dependencies: run make test once\n")
        return 2
    from app import bench

    return bench.main(args)


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    # Here, not in app.bench: that module cannot even be imported without the dev dependencies.
    parser.add_argument("--scenario", choices=("relay", "load", "soak"), default="relay")
    parser.add_argument(
        "--calls", type=int, help="concurrent calls (relay 50, load 200); soak: calls per wave (20)"
    )
    parser.add_argument("--seconds", type=float, help="length of each call (relay 20, load 120)")
    parser.add_argument("--waves", type=int, help="soak: number of waves (10)")
    parser.add_argument(
        "--ramp", type=float, help="spread the call starts over this many seconds (N x 0.1, max 10)"
    )
    parser.add_argument(
        "--preconnect-ttl", type=float, help="soak: the server's PRECONNECT_TTL_SECONDS (8)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def _staff(args: argparse.Namespace, settings: Settings) -> int:
    from app.staff.accounts import AccountError

    try:
        if args.command == "demo-data":
            return asyncio.run(staff_commands.run_demo(args, settings, sys.stdout))
        return asyncio.run(staff_commands.run_staff(args, settings, sys.stdin, sys.stdout))
    except AccountError as exc:
        sys.stderr.write(f"receptionist: {exc}\n")
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="receptionist", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (uvicorn on PORT, default 5050)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest version")
    _add_bench_arguments(
        commands.add_parser(
            "bench",
            help="benchmark the relay against a server subprocess (prints numbers)",
            description="Benchmarks: relay (latency, CPU, memory), load (200 calls, frames and "
            "rows lost), soak (resource drift over waves of calls). See docs/performance.md.",
        )
    )
    staff_commands.add_arguments(commands)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)  # its own server process reads the settings, not this one
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"receptionist: {exc}\n")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return _serve(settings)
    if args.command in ("staff", "demo-data"):
        return _staff(args, settings)
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
