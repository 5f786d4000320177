"""Two real `receptionist serve` processes share one database: each notification in the outbox
is sent exactly once, whichever process claims it, even when the database stops mid-send."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine
from app.db.faults import is_unavailable
from tests.doubles.harness import ACCOUNT_SID, AUTH_TOKEN
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.server import free_port, wait_ready
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.notify.smtp import Received, SmtpServer
from tests.notify.support import (
    BUSINESS,
    OWNER_EMAIL,
    OWNER_SMS,
    StopOnce,
    add_call,
    add_message_rows,
    notification_rows,
    plan,
)
from tests.notify.test_summary import add_turns

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
ROWS = 30


def _serve(
    db_url: str, data_dir: Path, port: int, twilio_base: str, **more: str
) -> subprocess.Popen[str]:
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))}
        | {
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
        | {k.upper(): v for k, v in more.items()}
    )
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


CALLS = 8
OUTAGE_SECONDS = 6.0
SETTLED = text(
    "SELECT (SELECT count(*) FROM notifications WHERE status = 'sent'), "
    "(SELECT count(*) FROM calls WHERE summary_status = 'done')"
)


async def _settled(engine: AsyncEngine) -> tuple[int, int]:
    try:
        async with engine.connect() as conn:
            sent, summarised = (await conn.execute(SETTLED)).one()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return 0, 0
    return int(sent), int(summarised)


async def test_the_database_stopping_as_the_first_message_is_accepted_sends_each_one_once(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path
) -> None:
    """8 calls, each a message to the owner by SMS and email and a summary; Postgres stops for 6 s
    the moment the provider accepts the first message, with two processes at work."""
    pg, db_url = own_postgres
    engine = make_engine(db_url, pool_size=2)
    procs: list[subprocess.Popen[str]] = []
    smtp = SmtpServer()
    stop = StopOnce(pg)
    loop = asyncio.get_running_loop()

    async def stop_from_smtp_thread(_: Received) -> None:  # aiosmtpd runs its own loop
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(stop(), loop))

    smtp.handler.on_accepted = stop_from_smtp_thread
    smtp.start()
    try:
        async with (
            FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio,
            FakeOpenAIText() as openai,
        ):
            twilio.messages.on_accepted = stop
            for n in range(CALLS):
                sid = f"CA_blink_{n}"
                await add_call(engine, sid)
                await add_turns(engine, sid, "Please ask the dentist to call me back.")
                await add_message_rows(engine, sid, plan(), event=f"m{n}")
            ports = [free_port(), free_port()]
            more = {
                "openai_api_key": openai.api_key,
                "openai_api_base": openai.base_url,
                "smtp_url": smtp.url,
                "notify_from_email": "rx@example.com",
                "notify_email_to": OWNER_EMAIL,
            }
            procs = [
                _serve(db_url, tmp_path / f"m{i}", port, twilio.base_url, **more)
                for i, port in enumerate(ports)
            ]
            async with asyncio.timeout(60):  # they start sending as soon as they are up
                while not stop.stopped.is_set():
                    assert all(proc.poll() is None for proc in procs), "serve exited early"
                    await asyncio.sleep(0.1)
            await stop.down.wait()
            await asyncio.sleep(OUTAGE_SECONDS)
            await pg.start()
            back = time.monotonic()
            async with asyncio.timeout(30):
                while await _settled(engine) != (2 * CALLS, CALLS):
                    await asyncio.sleep(0.1)
            settled_in = time.monotonic() - back
            await asyncio.sleep(2)  # anything sent twice would arrive now
            sms = [m.body for m in twilio.messages.sent]
            rows = await notification_rows(engine)
            summaries = len(openai.requests)
            exits = [proc.poll() for proc in procs]
    finally:
        smtp.stop()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        await engine.dispose()
    print(f"every row sent and every call summarised {settled_in:.1f} s after the restart")
    assert settled_in <= 10.0
    assert len(sms) == CALLS and len(set(sms)) == CALLS
    assert len(smtp.received) == CALLS
    assert len({r.message["Message-ID"] for r in smtp.received}) == CALLS
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * (2 * CALLS)
    assert summaries == CALLS  # each summary paid once
    assert exits == [None, None]  # both processes lived through the outage
