"""Two real `receptionist serve` processes share one database: each notification in the outbox
is sent exactly once, whichever process claims it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from app.db.engine import make_engine
from tests.doubles.harness import ACCOUNT_SID, AUTH_TOKEN
from tests.doubles.server import free_port, wait_ready
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.notify.support import (
    BUSINESS,
    OWNER_SMS,
    add_call,
    add_message_rows,
    notification_rows,
    plan,
)

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
ROWS = 30


def _serve(db_url: str, data_dir: Path, port: int, twilio_base: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))} | {
        "PORT": str(port),
        "DATABASE_URL": db_url,
        "DATA_DIR": str(data_dir),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_PHONE_NUMBER": BUSINESS,
        "TWILIO_API_BASE": twilio_base,
        "NOTIFY_SMS_TO": OWNER_SMS,
        "BUSINESS_PROFILE": str(PROFILE),
        "SECRET_KEY": "two-process-test-secret-" + "0" * 32,
        "LOG_FORMAT": "json",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def _ready(port: int, proc: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
        await wait_ready(http, proc)


async def test_two_serve_processes_send_each_notification_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url, pool_size=2)
    procs: list[subprocess.Popen[str]] = []
    try:
        async with FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio:
            await add_call(engine, "CA_two_processes")
            for n in range(ROWS):
                await add_message_rows(engine, "CA_two_processes", plan(email_to=()), event=f"m{n}")
            ports = [free_port(), free_port()]
            procs = [
                _serve(db_url, tmp_path / f"m{i}", port, twilio.base_url)
                for i, port in enumerate(ports)
            ]
            await asyncio.gather(*(_ready(p, proc) for p, proc in zip(ports, procs, strict=True)))
            async with asyncio.timeout(60):
                while len(twilio.messages.sent) < ROWS:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # anything sent twice would arrive now
            bodies = [m.body for m in twilio.messages.sent]
            rows = await notification_rows(engine)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        await engine.dispose()
    assert len(bodies) == ROWS  # one SMS per row, none twice
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * ROWS
    assert len({r["provider_id"] for r in rows}) == ROWS
