"""Graceful shutdown: a real SIGTERM to `receptionist serve` during calls."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.doubles.harness import ACCOUNT_SID, AUTH_TOKEN, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.realtime.server import FakeRealtimeServer
from tests.doubles.server import free_port, wait_ready
from tests.doubles.twilio_caller.caller import FakeTwilioCaller

PROFILE = Path(__file__).resolve().parent / "fixtures" / "always_open.toml"


async def test_sigterm_drains_calls_hands_off_new_ones_and_finalises_every_row(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["What are your hours?"],
        replies=[AudioReply("We are open nine to five.", 600)],
    )
    async with FakeRealtimeServer(config) as model:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))} | {
            "PORT": str(port),
            "DATABASE_URL": db_url,
            "DATA_DIR": str(tmp_path / "data"),
            "PUBLIC_BASE_URL": base,
            "OPENAI_API_KEY": "sk-test-not-real",
            "OPENAI_REALTIME_URL": model.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE": "http://127.0.0.1:9",  # unreachable: REST is not under test here
            "HUMAN_TRANSFER_NUMBER": "+15550009999",
            "BUSINESS_PROFILE": str(PROFILE),
            "DRAIN_SECONDS": "3",
            "LOG_FORMAT": "json",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            async with httpx.AsyncClient(base_url=base) as http:
                await wait_ready(http, proc)
                polite = FakeTwilioCaller(base, AUTH_TOKEN)
                lingering = FakeTwilioCaller(base, AUTH_TOKEN)
                await polite.call()
                await lingering.call()
                await polite.wait_until_heard(400)
                await lingering.wait_until_heard(400)

                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert (await http.get("/readyz")).status_code == 503

                # A new call is not accepted into silence: redirected, then handed to a person.
                late = FakeTwilioCaller(base, AUTH_TOKEN)
                first = await late.dial()
                assert first.verbs == ("Redirect",)
                redirect = first.root.find("Redirect") if first.root is not None else None
                assert redirect is not None and redirect.text
                second = await late.post_webhook(redirect.text.removeprefix(base))
                assert "<Dial" in second.text and "+15550009999" in second.text
                await late.aclose()

                # A call in progress carries on: the caller asks, the agent answers.
                await polite.say_and_wait(600)
                await until_quiet(polite)
                await polite.hangup()
                await polite.aclose()
                # The other is still on the line at the drain deadline: a polite wrap-up.
                code = await lingering.wait_closed(timeout=20)
                assert code == 1000
                await lingering.aclose()
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out[-3000:]
    assert "drain_started" in out and "drain_finished" in out
    import asyncpg

    dsn = db_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.call_sid, c.end_reason, c.ended_at, o.outcome FROM calls c "
            "LEFT JOIN call_outcomes o USING (call_sid) WHERE c.call_sid = ANY($1)",
            [polite.call_sid, lingering.call_sid],
        )
        turns = await conn.fetch(
            "SELECT speaker, text FROM transcript_turns WHERE call_sid = $1 ORDER BY seq",
            polite.call_sid,
        )
    finally:
        await conn.close()
    by_sid = {r["call_sid"]: r for r in rows}
    assert by_sid[polite.call_sid]["end_reason"] == "caller_hangup"
    assert by_sid[lingering.call_sid]["end_reason"] == "shutdown"
    assert all(r["ended_at"] is not None and r["outcome"] is not None for r in rows)
    assert [t["text"] for t in turns] == [
        "Hi, how can I help?",
        "What are your hours?",
        "We are open nine to five.",
    ]
