"""A real CalDAV server for the tests: Radicale, started on a free port of 127.0.0.1.

One server per test session (it starts in about half a second); each test gets a calendar of
its own (MKCALENDAR through the `caldav` library), so tests never see each other's events.
The server can be stopped and started again on the same port and storage, to cause outages.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from caldav.collection import Calendar
from caldav.davclient import DAVClient

from tests.doubles.server import free_port

USER = "owner"
PASSWORD = "app-password-1"


@dataclass
class Radicale:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        users = self.root / "users"
        users.write_text(f"{USER}:{PASSWORD}\n")
        with (self.root / "radicale.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "radicale",
                    "--server-hosts", f"127.0.0.1:{self.port}",
                    "--storage-filesystem-folder", str(self.root / "collections"),
                    "--auth-type", "htpasswd",
                    "--auth-htpasswd-filename", str(users),
                    "--auth-htpasswd-encryption", "plain",
                    "--auth-delay", "0",  # its default 1 s pause after a wrong password
                    "--logging-level", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url, timeout=0.5)
                return
            time.sleep(0.05)
        raise RuntimeError("Radicale did not start; see radicale.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> DAVClient:
        return DAVClient(url=self.url, username=USER, password=PASSWORD, timeout=5)

    def new_calendar(self) -> str:
        """A fresh calendar collection; its URL."""
        name = f"cal-{uuid.uuid4().hex[:10]}"
        with self.client() as client:
            made = client.principal().make_calendar(name=name, cal_id=name)  # MKCALENDAR
            return str(made.url)

    def add(self, calendar_url: str, ics: str) -> None:
        """Add an event as a person's own calendar app would."""
        with self.client() as client:
            Calendar(client=client, url=calendar_url).add_event(ics)

    def events(self, calendar_url: str) -> list[Any]:
        """Every VEVENT stored in the calendar, as icalendar components."""
        with self.client() as client:
            found = Calendar(client=client, url=calendar_url).events()
            return [c for e in found for c in e.icalendar_instance.walk("VEVENT")]


# America/New_York as Apple's Calendar writes it (RRULEs, not a list of dates).
APPLE_NEW_YORK = """BEGIN:VTIMEZONE\r
TZID:America/New_York\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:-0500\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r
DTSTART:20070311T020000\r
TZNAME:EDT\r
TZOFFSETTO:-0400\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:-0400\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r
DTSTART:20071104T020000\r
TZNAME:EST\r
TZOFFSETTO:-0500\r
END:STANDARD\r
END:VTIMEZONE\r
"""


def busy_event(uid: str, start: datetime, end: datetime, summary: str = "Busy") -> str:
    """An event in New York time, as a person's calendar app (Apple's) writes one."""
    import icalendar

    assert getattr(start.tzinfo, "key", None) == "America/New_York"
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(start.tzinfo))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Apple Inc.//macOS 15.0//EN")
    cal.add("version", "2.0")
    cal.add_component(icalendar.Timezone.from_ical(APPLE_NEW_YORK))
    cal.add_component(event)
    return str(cal.to_ical().decode())


@contextlib.contextmanager
def running_radicale(root: Path) -> Iterator[Radicale]:
    server = Radicale(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
