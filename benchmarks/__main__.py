"""`python -m benchmarks`: parse the options, run one scenario, print its report or JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable


def parser() -> argparse.ArgumentParser:
    """The options of `make bench` / `python -m benchmarks` (see docs/performance.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks: relay (latency, CPU, memory), load (200 calls, frames and "
        "rows lost), soak (resource drift over waves of calls), two-machines (greeting, model "
        "sessions and replays per call behind Fly's proxy). See docs/performance.md.",
    )
    parser.add_argument(
        "--scenario",
        choices=("relay", "load", "soak", "two-machines", "metrics"),
        default="relay",
    )
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
    return parser


def main(argv: list[str] | None = None, write: Callable[[str], object] = sys.stdout.write) -> int:
    """Run the scenario of the options and print its report (or JSON); 2 on bad options."""
    args = parser().parse_args(argv)
    if (args.calls is not None and args.calls < 1) or (args.waves is not None and args.waves < 1):
        sys.stderr.write("benchmarks: --calls and --waves must be at least 1\n")
        return 2
    # The benchmarks drive the service with the test doubles, which need the dev dependencies.
    try:
        import openai  # noqa: F401
    except ImportError:
        sys.stderr.write("the benchmarks need the dev dependencies: run make test once\n")
        return 2
    import orjson

    from benchmarks.config import default_config
    from benchmarks.report import format_report
    from benchmarks.run import run

    config = default_config(
        args.scenario,
        calls=args.calls,
        seconds=args.seconds,
        waves=args.waves,
        ramp_seconds=args.ramp,
        preconnect_ttl_seconds=args.preconnect_ttl,
    )
    result = asyncio.run(run(config))
    if args.json:
        write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.scenario == "metrics":
        from benchmarks.metrics_cost import format_metrics_report

        write(format_metrics_report(result))
    elif args.scenario == "two-machines":
        from benchmarks.fleet import format_fleet_report

        write(format_fleet_report(result))
    else:
        write(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
