"""What a call costs per minute on each Realtime model, and on the model ladder.

    python -m benchmarks.models [--models gpt-realtime-2.1,gpt-realtime-2.1-mini] [--json]

One scripted call per model, driven through the real service (uvicorn, embedded PostgreSQL) by
the Twilio caller double against the Realtime double: a greeting, a question answered after a
preamble and a tool call, a thank-you and a goodbye. The token counts are the double's
`response.done` usage, counted like the real API's (every response reads the whole conversation
so far: 1 audio token per 100 ms of the caller, 1 per 50 ms of the agent); the cost is the
service's own estimate on the calls row, at each model's list prices (app/realtime/models.py).
The ladder's call is the same call in which the small model hands the question to the big one.
Asserts nothing: the figures go to the README's model table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from app.db.embedded import EmbeddedPostgres
from app.db.engine import upgrade
from app.realtime.models import MODELS
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply, Reply

LADDER = ("gpt-realtime-2.1-mini", "gpt-realtime-2.1")
DEFAULT_MODELS = ("gpt-realtime-2.1", "gpt-realtime-2.1-mini", "gpt-realtime-2", "gpt-realtime-1.5")
GREETING = AudioReply("Thanks for calling Maple Street Dental, how can I help you today?", 3000)
HOURS = AudioReply("We're open on Saturday from nine in the morning until one.", 3000)
BYE = AudioReply("You're welcome. Have a lovely weekend, goodbye!", 2000)
# The double's audio tokens a minute of speech costs (as the real API counts them).
CALLER_TOKENS_PER_MINUTE = 600
AGENT_TOKENS_PER_MINUTE = 1200


def speech_cost_per_minute(model: str) -> tuple[Decimal, Decimal]:
    """USD for one minute of the caller's speech heard and one of the agent's spoken (audio only,
    before the conversation is re-read on every turn)."""
    prices = MODELS[model].prices
    caller = prices.audio_in * CALLER_TOKENS_PER_MINUTE / Decimal(1_000_000)
    agent = prices.audio_out * AGENT_TOKENS_PER_MINUTE / Decimal(1_000_000)
    return caller.quantize(Decimal("0.0001")), agent.quantize(Decimal("0.0001"))


def _replies(ladder: bool) -> list[Reply]:
    if ladder:
        bridge = AudioReply("Let me bring in a colleague for that, one moment.", 2000)
        return [FunctionCallReply("escalate", {"reason": "opening hours"}), bridge, BYE]
    return [FunctionCallReply("lookup_hours", {}, preamble="Let me check."), HOURS, BYE]


async def scripted_call(
    database_url: str, data_dir: Path, model: str, ladder: bool
) -> dict[str, Any]:
    """One scripted call on `model` (the ladder's small model if `ladder`); its figures."""
    config = FakeRealtimeConfig(
        greeting=GREETING,
        caller_transcripts=["Are you open on Saturday?", "Thank you."],
        replies=_replies(ladder),
    )
    settings: dict[str, Any] = {"openai_realtime_model": model}
    if ladder:
        settings["openai_escalation_model"] = LADDER[1]
    async with CallHarness(database_url, data_dir, model_config=config, **settings) as h:
        h.text.mode = "error"  # no summary: its cost would land on the row at a random moment
        async with h.caller() as caller:
            started = time.monotonic()
            await caller.call()
            await caller.wait_until_heard(GREETING.duration_ms())
            h.model.config.greeting = HOURS  # the ladder's big model answers first
            await caller.say_and_wait(1500)
            await until_quiet(caller)
            await caller.say_and_wait(1000)
            await until_quiet(caller)
            call_ms = (time.monotonic() - started) * 1000
            await caller.hangup()
        row = await h.wait_call_ended(caller.call_sid)
    cost = Decimal(row["estimated_cost_usd"])
    return {
        "model": f"{LADDER[0]} -> {LADDER[1]}" if ladder else model,
        "call_seconds": round(call_ms / 1000, 1),
        "input_tokens": row["input_tokens"],
        "input_audio_tokens": row["input_audio_tokens"],
        "output_tokens": row["output_tokens"],
        "output_audio_tokens": row["output_audio_tokens"],
        "cost_usd": str(cost),
        "cost_per_minute_usd": str((cost * 60_000 / Decimal(call_ms)).quantize(Decimal("0.0001"))),
        "moved": row["escalated_model"] is not None,
    }


async def run(models: tuple[str, ...], ladder: bool = True) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="models-bench-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp) / "pg")
        url = await embedded.start()
        try:
            await upgrade(url)
            results = []
            for n, model in enumerate(models):
                results.append(await scripted_call(url, Path(tmp) / f"d{n}", model, False))
            if ladder:
                results.append(await scripted_call(url, Path(tmp) / "ladder", LADDER[0], True))
            return results
        finally:
            await embedded.stop()


def format_report(results: list[dict[str, Any]]) -> str:
    lines = [
        "Cost of one scripted call (greeting, a question answered after a tool call, goodbye)",
        "",
        f"{'model':<46}{'call s':>7}{'in tok':>8}{'out tok':>8}{'cost $':>9}{'$/min':>8}",
    ]
    for r in results:
        lines.append(
            f"{r['model']:<46}{r['call_seconds']:>7}{r['input_tokens']:>8}"
            f"{r['output_tokens']:>8}{r['cost_usd']:>9}{r['cost_per_minute_usd']:>8}"
        )
    lines += ["", "Audio alone, per minute of speech: caller heard / agent spoken (USD)"]
    for name in MODELS:
        caller, agent = speech_cost_per_minute(name)
        lines.append(f"  {name:<24}{caller:>8}{agent:>8}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, write: Callable[[str], object] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.models")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--no-ladder", action="store_true", help="skip the ladder's call")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        sys.stderr.write(f"unknown model {unknown[0]!r}; use {', '.join(MODELS)}\n")
        return 2
    results = asyncio.run(run(models, ladder=not args.no_ladder))
    if args.json:
        write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        write(format_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
