"""Two real `receptionist serve` processes on one database write each booking's event to a real
CalDAV server exactly once, through a database restart in the middle of the writing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine
from tests.calendar.radicale import PASSWORD, USER, Radicale
from tests.calendar.test_writer import add_booking
from tests.doubles.server import free_port, wait_ready

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
SECRET = "calendar-two-process-secret-" + "0" * 32
NY = ZoneInfo("America/New_York")
BOOKINGS = 60


def _serve(db_url: str, data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))} | {
        "PORT": str(port),
        "DATABASE_URL": db_url,
        "DATA_DIR": str(data_dir),
        "BUSINESS_PROFILE": str(PROFILE),
        "SECRET_KEY": SECRET,
        "CALENDAR": "caldav",
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


async def test_two_processes_write_every_event_once_through_a_database_restart(
    own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path, radicale: Radicale
) -> None:
    pg, url = own_postgres
    calendar_url = radicale.new_calendar()
    engine = make_engine(url, pool_size=2)
    links = LinkStore(engine, Sealer(SECRET.encode()))
    await links.link(
        "caldav", {"calendar_url": calendar_url, "username": USER}, {"password": PASSWORD}
    )
    first = datetime(2027, 2, 1, 8, 0, tzinfo=NY)
    for n in range(BOOKINGS):
        await add_booking(engine, first + timedelta(hours=n))
    await engine.dispose()  # its connections would not survive the restart anyway
    ports = [free_port(), free_port()]
    procs = [_serve(url, tmp_path / f"m{i}", port) for i, port in enumerate(ports)]
    try:
        for port, proc in zip(ports, procs, strict=True):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                await wait_ready(http, proc)
        async with asyncio.timeout(30):
            while not radicale.events(calendar_url):
                await asyncio.sleep(0.02)
        written_before = len(radicale.events(calendar_url))
        await pg.stop()  # the database goes away in the middle of the writing
        await asyncio.sleep(4)
        await pg.start()
        engine = make_engine(url, pool_size=2)
        async with asyncio.timeout(60):
            while True:
                async with engine.connect() as conn:
                    pending = await conn.scalar(
                        text("SELECT count(*) FROM calendar_events WHERE status <> 'done'")
                    )
                if pending == 0:
                    break
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # a duplicate write would land now
        async with engine.connect() as conn:
            done = await conn.scalar(
                text("SELECT count(*) FROM calendar_events WHERE status = 'done'")
            )
        await engine.dispose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    events = radicale.events(calendar_url)
    uids = [str(e["UID"]) for e in events]
    assert written_before < BOOKINGS  # the restart came in the middle
    assert done == BOOKINGS
    assert len(uids) == BOOKINGS == len(set(uids))
    starts = sorted(e.decoded("DTSTART") for e in events)
    assert starts == [first + timedelta(hours=n) for n in range(BOOKINGS)]
